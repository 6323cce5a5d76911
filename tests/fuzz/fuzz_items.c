/* fuzz_items - libFuzzer target for the items of POST /v1/items and
 * /v1/score (core/body.c: body_items_parse, body_item_validate).
 *
 * The first byte chooses the format (bit 0: NDJSON, else JSON) and the
 * item cap (1 to 64 from the other bits); the rest is the request body.
 * Every call checks what body.h promises and aborts on a breach: a refusal
 * has a status, code and message and leaves nothing behind; an accepted
 * body holds 1 to cap values; a validated item has its texts, fields within
 * their caps, valid UTF-8, and metadata that parses back to an object; a
 * refused item names itself and a valid field of at most 64 bytes; the error reply the
 * server would build from any refusal is valid JSON. See tests/fuzz/README.md
 * for building and running it.
 */
#include "body.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t min, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    if (n < min || n > max || !util_utf8_valid(s, n))
        abort();
}

/* Builds the reply the server would send for err; aborts if it cannot. */
static void check_error(const struct body_error *err, long long index)
{
    if (!err->code || !*err->code || !err->message[0] || err->index != index)
        abort();
    if (err->status != 400 && err->status != 422 && err->status != 503)
        abort();
    char msg[sizeof err->message];
    util_strlcpy(msg, err->message, sizeof msg);
    util_utf8_sanitize(msg, strlen(msg));
    json_t *o = json_pack("{s:s,s:s,s:s}", "code", err->code, "message", msg, "field", err->field);
    if (!o)
        abort();
    json_decref(o);
}

static void check_item(json_t *obj, size_t i)
{
    struct store_item_in it;
    struct body_error err;
    char *meta = NULL;
    if (body_item_validate(obj, i, &it, &meta, &err)) {
        check_error(&err, (long long)i);
        /* The field may be "": an unknown key can be the empty string. */
        if (err.status != 422 || strcmp(err.code, "invalid_item"))
            abort();
        check_text(err.field, 0, 64);
        free(meta);
        return;
    }
    if (!it.prompt || !it.response_a)
        abort();
    check_text(it.prompt, 0, SIZE_MAX);
    check_text(it.response_a, 0, SIZE_MAX);
    check_text(it.response_b, 0, SIZE_MAX);
    check_text(it.external_id, 1, BODY_EXTERNAL_ID_MAX);
    check_text(it.domain, 1, STORE_LABEL_MAX);
    check_text(it.batch, 1, STORE_LABEL_MAX);
    if (it.priority < -1000000000 || it.priority > 1000000000)
        abort();
    if (it.metadata) {
        json_t *back = json_loads(it.metadata, JSON_REJECT_DUPLICATES, NULL);
        if (it.metadata != meta || !json_is_object(back))
            abort();
        json_decref(back);
    }
    free(meta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum body_format fmt = data[0] & 1 ? BODY_NDJSON : BODY_JSON;
    size_t cap = (size_t)(data[0] >> 1) % 64 + 1;
    struct body_items b;
    struct body_error err;
    int rc = body_items_parse((const char *)data + 1, size - 1, fmt, cap, &b, &err);
    if (rc) {
        if ((rc != -EINVAL && rc != -ENOMEM) || b.root || b.objs || b.n)
            abort();
        check_error(&err, -1);
        return 0;
    }
    if (b.n < 1 || b.n > cap || !b.objs || (b.bare && (fmt != BODY_JSON || b.n != 1)))
        abort();
    for (size_t i = 0; i < b.n; i++) {
        if (!b.objs[i])
            abort();
        check_item(b.objs[i], i);
    }
    body_items_clear(&b);
    if (b.root || b.objs || b.n)
        abort();
    return 0;
}
