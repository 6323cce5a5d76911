/* fuzz_tokenize - libFuzzer target for the built-in layer's tokenizer and
 * features (core/feat.c: feat_tokenize, feat_extract).
 *
 * The first byte splits the rest into a prompt and a response (at byte
 * data[0] * len / 256). Every call checks what feat.h promises and aborts
 * on a breach: tokens are in text order, do not overlap, lie inside the
 * text, have a known kind, and hash their bytes the same way twice; a
 * number token is all digits; the feature vector has strictly increasing
 * indices below 2^bits, no zero value and no NaN, and comes out the same on
 * a second run. See tests/fuzz/README.md for building and running it.
 */
#include "feat.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_BITS 12u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tokens(const char *text, size_t len)
{
    struct feat_token *t = NULL, *u = NULL;
    size_t n = 0, m = 0;
    if (feat_tokenize(text, len, &t, &n) || feat_tokenize(text, len, &u, &m) || n != m)
        abort();
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].start < end || t[i].len == 0 || t[i].start + t[i].len > len)
            abort();
        if (t[i].kind != FEAT_TOK_WORD && t[i].kind != FEAT_TOK_NUMBER &&
            t[i].kind != FEAT_TOK_PUNCT)
            abort();
        if (t[i].kind == FEAT_TOK_PUNCT && t[i].len != 1)
            abort();
        for (size_t k = 0; t[i].kind == FEAT_TOK_NUMBER && k < t[i].len; k++)
            if (text[t[i].start + k] < '0' || text[t[i].start + k] > '9')
                abort();
        if (t[i].hash != u[i].hash || t[i].start != u[i].start || t[i].len != u[i].len ||
            t[i].kind != u[i].kind)
            abort();
        end = t[i].start + t[i].len;
    }
    free(t);
    free(u);
}

static void check_features(const char *p, size_t plen, const char *r, size_t rlen)
{
    struct feat_vec v, w;
    feat_vec_init(&v);
    feat_vec_init(&w);
    if (feat_extract(FUZZ_BITS, p, plen, r, rlen, &v) ||
        feat_extract(FUZZ_BITS, p, plen, r, rlen, &w) || v.n != w.n)
        abort();
    for (size_t i = 0; i < v.n; i++) {
        if (v.idx[i] >= 1u << FUZZ_BITS || (i && v.idx[i] <= v.idx[i - 1]))
            abort();
        if (v.val[i] == 0 || isnan(v.val[i]) || v.idx[i] != w.idx[i] ||
            memcmp(&v.val[i], &w.val[i], sizeof v.val[i]))
            abort();
    }
    feat_vec_clear(&v);
    feat_vec_clear(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1, cut = (size_t)data[0] * len / 256;
    check_tokens(text, len);
    check_features(text, cut, text + cut, len - cut);
    return 0;
}
