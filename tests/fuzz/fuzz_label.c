/* fuzz_label - libFuzzer target for the body of POST /v1/tasks/{id}/label
 * (core/body.c: body_label_parse), read as the server reads it (jansson,
 * duplicate keys refused).
 *
 * The input is the request body. Every call checks what body.h promises
 * and aborts on a breach: an accepted label has one of the eight answers,
 * a confidence of 0 (absent) or 1 to 5, a rationale of NULL or 1 to 4096
 * bytes of valid UTF-8, seconds of -1 (absent) or 0 to LABEL_SECONDS_MAX;
 * a refused one is a 422 invalid_label whose reply JSON can carry. See
 * tests/fuzz/README.md for building and running it.
 */
#include "body.h"
#include "limits.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct store_label *l)
{
    static const char *const answers[] = {"a", "b", "tie", "good", "bad", "yes", "no", "unsure"};
    bool known = false;
    for (size_t i = 0; i < sizeof answers / sizeof answers[0] && l->answer; i++)
        known = known || !strcmp(l->answer, answers[i]);
    if (!known || l->confidence < 0 || l->confidence > 5)
        abort();
    if (l->seconds != -1 && !(l->seconds >= 0 && l->seconds <= LABEL_SECONDS_MAX))
        abort();
    if (l->rationale) {
        size_t n = strlen(l->rationale);
        if (n < 1 || n > BODY_RATIONALE_MAX || !util_utf8_valid(l->rationale, n))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body)
        return 0;
    struct store_label l = {.task_id = 1, .rater_id = 1, .seconds = -1};
    struct body_error err;
    if (body_label_parse(body, &l, &err) == 0) {
        check_accepted(&l);
    } else {
        if (err.status != 422 || strcmp(err.code, "invalid_label") || err.index != -1)
            abort();
        util_utf8_sanitize(err.message, strlen(err.message));
        json_t *e = json_pack("{s:s,s:s}", "code", err.code, "message", err.message);
        if (!e)
            abort();
        json_decref(e);
    }
    json_decref(body);
    return 0;
}
