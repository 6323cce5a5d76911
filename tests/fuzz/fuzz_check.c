/* fuzz_check - libFuzzer target for the checkers (core/check*.c:
 * check_run_all and the answer, agreement, arithmetic, numbers and form
 * checkers under it, check_eval, check_arith_scan).
 *
 * The first byte splits the rest into a prompt and a response (at byte
 * data[0] * len / 256); bytes 0xff in the response separate samples of one
 * group: the first is checked, the others' answers are its group. Every
 * call checks what check.h promises and aborts on a breach: findings lie in
 * the response and their sentences are short ASCII-safe text, features are
 * finite with shares in [0, 1], flags 0 or 1 and counts whole and >= 0; an
 * answer lies in the response and equals itself when present, and equality
 * is symmetric; check_eval answers 0 with a finite value or one of its
 * errors; equations lie in the text with their '=' inside. See
 * tests/fuzz/README.md for building and running it.
 */
#include "check.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SAMPLES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_share(enum check_feat f)
{
    return f == CHECK_AGREE_SHARE || f == CHECK_AGREE_TOP_SHARE || f == CHECK_NUMBERS_USED_SHARE ||
           f == CHECK_FORM_REPETITION;
}

static bool is_flag(enum check_feat f)
{
    return f == CHECK_ANSWER_FOUND || f == CHECK_ANSWER_FALLBACK || f == CHECK_ANSWER_NUMERIC ||
           f == CHECK_AGREE_IN_TOP || f == CHECK_FORM_TRUNCATED || f == CHECK_FORM_UNBALANCED;
}

static void check_result(const struct check_result *r, size_t len)
{
    for (int f = 0; f < CHECK_NFEAT; f++) {
        double v = r->v[f];
        if (!isfinite(v) || v < 0)
            abort();
        if (is_share((enum check_feat)f) && v > 1)
            abort();
        if (is_flag((enum check_feat)f) && v != 0 && v != 1)
            abort();
        if (!is_share((enum check_feat)f) && v != floor(v))
            abort();
    }
    if (r->nf > CHECK_FINDINGS_MAX)
        abort();
    for (size_t i = 0; i < r->nf; i++) {
        const struct check_finding *x = &r->f[i];
        size_t n = strnlen(x->text, CHECK_TEXT_MAX);
        if (!x->checker || !x->code || x->start > len || x->len > len - x->start ||
            n == CHECK_TEXT_MAX || !util_utf8_valid(x->text, n))
            abort();
    }
}

static void check_answer_of(const struct check_answer *a, size_t len)
{
    if (strnlen(a->canon, CHECK_CANON_MAX) == CHECK_CANON_MAX)
        abort();
    if (a->kind == CHECK_ANS_NONE)
        return;
    if (a->start > len || a->len > len - a->start || !check_answer_equal(a, a))
        abort();
    if (a->numeric && !isfinite(a->value))
        abort();
}

static int on_equation(void *cls, const struct check_equation *e)
{
    size_t len = *(const size_t *)cls;
    if (e->start > len || e->len > len - e->start || e->eq_off < e->start ||
        e->eq_off >= e->start + e->len)
        abort();
    return 0;
}

static void check_eval_prefix(const char *s, size_t len)
{
    double out = 0;
    int ops = -1;
    int rc = check_eval(s, len < CHECK_EXPR_MAX + 8 ? len : CHECK_EXPR_MAX + 8, &out, &ops);
    if (rc == 0 && (!isfinite(out) || ops < 0))
        abort();
    if (rc && rc != -EINVAL && rc != -E2BIG && rc != -EDOM)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct check_result r;
    struct check_answer others[FUZZ_SAMPLES], self;
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1, cut = (size_t)data[0] * len / 256;
    const char *resp = text + cut, *end = text + len;
    const char *sep = memchr(resp, 0xff, (size_t)(end - resp));
    size_t rlen = sep ? (size_t)(sep - resp) : (size_t)(end - resp), n = 0;
    while (sep && n < FUZZ_SAMPLES) {
        const char *s = sep + 1;
        sep = memchr(s, 0xff, (size_t)(end - s));
        size_t slen = sep ? (size_t)(sep - s) : (size_t)(end - s);
        if (check_answer(s, slen, &others[n], NULL))
            abort();
        check_answer_of(&others[n], slen);
        n++;
    }
    struct check_input in = {.prompt = text,
                             .prompt_len = cut,
                             .resp = resp,
                             .resp_len = rlen,
                             .others = others,
                             .n_others = n,
                             .max_samples = data[0] % 5};
    if (check_run_all(&in, &r, &self))
        abort();
    check_result(&r, rlen);
    check_answer_of(&self, rlen);
    for (size_t i = 0; i < n; i++)
        if (check_answer_equal(&self, &others[i]) != check_answer_equal(&others[i], &self))
            abort();
    if (check_arith_scan(resp, rlen, on_equation, &rlen))
        abort();
    check_eval_prefix(resp, rlen);
    return 0;
}
