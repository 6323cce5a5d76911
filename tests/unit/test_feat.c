/* test_features.c - tokenizer and hashed features. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "feat.h"

/* Asserts the feat_vec invariants: sorted unique indices < 2^bits, finite nonzero values. */
static void assert_vec_ok(const struct feat_vec *v, unsigned bits)
{
    for (size_t i = 0; i < v->n; i++) {
        assert_true(v->idx[i] < (1u << bits));
        assert_true(isfinite(v->val[i]));
        assert_true(v->val[i] != 0.0f);
        if (i)
            assert_true(v->idx[i - 1] < v->idx[i]);
    }
    assert_true(v->n <= v->cap);
}

static void tokenize(const char *s, size_t len, struct feat_token **t, size_t *n)
{
    assert_int_equal(feat_tokenize(s, len, t, n), 0);
}

static void test_fnv_known(void **state)
{
    (void)state;
    /* Published FNV-1a 64 test vectors. */
    assert_true(feat_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(feat_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(feat_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
}

/* feat_fx64 as its definition in feat.h reads, computed apart (Python). */
static void test_fx_known(void **state)
{
    (void)state;
    assert_true(feat_fx64("", 0) == 0);
    assert_true(feat_fx64("a", 1) == 0xe0456665d3e60275ULL);
    assert_true(feat_fx64("hello", 5) == 0x48a56a46a6dd1588ULL);
    assert_true(feat_fx64("abcdefgh", 8) == 0xe2237c7627920c75ULL);
    assert_true(feat_fx64("abcdefghi", 9) == 0x5549a2d1fb0673f9ULL);
    assert_true(feat_fx64("0123456789abcdefXYZ", 19) == 0x96bd27de8b48952dULL);
}

/* feat_fx64_wide as its definition in feat.h reads, computed apart
 * (Python): no lane, tail or length left out. */
static void test_fx_wide_known(void **state)
{
    (void)state;
    unsigned char b[77];
    for (size_t k = 0; k < sizeof b; k++)
        b[k] = (unsigned char)(32 + k);
    assert_true(feat_fx64_wide("", 0) == 0x5cd260b791985f1bULL);
    assert_true(feat_fx64_wide("a", 1) == 0xb46ab2d4eb1306ebULL);
    assert_true(feat_fx64_wide("hello", 5) == 0x4dbbc2ff6d030cbcULL);
    assert_true(feat_fx64_wide("abcdefgh", 8) == 0xa125532f05bfbdbfULL);
    assert_true(feat_fx64_wide("0123456789abcdefXYZ", 19) == 0x294b33b8b1316f8eULL);
    assert_true(feat_fx64_wide(b, sizeof b) == 0xb7180234a0c7a008ULL);
}

/* Every bit of the input, at every place of the lanes, blocks and tail,
 * moves the hash, and so does a trailing NUL (the tail's padding). */
static void test_fx_wide_every_bit(void **state)
{
    (void)state;
    unsigned char b[75];
    for (size_t k = 0; k < sizeof b; k++)
        b[k] = (unsigned char)(k * 37 + 11);
    for (size_t len = 0; len < sizeof b; len++) {
        uint64_t h = feat_fx64_wide(b, len);
        assert_true(h != feat_fx64_wide(b, len + 1));
        for (size_t k = 0; k < len * 8; k++) {
            b[k / 8] ^= (unsigned char)(1u << (k % 8));
            assert_true(feat_fx64_wide(b, len) != h);
            b[k / 8] ^= (unsigned char)(1u << (k % 8));
        }
    }
    unsigned char z[9] = {'a', 'b'};
    assert_true(feat_fx64_wide(z, 2) != feat_fx64_wide(z, 3));
    assert_true(feat_fx64_wide(z, 8) != feat_fx64_wide(z, 9));
}

static void test_ascii_tokens(void **state)
{
    (void)state;
    struct feat_token *t;
    size_t n;
    const char *s = "Hello, WORLD! 42 x1 don't";
    tokenize(s, strlen(s), &t, &n);
    assert_int_equal(n, 7);
    assert_true(t[0].hash == feat_fnv1a64("hello", 5));
    assert_int_equal(t[0].kind, FEAT_TOK_WORD);
    assert_int_equal(t[0].start, 0);
    assert_int_equal(t[0].len, 5);
    assert_int_equal(t[1].kind, FEAT_TOK_PUNCT);
    assert_true(t[1].hash == feat_fnv1a64(",", 1));
    assert_true(t[2].hash == feat_fnv1a64("world", 5));
    assert_int_equal(t[3].kind, FEAT_TOK_PUNCT);
    assert_int_equal(t[4].kind, FEAT_TOK_NUMBER);
    assert_true(t[4].hash == feat_fnv1a64("42", 2));
    assert_int_equal(t[5].kind, FEAT_TOK_WORD); /* digits and letters */
    assert_true(t[6].hash == feat_fnv1a64("don't", 5));
    free(t);
}

static void test_multibyte(void **state)
{
    (void)state;
    struct feat_token *t;
    size_t n;
    const char *s = "Caf\xc3\xa9 \xe6\x95\xb0\xe5\xad\xa6 \xf0\x9f\x98\x80x";
    tokenize(s, strlen(s), &t, &n);
    assert_int_equal(n, 3);
    assert_true(t[0].hash == feat_fnv1a64("caf\xc3\xa9", 5));
    assert_int_equal(t[0].len, 5);
    assert_true(t[1].hash == feat_fnv1a64("\xe6\x95\xb0\xe5\xad\xa6", 6));
    assert_int_equal(t[2].len, 5); /* the emoji stays whole and glued to x */
    free(t);

    /* U+2019 reads as an ASCII apostrophe. */
    const char *q = "don\xe2\x80\x99t";
    tokenize(q, strlen(q), &t, &n);
    assert_int_equal(n, 1);
    assert_true(t[0].hash == feat_fnv1a64("don't", 5));
    free(t);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    struct feat_token *t;
    size_t n;
    /* stray continuation, invalid lead, overlong, surrogate: all separators */
    const char s[] = "ab\x80"
                     "cd\xff"
                     "ef\xc0\xaf"
                     "gh\xed\xa0\x80"
                     "ij";
    tokenize(s, sizeof(s) - 1, &t, &n);
    assert_int_equal(n, 5);
    const char *want[] = {"ab", "cd", "ef", "gh", "ij"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(t[i].hash == feat_fnv1a64(want[i], 2));
        assert_int_equal(t[i].len, 2);
    }
    free(t);

    /* Truncated sequences at the very end must not be read past. */
    const char *ends[] = {"ab\xe6", "ab\xe6\x95", "ab\xf0\x9f\x98", "ab\xc3"};
    for (size_t k = 0; k < 4; k++) {
        size_t len = strlen(ends[k]);
        char *exact = malloc(len); /* no NUL after it: ASan catches overreads */
        assert_non_null(exact);
        memcpy(exact, ends[k], len);
        tokenize(exact, len, &t, &n);
        assert_int_equal(n, 1);
        assert_int_equal(t[0].len, 2);
        free(t);
        struct feat_vec v;
        feat_vec_init(&v);
        assert_int_equal(feat_extract(12, exact, len, exact, len, &v), 0);
        assert_vec_ok(&v, 12);
        feat_vec_clear(&v);
        free(exact);
    }
}

static void test_empty(void **state)
{
    (void)state;
    struct feat_token *t = (void *)1;
    size_t n = 99;
    tokenize("", 0, &t, &n);
    assert_null(t);
    assert_int_equal(n, 0);
    tokenize(NULL, 0, &t, &n);
    assert_int_equal(n, 0);
    t = (void *)1;
    n = 99;
    assert_int_equal(feat_tokenize_hash(FEAT_HASH_FX, " \n\x01", 3, &t, &n), 0);
    assert_null(t);
    assert_int_equal(n, 0);

    struct feat_vec v;
    feat_vec_init(&v);
    assert_int_equal(feat_extract(16, NULL, 0, NULL, 0, &v), 0);
    assert_vec_ok(&v, 16);
    assert_true(v.n >= 1); /* the "empty response" feature */
    assert_int_equal(feat_extract(16, "   \n\t", 5, "", 0, &v), 0);
    assert_vec_ok(&v, 16);
    feat_vec_clear(&v);
    feat_vec_clear(&v); /* twice is fine */
    feat_vec_clear(NULL);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct feat_vec v;
    feat_vec_init(&v);
    assert_int_equal(feat_extract(3, "a", 1, "b", 1, &v), -EINVAL);
    assert_int_equal(feat_extract(29, "a", 1, "b", 1, &v), -EINVAL);
    assert_int_equal(feat_extract(16, NULL, 3, "b", 1, &v), -EINVAL);
    assert_int_equal(v.n, 0);
    feat_vec_clear(&v);
}

static void test_one_megabyte_no_spaces(void **state)
{
    (void)state;
    size_t len = 1u << 20;
    char *s = malloc(len);
    assert_non_null(s);
    memset(s, 'a', len);
    struct feat_token *t;
    size_t n;
    tokenize(s, len, &t, &n);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].len, len);
    free(t);
    struct feat_vec v;
    feat_vec_init(&v);
    assert_int_equal(feat_extract(18, s, len, s, len, &v), 0);
    assert_vec_ok(&v, 18);
    /* Norms stay bounded whatever the length. */
    for (size_t i = 0; i < v.n; i++)
        assert_true(fabsf(v.val[i]) <= 4.0f);
    /* Multi-byte run of the same size, cut mid-sequence at the end. */
    for (size_t i = 0; i + 3 <= len; i += 3)
        memcpy(s + i, "\xe6\x95\xb0", 3);
    assert_int_equal(feat_extract(18, "q", 1, s, len, &v), 0);
    assert_vec_ok(&v, 18);
    feat_vec_clear(&v);
    free(s);
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    struct feat_vec v;
    feat_vec_init(&v);
    for (int round = 0; round < 500; round++) {
        unsigned char buf[300];
        size_t len = (size_t)(round % 300);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        unsigned char *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, buf, len);
        unsigned bits = 4 + (unsigned)(round % 20);
        assert_int_equal(feat_extract(bits, (char *)exact, len / 2, (char *)exact, len, &v), 0);
        assert_vec_ok(&v, bits);
        free(exact);
    }
    feat_vec_clear(&v);
}

/* Pinned once from this implementation: a change here changes every trained
 * layer, so it must be deliberate (bump REWARD_BLOB_VERSION). */
static void test_stability(void **state)
{
    (void)state;
    static const uint32_t want_idx[] = {13331,  17073,  28847,  29031,  29068,  31217,  32110,
                                        46458,  60117,  67330,  68822,  78816,  96445,  102874,
                                        104373, 108277, 116582, 126167, 133526, 138294, 140751,
                                        142075, 172408, 174281, 187522, 192685, 247765, 254107};
    static const float want_val[] = {
        0.3015113f,  0.3535534f,  0.4251497f,   0.4285714f,  0.03577521f, -0.6030227f, -0.5773503f,
        0.3015113f,  -0.3535534f, -0.06896552f, -0.3015113f, -0.5773503f, 0.3535534f,  1.0f,
        -0.2746531f, 0.6f,        0.3015113f,   0.5773503f,  0.3535534f,  -0.3535534f, 0.3535534f,
        0.06896552f, 0.3015113f,  0.3535534f,   0.3535534f,  -0.3015113f, -0.3015113f, -0.3837642f};
    const char *p = "How many apples are left?", *r = "There are 5 apples left.\nA: 5";
    struct feat_vec a, b;
    feat_vec_init(&a);
    feat_vec_init(&b);
    assert_int_equal(feat_extract(18, p, strlen(p), r, strlen(r), &a), 0);
    assert_int_equal(feat_extract(18, p, strlen(p), r, strlen(r), &b), 0);
    assert_vec_ok(&a, 18);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.idx, b.idx, a.n * sizeof(*a.idx));
    assert_memory_equal(a.val, b.val, a.n * sizeof(*a.val));
    assert_int_equal(a.n, sizeof(want_idx) / sizeof(want_idx[0]));
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.idx[i], want_idx[i]);
        assert_float_equal(a.val[i], want_val[i], 1e-5);
    }
    feat_vec_clear(&a);
    feat_vec_clear(&b);
}

/* A token's normalised bytes, as feat.h defines them: ASCII lowercased,
 * U+2018/U+2019 read as an apostrophe, other bytes as they are. Returns the
 * length written to out (room for len bytes). */
static size_t normalise(const unsigned char *s, size_t len, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0x98) {
            out[n++] = '\'';
            i += 2;
        } else {
            out[n++] = s[i] >= 'A' && s[i] <= 'Z' ? (unsigned char)(s[i] + 32) : s[i];
        }
    }
    return n;
}

/* Pieces random texts are made of: words in both cases, digits, apostrophes
 * (ASCII and U+2019), punctuation, blanks, valid multi-byte characters and
 * invalid or truncated UTF-8. */
static const char *const PIECES[] = {
    "a",
    "Word",
    "LONGERWORDSTHANEIGHT",
    "42",
    "1234567890123",
    "'",
    "\xe2\x80\x99",
    "\xe2\x80\x98",
    " ",
    "\n",
    "\t",
    ".",
    ",",
    "?",
    "\x7f",
    "\x01",
    "\xc3\xa9",
    "\xe6\x95\xb0",
    "\xf0\x9f\x98\x80",
    "\x80",
    "\xff",
    "\xc0\xaf",
    "\xed\xa0\x80",
    "\xe6\x95",
};

/* Fills buf (cap bytes) with random pieces; returns the length. */
static size_t random_text(uint64_t *x, unsigned char *buf, size_t cap)
{
    size_t n = 0, np = sizeof(PIECES) / sizeof(PIECES[0]);
    for (;;) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        const char *p = PIECES[*x % np];
        size_t l = strlen(p);
        if (n + l > cap)
            return n;
        memcpy(buf + n, p, l);
        n += l;
    }
}

/* The FEAT_HASH_FX tokenizer finds the very tokens of the FNV-1a one, each
 * hashed as feat_fx64 of its normalised bytes; texts end exactly at their
 * malloc'd size, so ASan sees any read past them. */
static void test_fx_tokens_match(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    unsigned char buf[400], norm[400];
    for (int round = 0; round < 2000; round++) {
        size_t len = random_text(&x, buf, (size_t)(round % 400));
        char *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, buf, len);
        struct feat_token *a, *b;
        size_t na, nb;
        assert_int_equal(feat_tokenize_hash(FEAT_HASH_FNV1A, exact, len, &a, &na), 0);
        assert_int_equal(feat_tokenize_hash(FEAT_HASH_FX, exact, len, &b, &nb), 0);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].start, b[i].start);
            assert_int_equal(a[i].len, b[i].len);
            assert_int_equal(a[i].kind, b[i].kind);
            size_t nn = normalise(buf + a[i].start, a[i].len, norm);
            assert_true(a[i].hash == feat_fnv1a64(norm, nn));
            assert_true(b[i].hash == feat_fx64(norm, nn));
        }
        free(a);
        free(b);
        free(exact);
    }
}

/* FEAT_HASH_FNV1A vectors are those of main d6831ad bit for bit (the layers
 * of blob versions 1 and 2 score with them): 400 random texts, prompts cut
 * from their ends, 2^4 to 2^22 buckets (many collisions at the low end),
 * every index and value run through FNV-1a; the checksum and the count were
 * computed with feat.c of d6831ad (little-endian). */
static void test_fnv_vectors_pinned(void **state)
{
    (void)state;
    uint64_t x = 0x2545f4914f6cdd1dULL, sum = 0xcbf29ce484222325ULL;
    unsigned char buf[600];
    size_t total = 0;
    struct feat_vec v;
    feat_vec_init(&v);
    for (int round = 0; round < 400; round++) {
        size_t len = random_text(&x, buf, (size_t)(round * 3 % 600)), plen = len / 3;
        unsigned bits = 4 + (unsigned)(round % 19);
        assert_int_equal(feat_extract(bits, (char *)buf + len - plen, plen, (char *)buf, len, &v),
                         0);
        assert_vec_ok(&v, bits);
        for (size_t i = 0; i < v.n; i++) {
            unsigned char rec[8];
            memcpy(rec, &v.idx[i], 4);
            memcpy(rec + 4, &v.val[i], 4);
            sum = feat_fnv1a64(rec, 8) ^ (sum * 0x100000001b3ULL);
        }
        total += v.n;
    }
    assert_int_equal(total, 24513);
    assert_true(sum == 0x424fe208e31796b8ULL);
    feat_vec_clear(&v);
}

/* FEAT_HASH_FX vectors (the layers of blob version 3 on) are those of main
 * 7416c12 bit for bit, texts and checksum as test_fnv_vectors_pinned's,
 * with longer texts (to 2,400 bytes) so the tokenizer's 8-byte steps, bucket
 * collisions and repeated words are all exercised; the checksum and the
 * count were computed with feat.c of 7416c12 (little-endian). */
static void test_fx_vectors_pinned(void **state)
{
    (void)state;
    uint64_t x = 0x853c49e6748fea9bULL, sum = 0xcbf29ce484222325ULL;
    unsigned char buf[2400];
    size_t total = 0;
    struct feat_vec v;
    feat_vec_init(&v);
    for (int round = 0; round < 600; round++) {
        size_t len = random_text(&x, buf, (size_t)(round * 7 % 2400)), plen = len / 4;
        unsigned bits = 4 + (unsigned)(round % 25);
        assert_int_equal(feat_extract_hash(FEAT_HASH_FX, bits, (char *)buf + len - plen, plen,
                                           (char *)buf, len, &v),
                         0);
        assert_vec_ok(&v, bits);
        for (size_t i = 0; i < v.n; i++) {
            unsigned char rec[8];
            memcpy(rec, &v.idx[i], 4);
            memcpy(rec + 4, &v.val[i], 4);
            sum = feat_fnv1a64(rec, 8) ^ (sum * 0x100000001b3ULL);
        }
        total += v.n;
    }
    assert_int_equal(total, 93524);
    assert_true(sum == 0x3e49339b23636fffULL);
    feat_vec_clear(&v);
}

/* Pinned once from this implementation, like test_stability: the vector of
 * blob version 3 layers. */
static void test_stability_fx(void **state)
{
    (void)state;
    static const uint32_t want_idx[] = {28100,  28847,  29031,  29068,  33267,  67330,  75134,
                                        79304,  101124, 102874, 104373, 105560, 108277, 133499,
                                        142075, 142379, 149083, 199747, 205776, 216670, 218563,
                                        228267, 238558, 248109, 248150, 250836, 254107, 256524};
    static const float want_val[] = {
        -0.3535534f, 0.4251497f, 0.4285714f, 0.03577521f, 0.6030227f,  -0.06896552f, 0.3015113f,
        0.3535534f,  0.3015113f, 1.0f,       -0.2746531f, 0.3015113f,  0.6f,         0.5773503f,
        0.06896552f, 0.3015113f, 0.3535534f, 0.3015113f,  -0.3535534f, -0.3015113f,  -0.3535534f,
        0.3535534f,  0.3535534f, 0.3015113f, -0.3535534f, -0.5773503f, -0.3837642f,  -0.5773503f};
    const char *p = "How many apples are left?", *r = "There are 5 apples left.\nA: 5";
    struct feat_vec a;
    feat_vec_init(&a);
    assert_int_equal(feat_extract_hash(FEAT_HASH_FX, 18, p, strlen(p), r, strlen(r), &a), 0);
    assert_vec_ok(&a, 18);
    assert_int_equal(a.n, sizeof(want_idx) / sizeof(want_idx[0]));
    for (size_t i = 0; i < a.n; i++) {
        assert_int_equal(a.idx[i], want_idx[i]);
        assert_float_equal(a.val[i], want_val[i], 1e-5);
    }
    /* An unknown hash is refused. */
    assert_int_equal(feat_extract_hash((enum feat_hash)3, 18, p, strlen(p), r, strlen(r), &a),
                     -EINVAL);
    assert_int_equal(a.n, 0);
    struct feat_token *t = (void *)1;
    size_t n = 9;
    assert_int_equal(feat_tokenize_hash((enum feat_hash)0, p, strlen(p), &t, &n), -EINVAL);
    assert_null(t);
    assert_int_equal(n, 0);
    feat_vec_clear(&a);
}

/* Same response, different prompts: only the prompt-conditioned part moves. */
static void test_prompt_conditioning(void **state)
{
    (void)state;
    const char *r = "paris is the capital of france";
    struct feat_vec a, b;
    feat_vec_init(&a);
    feat_vec_init(&b);
    assert_int_equal(feat_extract(20, "capital of france?", 18, r, strlen(r), &a), 0);
    assert_int_equal(feat_extract(20, "tell me a joke", 14, r, strlen(r), &b), 0);
    assert_true(a.n > b.n); /* overlap features appear only with the related prompt */
    feat_vec_clear(&a);
    feat_vec_clear(&b);
}

/* feat_extract_many gives each response the vector of its own
 * feat_extract_hash call, bit for bit, whatever came before it (the prompt's
 * word set is shared and must not carry one response's overlap to the next),
 * and refuses what feat_extract_hash refuses. */
static void test_extract_many(void **state)
{
    (void)state;
    const char *p = "Janet has 16 eggs and eats 3 of them. How many eggs are left, 13?";
    const char *r[4] = {"She has 16 - 3 = 13 eggs left.\nA: 13", "", "eggs eggs eggs 16 16",
                        "A completely unrelated answer: 42, \xe2\x80\x99tis caf\xc3\xa9."};
    size_t len[4];
    for (int k = 0; k < 4; k++)
        len[k] = strlen(r[k]);
    for (int h = FEAT_HASH_FNV1A; h <= FEAT_HASH_FX; h++) {
        struct feat_vec many[4], one;
        feat_vec_init(&one);
        for (int k = 0; k < 4; k++)
            feat_vec_init(&many[k]);
        assert_int_equal(feat_extract_many(h, 18, p, strlen(p), r, len, 4, many), 0);
        for (int k = 0; k < 4; k++) {
            assert_int_equal(feat_extract_hash(h, 18, p, strlen(p), r[k], len[k], &one), 0);
            assert_vec_ok(&many[k], 18);
            assert_int_equal(many[k].n, one.n);
            assert_memory_equal(many[k].idx, one.idx, one.n * sizeof(*one.idx));
            assert_memory_equal(many[k].val, one.val, one.n * sizeof(*one.val));
        }
        /* The same response twice: the same vector twice. */
        const char *twice[2] = {r[0], r[0]};
        size_t tlen[2] = {len[0], len[0]};
        assert_int_equal(feat_extract_many(h, 18, p, strlen(p), twice, tlen, 2, many), 0);
        assert_int_equal(many[0].n, many[1].n);
        assert_memory_equal(many[0].val, many[1].val, many[0].n * sizeof(*many[0].val));
        /* Refusals leave every output empty. */
        const char *bad[2] = {r[0], NULL};
        size_t blen[2] = {len[0], 3};
        assert_int_equal(feat_extract_many(h, 18, p, strlen(p), bad, blen, 2, many), -EINVAL);
        assert_int_equal(many[0].n + many[1].n, 0);
        assert_int_equal(feat_extract_many(h, 3, p, strlen(p), r, len, 2, many), -EINVAL);
        assert_int_equal(feat_extract_many((enum feat_hash)3, 18, p, strlen(p), r, len, 2, many),
                         -EINVAL);
        assert_int_equal(many[0].n + many[1].n, 0);
        feat_vec_clear(&one);
        for (int k = 0; k < 4; k++)
            feat_vec_clear(&many[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv_known),
        cmocka_unit_test(test_fx_known),
        cmocka_unit_test(test_fx_wide_known),
        cmocka_unit_test(test_fx_wide_every_bit),
        cmocka_unit_test(test_ascii_tokens),
        cmocka_unit_test(test_multibyte),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_one_megabyte_no_spaces),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_stability),
        cmocka_unit_test(test_fx_tokens_match),
        cmocka_unit_test(test_fnv_vectors_pinned),
        cmocka_unit_test(test_fx_vectors_pinned),
        cmocka_unit_test(test_stability_fx),
        cmocka_unit_test(test_prompt_conditioning),
        cmocka_unit_test(test_extract_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
