/* feat.c - tokenizer and signed hashed features (see feat.h). */
#include "feat.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Namespaces keep the feature families apart in the shared bucket space. */
#define NS_UNI 0x756e696772616d31ULL   /* response unigram */
#define NS_BI 0x62696772616d3232ULL    /* response bigram */
#define NS_XP 0x696e70726f6d7033ULL    /* response unigram also present in the prompt */
#define NS_DENSE 0x64656e7365303034ULL /* named dense features */

enum dense_feature {
    D_LOG_BYTES,
    D_LOG_TOKENS,
    D_LOG_LINES,
    D_DIGIT_SHARE,
    D_UPPER_SHARE,
    D_NONASCII_SHARE,
    D_CODE_FENCES,
    D_QUESTION_MARKS,
    D_EXCLAMATIONS,
    D_LIST_LINES,
    D_EMPTY,
    D_PROMPT_OVERLAP,  /* share of response words found in the prompt */
    D_PROMPT_COVERAGE, /* share of distinct prompt words found in the response */
    D_PROMPT_NUMBERS,  /* share of distinct prompt numbers found in the response */
    D_NEW_NUMBERS,     /* share of response numbers absent from the prompt */
    D_LOG_RATIO,       /* log of response/prompt length ratio */
    D_COUNT
};

uint64_t feat_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

#define FX_K 0x517cc1b727220a95ULL   /* FxHash's multiplier */
#define LOWER8 0x2020202020202020ULL /* ORed in, lowercases 8 ASCII letters, keeps digits and ' */

/* One step of feat_fx64: 8 more bytes into h. */
static inline uint64_t fx_step(uint64_t h, uint64_t w)
{
    return (((h << 5) | (h >> 59)) ^ w) * FX_K;
}

/* The 8 bytes at p as a little-endian word. */
static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The n < 8 bytes at p as a little-endian word, zero-padded. */
static inline uint64_t load_le_tail(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t k = 0; k < n; k++)
        w |= (uint64_t)p[k] << (8 * k);
    return w;
}

uint64_t feat_fx64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0;
    size_t k = 0;
    for (; k + 8 <= len; k += 8)
        h = fx_step(h, load_le64(p + k));
    if (k < len)
        h = fx_step(h, load_le_tail(p + k, len - k));
    return h;
}

/* murmur3 fmix64: spreads every input bit over the whole word. */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t feat_fx64_wide(const void *data, size_t len)
{
    const unsigned char *p = data;
    /* Four independent chains: each step waits on its own lane's multiply
     * only, so the lanes' multiplies overlap. */
    uint64_t h[4] = {1, 2, 3, 4};
    size_t k = 0;
    for (; k + 32 <= len; k += 32)
        for (unsigned l = 0; l < 4; l++)
            h[l] = fx_step(h[l], load_le64(p + k + 8 * l));
    for (unsigned l = 0; k + 8 <= len; k += 8, l++)
        h[l] = fx_step(h[l], load_le64(p + k));
    uint64_t x = fx_step(fx_step(fx_step(h[0], h[1]), h[2]), h[3]);
    x = fx_step(x, k < len ? load_le_tail(p + k, len - k) : 0);
    return mix64(fx_step(x, (uint64_t)len));
}

void feat_vec_init(struct feat_vec *v)
{
    v->idx = NULL;
    v->val = NULL;
    v->n = 0;
    v->cap = 0;
}

void feat_vec_clear(struct feat_vec *v)
{
    if (!v)
        return;
    free(v->idx);
    free(v->val);
    feat_vec_init(v);
}

/* Length of the valid UTF-8 sequence at s[0..avail), 0 when invalid,
 * overlong, a surrogate, above U+10FFFF or truncated. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

struct tok_buf {
    struct feat_token *t;
    size_t n, cap;
};

static inline int tok_push(struct tok_buf *b, const struct feat_token *t)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 128;
        struct feat_token *nt = realloc(b->t, ncap * sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        b->t = nt;
        b->cap = ncap;
    }
    b->t[b->n++] = *t;
    return 0;
}

int feat_tokenize(const char *text, size_t len, struct feat_token **toks, size_t *ntoks)
{
    return feat_tokenize_hash(FEAT_HASH_FNV1A, text, len, toks, ntoks);
}

/* ---- the tokenizer ------------------------------------------------------
 * Tokens as feat.h's feat_tokenize describes them, for both hashes, found
 * with a byte class table: 64 bytes at a time from bit masks (tok_block),
 * byte by byte where a word is not plain (tok_scalar). With FEAT_HASH_FX an
 * ASCII word is hashed from the input 8 bytes at a time, a word with
 * multi-byte characters through a small stream; FEAT_HASH_FNV1A takes a
 * word's normalised bytes one at a time. */

enum {
    BC_WORD = 1,  /* ASCII letter, digit or apostrophe */
    BC_DIGIT = 2, /* ASCII digit (also BC_WORD) */
    BC_PUNCT = 4, /* other visible ASCII: a one-byte token */
    BC_HIGH = 8,  /* 0x80 and above: part of a word when valid UTF-8 */
};
#define BC_OF(c)                                                                                   \
    (((c) >= '0' && (c) <= '9')                                    ? BC_WORD | BC_DIGIT            \
     : (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z') || (c) == '\'' ? BC_WORD                       \
     : (c) >= 0x80                                                 ? BC_HIGH                       \
     : (c) > 0x20 && (c) < 0x7f                                    ? BC_PUNCT                      \
                                                                   : 0)
#define BC_ROW(c)                                                                                  \
    BC_OF(c), BC_OF(c + 1), BC_OF(c + 2), BC_OF(c + 3), BC_OF(c + 4), BC_OF(c + 5), BC_OF(c + 6),  \
        BC_OF(c + 7), BC_OF(c + 8), BC_OF(c + 9), BC_OF(c + 10), BC_OF(c + 11), BC_OF(c + 12),     \
        BC_OF(c + 13), BC_OF(c + 14), BC_OF(c + 15)
static const unsigned char byte_class[256] = {
    BC_ROW(0x00), BC_ROW(0x10), BC_ROW(0x20), BC_ROW(0x30), BC_ROW(0x40), BC_ROW(0x50),
    BC_ROW(0x60), BC_ROW(0x70), BC_ROW(0x80), BC_ROW(0x90), BC_ROW(0xa0), BC_ROW(0xb0),
    BC_ROW(0xc0), BC_ROW(0xd0), BC_ROW(0xe0), BC_ROW(0xf0)};

#define ONES8 0x0101010101010101ULL
#define HIGH8 0x8080808080808080ULL

/* 0x80 in each byte of x (bytes below 0x80) that lies in [lo, hi]. */
static inline uint64_t swar_in(uint64_t x, unsigned lo, unsigned hi)
{
    return (x + ONES8 * (0x80u - lo)) & ~(x + ONES8 * (0x7fu - hi)) & HIGH8;
}

/* 0x80 in each byte of w that is an ASCII word byte (BC_WORD); in *digit,
 * in each one that is an ASCII digit. */
static inline uint64_t swar_word(uint64_t w, uint64_t *digit)
{
    uint64_t x = w & ~HIGH8, ascii = ~w & HIGH8;
    *digit = swar_in(x, '0', '9') & ascii;
    return (*digit | swar_in(x | LOWER8, 'a', 'z') | swar_in(x, '\'', '\'')) & ascii;
}

/* Finds the end of the ASCII word run at s[a] (past which s has len
 * bytes) 8 bytes at a time, hashing it as it goes (feat_fx64 of the bytes
 * lowercased). Returns the end; *hash receives the hash and *digits
 * whether every byte is a digit. */
static inline size_t fx_ascii_run(const unsigned char *s, size_t len, size_t a, uint64_t *hash,
                                  int *digits)
{
    uint64_t h = 0, digit;
    size_t j = a;
    int all = 1;
    for (; j + 8 <= len; j += 8) {
        uint64_t w = load_le64(s + j), word = swar_word(w, &digit);
        if (word == HIGH8) {
            h = fx_step(h, w | LOWER8);
            all &= digit == HIGH8;
            continue;
        }
        unsigned n = (unsigned)__builtin_ctzll(~word & HIGH8) / 8;
        if (n) {
            uint64_t keep = (UINT64_C(1) << (8 * n)) - 1;
            h = fx_step(h, (w | LOWER8) & keep);
            all &= (digit & keep) == (HIGH8 & keep);
        }
        *hash = h;
        *digits = all;
        return j + n;
    }
    uint64_t w = 0;
    unsigned n = 0, c;
    for (; j < len && ((c = byte_class[s[j]]) & BC_WORD); j++, n++) {
        w |= (uint64_t)(s[j] | 0x20) << (8 * n);
        all &= (c & BC_DIGIT) != 0;
    }
    *hash = n ? fx_step(h, w) : h;
    *digits = all;
    return j;
}

/* feat_fx64 fed one byte at a time. */
struct fx_stream {
    uint64_t h, w; /* hash of the whole chunks, bytes of the partial one */
    unsigned n;    /* bytes in w */
};

static inline void fx_stream_byte(struct fx_stream *st, unsigned char c)
{
    st->w |= (uint64_t)c << (8 * st->n);
    if (++st->n == 8) {
        st->h = fx_step(st->h, st->w);
        st->w = 0;
        st->n = 0;
    }
}

static uint64_t fx_stream_end(const struct fx_stream *st)
{
    return st->n ? fx_step(st->h, st->w) : st->h;
}

/* Length of the valid multi-byte character at s[i] that belongs to a word
 * (utf8_seq_len), 0 when s[i] is not one. */
static inline size_t word_seq_len(const unsigned char *s, size_t len, size_t i)
{
    return i < len && (byte_class[s[i]] & BC_HIGH) ? utf8_seq_len(s + i, len - i) : 0;
}

/* Hashes the rest of a word with multi-byte characters: s[a..j) are its
 * ASCII word bytes so far, s[j] starts a valid character. Returns where the
 * word ends; *hash receives its hash. */
static size_t fx_mixed_word(const unsigned char *s, size_t len, size_t a, size_t j, uint64_t *hash)
{
    struct fx_stream st = {0, 0, 0};
    for (size_t k = a; k < j; k++)
        fx_stream_byte(&st, s[k] | 0x20);
    for (;;) {
        if (j < len && (byte_class[s[j]] & BC_WORD)) {
            fx_stream_byte(&st, s[j++] | 0x20);
            continue;
        }
        size_t n = word_seq_len(s, len, j);
        if (!n)
            break;
        if (n == 3 && s[j] == 0xe2 && s[j + 1] == 0x80 && (s[j + 2] == 0x98 || s[j + 2] == 0x99))
            fx_stream_byte(&st, '\'');
        else
            for (size_t k = 0; k < n; k++)
                fx_stream_byte(&st, s[j + k]);
        j += n;
    }
    *hash = fx_stream_end(&st);
    return j;
}

/* Reads the word starting at s[*pos] into *t and moves *pos past it. */
static inline void fx_word(const unsigned char *s, size_t len, size_t *pos, struct feat_token *t)
{
    size_t a = *pos;
    int digits;
    size_t j = fx_ascii_run(s, len, a, &t->hash, &digits);
    if (word_seq_len(s, len, j)) {
        j = fx_mixed_word(s, len, a, j, &t->hash);
        digits = 0;
    }
    t->start = a;
    t->len = j - a;
    t->kind = digits ? FEAT_TOK_NUMBER : FEAT_TOK_WORD;
    *pos = j;
}

/* FNV-1a 64 of one more byte. */
static inline uint64_t fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* fx_word with FEAT_HASH_FNV1A: the word's normalised bytes one by one. */
static void fnv_word(const unsigned char *s, size_t len, size_t *pos, struct feat_token *t)
{
    size_t j = *pos, n;
    uint64_t h = FNV_OFFSET;
    int digits = 1;
    for (;;) {
        unsigned c = j < len ? byte_class[s[j]] : 0;
        if (c & BC_WORD) {
            digits &= (c & BC_DIGIT) != 0;
            h = fnv_step(h, s[j++] | 0x20); /* an ASCII word byte lowercased */
            continue;
        }
        if (!(n = word_seq_len(s, len, j)))
            break;
        digits = 0;
        if (n == 3 && s[j] == 0xe2 && s[j + 1] == 0x80 && (s[j + 2] == 0x98 || s[j + 2] == 0x99))
            h = fnv_step(h, '\'');
        else
            for (size_t k = 0; k < n; k++)
                h = fnv_step(h, s[j + k]);
        j += n;
    }
    t->hash = h;
    t->start = *pos;
    t->len = j - *pos;
    t->kind = digits ? FEAT_TOK_NUMBER : FEAT_TOK_WORD;
    *pos = j;
}

/* The hash of the one-byte token c. */
static inline uint64_t punct_hash(enum feat_hash hash, unsigned char c)
{
    return hash == FEAT_HASH_FX ? fx_step(0, c) : fnv_step(FNV_OFFSET, c);
}

/* The tokens of s[0..len) from s[i] on, one byte at a time, until one
 * ends at or past stop (a word may run past it), appended to b; *pos
 * receives where it stopped. Returns 0 or -ENOMEM. */
static int tok_scalar(enum feat_hash hash, const unsigned char *s, size_t len, size_t i,
                      size_t stop, struct tok_buf *b, size_t *pos)
{
    while (i < stop) {
        unsigned c = byte_class[s[i]];
        struct feat_token t;
        if ((c & BC_WORD) || word_seq_len(s, len, i)) {
            if (hash == FEAT_HASH_FX)
                fx_word(s, len, &i, &t);
            else
                fnv_word(s, len, &i, &t);
        } else if (c & BC_PUNCT) {
            t = (struct feat_token){punct_hash(hash, s[i]), i, 1, FEAT_TOK_PUNCT};
            i++;
        } else {
            i++; /* whitespace, control or an invalid byte: a separator */
            continue;
        }
        int rc = tok_push(b, &t);
        if (rc)
            return rc;
    }
    *pos = i;
    return 0;
}

/* ---- 64 bytes at a time ----
 * A block's bytes classified into bit masks (bit k: byte k), then its
 * tokens read off the masks: a word is a run of word or high bytes, an
 * ASCII one (the common case) hashed straight from the input; a word that
 * reaches the block's end starts the next block, and a run with high bytes
 * that are not plain characters, or one longer than a block, goes to
 * tok_scalar. */
enum { BLOCK = 64 };

struct block_masks {
    uint64_t word;  /* BC_WORD */
    uint64_t digit; /* BC_DIGIT */
    uint64_t punct; /* BC_PUNCT */
    uint64_t high;  /* BC_HIGH */
};

#if defined(__SSE2__) && !defined(FEAT_NO_SIMD)
#include <emmintrin.h>

/* The masks of the 16 bytes at p, shifted to bit at. Bytes of 0x80 and
 * above are negative in the signed compares, so they match no range. */
static inline void classify16(const unsigned char *p, unsigned at, struct block_masks *k)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i low = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i dig = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(low, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(low, _mm_set1_epi8('z' + 1)));
    __m128i word = _mm_or_si128(_mm_or_si128(dig, alpha), _mm_cmpeq_epi8(v, _mm_set1_epi8('\'')));
    __m128i vis = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
                                _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)));
    k->word |= (uint64_t)(unsigned)_mm_movemask_epi8(word) << at;
    k->digit |= (uint64_t)(unsigned)_mm_movemask_epi8(dig) << at;
    k->punct |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_andnot_si128(word, vis)) << at;
    k->high |= (uint64_t)(unsigned)_mm_movemask_epi8(v) << at;
}

static inline void block_classify(const unsigned char *p, struct block_masks *k)
{
    *k = (struct block_masks){0, 0, 0, 0};
    for (unsigned j = 0; j < BLOCK; j += 16)
        classify16(p + j, j, k);
}
#else
/* Bit k of the result: the top bit of byte k of m (only top bits set). */
static inline uint64_t top_bits(uint64_t m)
{
    return ((m >> 7) * 0x0102040810204080ULL) >> 56;
}

static inline void block_classify(const unsigned char *p, struct block_masks *k)
{
    *k = (struct block_masks){0, 0, 0, 0};
    for (unsigned j = 0; j < BLOCK; j += 8) {
        uint64_t w = load_le64(p + j), digit, word = swar_word(w, &digit);
        uint64_t vis = swar_in(w & ~HIGH8, 0x21, 0x7e) & ~w & HIGH8;
        k->word |= top_bits(word) << j;
        k->digit |= top_bits(digit) << j;
        k->punct |= top_bits(vis & ~word) << j;
        k->high |= top_bits(w & HIGH8) << j;
    }
}
#endif

/* feat_fx64 of the 1 <= n < BLOCK normalised bytes of the word at p, whose
 * bytes are ASCII word bytes (lowercased) and whole valid multi-byte
 * characters (as they are); p[0..n + 8) may be read. */
static inline uint64_t fx_run(const unsigned char *p, unsigned n)
{
    uint64_t h = 0, w;
    for (; n > 8; n -= 8, p += 8) {
        w = load_le64(p);
        h = fx_step(h, w | (LOWER8 & ~((w & HIGH8) >> 2)));
    }
    uint64_t keep = ~UINT64_C(0) >> (64 - 8 * n);
    w = load_le64(p) & keep;
    return fx_step(h, w | (LOWER8 & ~((w & HIGH8) >> 2) & keep));
}

/* fx_run with FEAT_HASH_FNV1A. */
static inline uint64_t fnv_run(const unsigned char *p, unsigned n)
{
    uint64_t h = FNV_OFFSET;
    for (unsigned j = 0; j < n; j++)
        h = fnv_step(h, p[j] | (0x20 & ~((p[j] & 0x80) >> 2)));
    return h;
}

/* Whether the high bytes (bits of high) of the word run p[0..n) are whole
 * valid characters, none of them U+2018 or U+2019 (read as '): then the
 * run is one word and its bytes its normalised bytes, bar the case. */
static inline bool run_plain(const unsigned char *p, unsigned n, uint64_t high)
{
    while (high) {
        unsigned j = (unsigned)__builtin_ctzll(high);
        size_t q = utf8_seq_len(p + j, n - j);
        if (!q || (q == 3 && p[j] == 0xe2 && p[j + 1] == 0x80 && (p[j + 2] & 0xfe) == 0x98))
            return false;
        high &= ~UINT64_C(0) << (j + q);
    }
    return true;
}

/* The tokens of the block at s[*pos] (a token boundary, with at least
 * BLOCK + 8 readable bytes from there; len bytes of text), appended to b,
 * which has room for BLOCK more; *pos moves past the block, to a word that
 * runs past it, or to where tok_scalar stopped. Returns 0 or -ENOMEM. */
static inline int tok_block(enum feat_hash hash, const unsigned char *s, size_t len, size_t *pos,
                            struct tok_buf *b)
{
    size_t i = *pos;
    const unsigned char *p = s + i;
    struct block_masks k;
    block_classify(p, &k);
    uint64_t t = k.word | k.high, m = (t & ~(t << 1)) | k.punct;
    struct feat_token *out = b->t + b->n;
    while (m) {
        unsigned a = (unsigned)__builtin_ctzll(m);
        uint64_t bit = UINT64_C(1) << a;
        if (k.punct & bit) {
            *out++ = (struct feat_token){punct_hash(hash, p[a]), i + a, 1, FEAT_TOK_PUNCT};
            m &= m - 1;
            continue;
        }
        uint64_t after = (t + bit) & ~t; /* the bit past the run; 0 at the block's end */
        uint64_t bits = after - bit;
        unsigned e = (unsigned)__builtin_ctzll(after | (UINT64_C(1) << 63)) - a;
        if (!after && a) {
            /* The word runs into the next block: that block starts with it. */
            b->n = (size_t)(out - b->t);
            *pos = i + a;
            return 0;
        }
        if (!after || ((k.high & bits) && !run_plain(p + a, e, (k.high & bits) >> a))) {
            b->n = (size_t)(out - b->t);
            /* A run filling the block (a is 0 then) is read to the block's end,
             * so a block of bytes that are not valid UTF-8 is classified once. */
            return tok_scalar(hash, s, len, i + a, after ? i + a + e : i + BLOCK, b, pos);
        }
        uint64_t h = hash == FEAT_HASH_FX ? fx_run(p + a, e) : fnv_run(p + a, e);
        *out++ = (struct feat_token){h, i + a, e,
                                     (k.digit & bits) == bits ? FEAT_TOK_NUMBER : FEAT_TOK_WORD};
        m &= ~(after - 1);
    }
    b->n = (size_t)(out - b->t);
    *pos = i + BLOCK;
    return 0;
}

/* Room for n more tokens in b. Returns 0 or -ENOMEM. */
static int tok_reserve(struct tok_buf *b, size_t n)
{
    if (b->n + n <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 128;
    while (ncap < b->n + n)
        ncap *= 2;
    struct feat_token *nt = realloc(b->t, ncap * sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    b->t = nt;
    b->cap = ncap;
    return 0;
}

/* The tokens of s[0..len) by blocks while 8 bytes past a block can be read,
 * from s[*pos] on, appended to b; *pos receives where it stopped. */
static inline int tok_blocks(enum feat_hash hash, const unsigned char *s, size_t len,
                             size_t readable, size_t *pos, struct tok_buf *b)
{
    int rc = 0;
    while (!rc && *pos < len && readable - *pos >= BLOCK + 8) {
        rc = tok_reserve(b, BLOCK);
        if (!rc)
            rc = tok_block(hash, s, len, pos, b);
    }
    return rc;
}

/* The tokens of s[0..len) with the given hash appended to b. Returns 0 or
 * -ENOMEM. */
static inline int tokenize_blocks(enum feat_hash hash, const unsigned char *s, size_t len,
                                  struct tok_buf *b)
{
    size_t i = 0;
    int rc = tok_blocks(hash, s, len, len, &i, b);
    if (rc || i >= len)
        return rc;
    /* The rest, fewer than BLOCK + 8 bytes, from a copy with room to read
     * past its end (NUL bytes separate, so no token runs into them). */
    unsigned char tail[2 * BLOCK + 16] = {0};
    size_t n0 = b->n, base = i, j = 0;
    memcpy(tail, s + base, len - base);
    rc = tok_blocks(hash, tail, len - base, sizeof tail, &j, b);
    for (size_t k = n0; k < b->n; k++)
        b->t[k].start += base;
    return rc;
}

/* The tokens of text[0..len) with the given hash into b (emptied first,
 * its array reused and grown as needed). Returns 0, -EINVAL for an unknown
 * hash or -ENOMEM. */
static int tokenize_into(enum feat_hash hash, const char *text, size_t len, struct tok_buf *b)
{
    b->n = 0;
    if (hash != FEAT_HASH_FNV1A && hash != FEAT_HASH_FX)
        return -EINVAL;
    /* About one token in 4 bytes of text: room for them from the start. */
    size_t want = len / 4 + 16 < 4096 ? len / 4 + 16 : 4096;
    if (b->cap < want) {
        struct feat_token *nt = realloc(b->t, want * sizeof(*nt));
        if (!nt)
            return -ENOMEM;
        b->t = nt;
        b->cap = want;
    }
    /* Each its own copy of the code, the hash fixed in it. */
    if (hash == FEAT_HASH_FNV1A)
        return tokenize_blocks(FEAT_HASH_FNV1A, (const unsigned char *)text, len, b);
    return tokenize_blocks(FEAT_HASH_FX, (const unsigned char *)text, len, b);
}

int feat_tokenize_hash(enum feat_hash hash, const char *text, size_t len, struct feat_token **toks,
                       size_t *ntoks)
{
    struct tok_buf b = {NULL, 0, 0};
    *toks = NULL;
    *ntoks = 0;
    int rc = tokenize_into(hash, text, len, &b);
    if (rc || !b.n) {
        free(b.t); /* no tokens: NULL */
        return rc;
    }
    *toks = b.t;
    *ntoks = b.n;
    return 0;
}

/* The feature families of phi, in the order their values are summed where
 * they share a bucket. The first three are L2-normalised on their own. */
enum family { FAM_UNI, FAM_BI, FAM_XP, FAM_DENSE, FAM_NORMALISED = FAM_DENSE };
#define FAM_BITS 2u

/* Texts of fewer tokens than this: every bucket's sum is a whole number
 * below 2^24, exact in a float whatever the order it is added in (so a
 * token's n entries can go in at once), and the sum of their squares one
 * below 2^53, exact in a double or an integer in any order. Longer ones go
 * one by one, in the order of a sort of them. */
#ifndef FEAT_EXACT_MAX
#define FEAT_EXACT_MAX ((size_t)1 << 24)
#endif

/* One bucket of one family: the sum of its signed entries, added in the
 * order they came, or for FAM_DENSE the set of dense features hashed to it
 * (bit k: feature k), each kept apart. */
struct acc_slot {
    uint32_t key; /* bucket << FAM_BITS | family; ACC_EMPTY when free */
    union {
        float sum;      /* FAM_UNI, FAM_BI, FAM_XP */
        uint32_t dense; /* FAM_DENSE */
    } u;
};
#define ACC_EMPTY UINT32_MAX /* above every key: keys have at most 30 bits */

/* The entries of one text, summed by key in an ordered linear-probing
 * table: a key's home slot is its top bits and each cluster is kept in key
 * order (an insert moves the larger keys of its cluster one slot on), so
 * the slots read from first to last give the keys in order. Duplicates are
 * folded as they come and nothing is sorted afterwards; the keys are hashed,
 * so clusters stay short. */
struct acc {
    struct acc_slot *slot; /* 2^lg home slots, then room to overflow into */
    size_t cap;            /* slots allocated, every one ACC_EMPTY between texts */
    uint64_t *used;        /* bit i: slot i holds a key; cap / 64 + 1 words */
    size_t words;          /* words of used that this text's slots fall in */
    unsigned shift;        /* key width - lg: home = key >> shift */
    uint64_t *xh;          /* cap entries: the words found in the prompt */
};

/* Makes room for up to n entries of keys below 2^width. Returns 0 or
 * -ENOMEM. */
static int acc_prepare(struct acc *a, unsigned width, size_t n)
{
    unsigned lg = 4;
    while (lg < width && ((size_t)1 << lg) < 2 * n)
        lg++;
    /* Keys fill the home slots in order; a cluster can run past the last
     * one by at most one slot an entry. */
    size_t need = ((size_t)1 << lg) + n + 1;
    if (need > a->cap) {
        struct acc_slot *ns = realloc(a->slot, need * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        a->slot = ns;
        for (size_t i = a->cap; i < need; i++)
            a->slot[i].key = ACC_EMPTY;
        uint64_t *nx = realloc(a->xh, need * sizeof(*nx));
        if (!nx)
            return -ENOMEM;
        a->xh = nx;
        uint64_t *nu = realloc(a->used, (need / 64 + 1) * sizeof(*nu));
        if (!nu)
            return -ENOMEM;
        a->used = nu;
        memset(nu + a->cap / 64 + (a->cap > 0), 0,
               (need / 64 + 1 - a->cap / 64 - (a->cap > 0)) * sizeof(*nu));
        a->cap = need;
    }
    a->shift = width - lg;
    a->words = need / 64 + 1;
    return 0;
}

/* The slot of key: where it is, or the free or larger slot it goes to. */
static inline struct acc_slot *acc_find(struct acc *a, uint32_t key)
{
    struct acc_slot *s = a->slot + (key >> a->shift);
    while (s->key < key)
        s++;
    return s;
}

/* Puts key (with value x) at s, moving the cluster from s on one slot. */
static inline void acc_insert(struct acc *a, struct acc_slot *s, struct acc_slot x)
{
    for (;;) {
        struct acc_slot t = *s;
        *s++ = x;
        if (t.key == ACC_EMPTY)
            break;
        x = t;
    }
    size_t e = (size_t)(s - a->slot);
    a->used[(e - 1) / 64] |= UINT64_C(1) << ((e - 1) % 64);
}

/* What the additions to the table of one family keep count of. */
struct tally {
    uint64_t sq; /* the sum of the squares of its bucket sums: exact while
                  * the text is (FEAT_EXACT_MAX); past that it wraps, unused */
    size_t keys; /* the keys it made */
};

/* t->sq after a bucket's sum went from old to old + v. */
static inline void tally_square(struct tally *t, float old, float v)
{
    int64_t o = (int64_t)old, w = (int64_t)v;
    t->sq += 2 * (uint64_t)o * (uint64_t)w + (uint64_t)w * (uint64_t)w;
}

/* Adds n entries of hashed key k in family f (not FAM_DENSE) to its
 * bucket, signed; room must have been made. n > 1 only while every sum is
 * a whole number below 2^24 (FEAT_EXACT_MAX), so that n at once is n one
 * by one. Returns what to add to the family's tally (by value: the caller
 * keeps its tally in registers). */
static inline struct tally acc_add(struct acc *a, uint64_t k, uint32_t mask, enum family f,
                                   uint32_t n)
{
    struct tally t = {0, 0};
    uint64_t h = mix64(k);
    uint32_t key = ((uint32_t)h & mask) << FAM_BITS | (uint32_t)f;
    /* The sign from the top bit, without a branch: it is a coin toss. */
    float v = (float)n;
    uint32_t vbits;
    memcpy(&vbits, &v, sizeof v);
    vbits |= (uint32_t)(h >> 63) << 31;
    memcpy(&v, &vbits, sizeof v);
    size_t home = key >> a->shift;
    struct acc_slot *s = a->slot + home;
    if ((s->key == key) | (s->key == ACC_EMPTY)) {
        /* The common cases, the key new or seen before, alike (the sum of
         * a new key starts from +0, which adds nothing to v). */
        uint32_t seen = s->key == key;
        union {
            uint32_t bits;
            float f;
        } old = {s->u.dense & (UINT32_C(0) - seen)};
        s->u.sum = old.f + v;
        s->key = key;
        a->used[home / 64] |= UINT64_C(1) << (home % 64);
        tally_square(&t, old.f, v);
        t.keys = !seen;
        return t;
    }
    s = acc_find(a, key);
    if (s->key == key) {
        tally_square(&t, s->u.sum, v);
        s->u.sum += v;
    } else {
        tally_square(&t, 0.0f, v);
        t.keys = 1;
        acc_insert(a, s, (struct acc_slot){key, {.sum = v}});
    }
    return t;
}

/* *t plus d. */
static inline void tally_add(struct tally *t, struct tally d)
{
    t->sq += d.sq;
    t->keys += d.keys;
}

/* Adds dense feature number k to its bucket, h being mix64 of its key;
 * counts a new key in *keys. */
static void acc_add_dense(struct acc *a, uint64_t h, uint32_t mask, unsigned k, size_t *keys)
{
    uint32_t key = ((uint32_t)h & mask) << FAM_BITS | FAM_DENSE;
    struct acc_slot *s = acc_find(a, key);
    if (s->key == key) {
        s->u.dense |= UINT32_C(1) << k;
    } else {
        acc_insert(a, s, (struct acc_slot){key, {.dense = UINT32_C(1) << k}});
        ++*keys;
    }
}

/* The square of x's sum when x is of family f, else +0 (adding it then
 * changes nothing), without a branch on the family. */
static inline double square_if(struct acc_slot x, unsigned f)
{
    union {
        double d;
        uint64_t bits;
    } sq = {(double)x.u.sum * x.u.sum};
    sq.bits &= UINT64_C(0) - (uint64_t)((x.key & ((1u << FAM_BITS) - 1)) == f);
    return sq.d;
}

/* For a text past FEAT_EXACT_MAX (a shorter one's tallies give the same
 * sums), a pass over the used slots before acc_write's: the squares of the
 * normalised families' sums, each family's added in key order into
 * ss[family] (the zero sums add nothing, nor do dense slots), as a fold of
 * sorted entries added them. Returns the number of slots. */
static size_t acc_norms(const struct acc *a, double ss[FAM_NORMALISED])
{
    size_t n = 0;
    double s0 = 0.0, s1 = 0.0, s2 = 0.0;
    for (size_t b = 0; b < a->words; b++) {
        for (uint64_t m = a->used[b]; m; m &= m - 1) {
            struct acc_slot x = a->slot[b * 64 + (size_t)__builtin_ctzll(m)];
            s0 += square_if(x, FAM_UNI);
            s1 += square_if(x, FAM_BI);
            s2 += square_if(x, FAM_XP);
            n++;
        }
    }
    ss[FAM_UNI] = s0;
    ss[FAM_BI] = s1;
    ss[FAM_XP] = s2;
    return n;
}

/* Empties the table without reading it. */
static void acc_clear(struct acc *a)
{
    for (size_t b = 0; b < a->words; b++) {
        for (uint64_t m = a->used[b]; m; m &= m - 1)
            a->slot[b * 64 + (size_t)__builtin_ctzll(m)].key = ACC_EMPTY;
        a->used[b] = 0;
    }
}

/* Appends bucket idx with value v to out[*n] unless v is 0. */
static inline void phi_put(struct feat_vec *out, size_t *n, uint32_t idx, float v)
{
    if (v != 0.0f) {
        out->idx[*n] = idx;
        out->val[(*n)++] = v;
    }
}

/* Writes phi to out (room made for every used slot) and empties the table:
 * each normalised family scaled to unit L2 norm by ss (acc_norms; a
 * family's weight in phi is then fixed whatever the length of the text),
 * the families of one bucket summed in family order, dense features one by
 * one in their order (dense[k]: feature k's value), zero sums dropped: the
 * additions of a sort, a fold and a merge, in their order. */
static void acc_write(struct acc *a, const double ss[FAM_NORMALISED], const float *dense,
                      struct feat_vec *out)
{
    float inv[FAM_NORMALISED] = {1.0f, 1.0f, 1.0f};
    for (unsigned f = 0; f < FAM_NORMALISED; f++)
        if (ss[f] > 0.0)
            inv[f] = (float)(1.0 / sqrt(ss[f]));
    uint32_t cur = ACC_EMPTY; /* the bucket being summed */
    float v = 0.0f;
    size_t w = 0;
    for (size_t b = 0; b < a->words; b++) {
        for (uint64_t m = a->used[b]; m; m &= m - 1) {
            size_t i = b * 64 + (size_t)__builtin_ctzll(m);
            struct acc_slot x = a->slot[i];
            a->slot[i].key = ACC_EMPTY;
            uint32_t idx = x.key >> FAM_BITS;
            unsigned f = x.key & ((1u << FAM_BITS) - 1);
            if (idx != cur) {
                if (cur != ACC_EMPTY)
                    phi_put(out, &w, cur, v);
                cur = idx;
                v = 0.0f; /* 0 + the first term is that term, or 0 */
            }
            if (f != FAM_DENSE) {
                v += x.u.sum * inv[f];
                continue;
            }
            for (uint32_t k = x.u.dense; k; k &= k - 1)
                v += dense[__builtin_ctz(k)];
        }
        a->used[b] = 0;
    }
    if (cur != ACC_EMPTY)
        phi_put(out, &w, cur, v);
    out->n = w;
}

/* Open-addressing set of 64-bit token hashes (0 marks an empty slot). */
struct hset {
    uint64_t *slot;
    size_t mask;
    unsigned shift; /* 64 - log2(slots): Fibonacci hashing picks the top bits */
};

static int hset_init(struct hset *s, size_t expected)
{
    size_t cap = 16;
    unsigned lg = 4;
    while (cap < expected * 2) {
        cap *= 2;
        lg++;
    }
    s->slot = calloc(cap, sizeof(*s->slot));
    s->mask = cap - 1;
    s->shift = 64 - lg;
    return s->slot ? 0 : -ENOMEM;
}

/* First probe slot. */
static inline size_t hset_home(const struct hset *s, uint64_t h)
{
    /* The high half folded in first: an FX hash of a short word is the
     * word times a constant, and one more multiply alone leaves its top
     * bits alike for many words. */
    return (size_t)(((h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL) >> s->shift);
}

/* Adds h; returns 1 when it was new, 0 when already present. *slot
 * receives its slot either way. */
static int hset_insert(struct hset *s, uint64_t h, size_t *slot)
{
    if (!h)
        h = 1;
    for (size_t i = hset_home(s, h);; i = (i + 1) & s->mask) {
        if (s->slot[i] == h) {
            *slot = i;
            return 0;
        }
        if (!s->slot[i]) {
            s->slot[i] = h;
            *slot = i;
            return 1;
        }
    }
}

/* Returns 1 when h is in the set, else 0; *slot receives its slot, or the
 * empty one the search ended at. Found or not mostly at the first probe
 * (the set is sparse), with no branch on which. */
static inline int hset_find(const struct hset *s, uint64_t h, size_t *slot)
{
    h += !h;
    size_t i = hset_home(s, h);
    uint64_t v = s->slot[i];
    /* One branch, not one on each test (& rather than &&). */
    while ((v != h) & (v != 0)) {
        i = (i + 1) & s->mask;
        v = s->slot[i];
    }
    *slot = i;
    return v == h;
}

/* Surface statistics of the raw response bytes. */
static void surface_stats(const unsigned char *s, size_t n, double *d)
{
    size_t digits = 0, upper = 0, nonascii = 0, lines = n ? 1 : 0, fences = 0;
    size_t qm = 0, ex = 0, lists = 0;
    /* Character classes without branches, counted in bytes over blocks of
     * at most 255 bytes, so the compiler vectorises the inner loop (16 or 32
     * bytes a step): this loop sees every byte of every scored text. */
    for (size_t i = 0; i < n;) {
        size_t end = n - i > 255 ? i + 255 : n;
        unsigned char bd = 0, bu = 0, bn = 0, bq = 0, be = 0;
        for (; i < end; i++) {
            unsigned char c = s[i];
            bd += (unsigned char)(c - '0') < 10u;
            bu += (unsigned char)(c - 'A') < 26u;
            bn += c >= 0x80u;
            bq += c == '?';
            be += c == '!';
        }
        digits += bd;
        upper += bu;
        nonascii += bn;
        qm += bq;
        ex += be;
    }
    /* Code fences: non-overlapping runs of three backticks. A backtick is
     * never a digit, letter or '?'/'!', so counting apart changes nothing. */
    for (const unsigned char *p = n ? memchr(s, '`', n) : NULL; p;
         p = memchr(p, '`', n - (size_t)(p - s))) {
        size_t left = n - (size_t)(p - s);
        if (left >= 3 && p[1] == '`' && p[2] == '`') {
            fences++;
            p += 3;
        } else {
            p++;
        }
        if (p >= s + n)
            break;
    }
    /* Lines, and list items: a line whose first non-space byte is '-', '*'
     * or a digit followed by '.' or ')'. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        if (j < n && s[j] != '\n') {
            unsigned char c = s[j];
            if (c == '-' || c == '*' ||
                (c >= '0' && c <= '9' && j + 1 < n && (s[j + 1] == '.' || s[j + 1] == ')')))
                lists++;
        }
        const unsigned char *nl = memchr(s + j, '\n', n - j);
        if (!nl)
            break;
        lines++;
        i = (size_t)(nl - s) + 1;
    }
    double nb = n ? (double)n : 1.0;
    d[D_LOG_BYTES] = log1p((double)n) / 8.0;
    d[D_LOG_LINES] = log1p((double)lines) / 4.0;
    d[D_DIGIT_SHARE] = (double)digits / nb;
    d[D_UPPER_SHARE] = (double)upper / nb;
    d[D_NONASCII_SHARE] = (double)nonascii / nb;
    d[D_CODE_FENCES] = log1p((double)fences) / 2.0;
    d[D_QUESTION_MARKS] = log1p((double)qm) / 2.0;
    d[D_EXCLAMATIONS] = log1p((double)ex) / 2.0;
    d[D_LIST_LINES] = log1p((double)lists) / 3.0;
    d[D_EMPTY] = n ? 0.0 : 1.0;
}

/* The distinct prompt words in a set; per slot, whether the word is a
 * number and whether the response being extracted uses it. One pass over a
 * response then gives both directions of overlap. */
struct prompt_set {
    struct hset ps;
    unsigned char *flags; /* per slot: FLAG_NUMBER | FLAG_COVERED */
};
enum { FLAG_NUMBER = 1, FLAG_COVERED = 2 };

static void prompt_set_free(struct prompt_set *p)
{
    free(p->ps.slot);
    free(p->flags);
}

/* Reads the words of prompt tokens pt[0..np) into *p. 0 or -ENOMEM (then
 * *p owns nothing). */
static int prompt_set_init(struct prompt_set *p, const struct feat_token *pt, size_t np)
{
    p->flags = NULL;
    int rc = hset_init(&p->ps, 4 * np); /* sparse: most probes end at the first slot */
    if (!rc && !(p->flags = calloc(p->ps.mask + 1, 1)))
        rc = -ENOMEM;
    if (rc) {
        prompt_set_free(p);
        return rc;
    }
    for (size_t i = 0; i < np; i++) {
        size_t slot;
        if (pt[i].kind != FEAT_TOK_PUNCT && hset_insert(&p->ps, pt[i].hash, &slot) &&
            pt[i].kind == FEAT_TOK_NUMBER)
            p->flags[slot] |= FLAG_NUMBER;
    }
    return 0;
}

/* The distinct tokens of one text (by hash and kind) and their counts: a
 * word's unigram and prompt features need looking up once. */
struct uniq {
    uint32_t *slot;      /* nslot entries: a token's index below, 0 when empty */
    uint64_t *hash;      /* cap entries, [1..n] in use ([0] read, never matched) */
    size_t *count;       /* cap entries, all 0 between texts */
    size_t *home;        /* cap entries: each token's slot */
    unsigned char *kind; /* cap entries: FEAT_TOK_* */
    size_t n;            /* distinct tokens */
    size_t cap;          /* entries of the arrays */
    size_t nslot;        /* slots in use for this text (a power of two) */
    size_t slots;        /* slots allocated, all 0 between texts */
    unsigned shift;      /* 64 - log2(nslot) */
};

/* Makes room for the distinct tokens of nr tokens. Returns 0 or -ENOMEM. */
static int uniq_prepare(struct uniq *u, size_t nr)
{
    unsigned lg = 4;
    while (((size_t)1 << lg) < 2 * nr)
        lg++;
    size_t ns = (size_t)1 << lg;
    if (ns > u->slots) {
        uint32_t *sl = realloc(u->slot, ns * sizeof(*sl));
        if (!sl)
            return -ENOMEM;
        memset(sl + u->slots, 0, (ns - u->slots) * sizeof(*sl));
        u->slot = sl;
        u->slots = ns;
    }
    if (nr + 1 > u->cap) {
        size_t c = nr + 1;
        uint64_t *h = realloc(u->hash, c * sizeof(*h));
        if (h)
            u->hash = h;
        size_t *n = h ? realloc(u->count, c * sizeof(*n)) : NULL;
        if (n) {
            memset(n + u->cap, 0, (c - u->cap) * sizeof(*n));
            u->count = n;
        }
        size_t *o = n ? realloc(u->home, c * sizeof(*o)) : NULL;
        if (o)
            u->home = o;
        unsigned char *k = o ? realloc(u->kind, c) : NULL;
        if (!k)
            return -ENOMEM;
        u->kind = k;
        u->cap = c;
        u->hash[0] = 0;
        u->kind[0] = 0;
    }
    u->nslot = ns;
    u->shift = 64 - lg;
    return 0;
}

/* Counts the tokens rt[0..nr) into u, each new or seen before alike,
 * without a branch on which (it is a coin toss). The fields the loop uses
 * are held in locals: a store to a count could be a store to them as far
 * as the compiler knows. */
static void uniq_count(struct uniq *u, const struct feat_token *rt, size_t nr)
{
    uint32_t *slot = u->slot;
    uint64_t *hash = u->hash;
    unsigned char *kind = u->kind;
    size_t *count = u->count, *home = u->home, n = u->n, m = u->nslot - 1;
    unsigned shift = u->shift;
    for (size_t t = 0; t < nr; t++) {
        uint64_t h = rt[t].hash;
        unsigned char k = (unsigned char)rt[t].kind;
        size_t i = (size_t)(((h ^ (h >> 32)) * 0x9e3779b97f4a7c15ULL) >> shift);
        uint32_t j = slot[i];
        while ((j != 0) & ((hash[j] != h) | (kind[j] != k))) {
            i = (i + 1) & m;
            j = slot[i];
        }
        uint32_t is_new = j == 0;
        j |= ((uint32_t)n + 1) & (UINT32_C(0) - is_new);
        n += is_new;
        slot[i] = j;
        hash[j] = h;
        kind[j] = k;
        home[j] = i;
        count[j]++;
    }
    u->n = n;
}

/* Empties u for the next text. */
static void uniq_clear(struct uniq *u)
{
    for (size_t j = 1; j <= u->n; j++) {
        u->slot[u->home[j]] = 0;
        u->count[j] = 0;
    }
    u->n = 0;
}

/* Features that compare the response's tokens (rt[0..nr), distinct in u)
 * with the prompt's words p: fills the D_PROMPT_* dense values and adds the
 * response-unigram-in-prompt family, each distinct word's entries at once
 * when exact (see FEAT_EXACT_MAX), else one by one in text order. Leaves p
 * as it found it (no word covered), for the next response. */
static void prompt_features(struct prompt_set *p, const struct uniq *u, const struct feat_token *rt,
                            size_t nr, bool exact, uint32_t mask, struct acc *a, uint64_t *xh,
                            double *d, struct tally *tx)
{
    size_t words = 0, in_prompt = 0, pdistinct = 0, pcovered = 0, pnum = 0, pnum_cov = 0;
    size_t rnum = 0, rnum_new = 0, nx = 0;
    struct tally t = {0, 0};
    unsigned char *flags = p->flags;
    /* Whether a word is in the prompt is a coin toss: counted, flagged and
     * listed without a branch on it (a miss ORs 0 into an empty slot's
     * flags); the listed words' entries are added after. */
    for (size_t j = 1; j <= u->n; j++) {
        if (u->kind[j] == FEAT_TOK_PUNCT)
            continue;
        size_t slot, c = u->count[j];
        int hit = hset_find(&p->ps, u->hash[j], &slot);
        size_t hc = c & (SIZE_MAX * (size_t)hit), num = u->kind[j] == FEAT_TOK_NUMBER;
        words += c;
        in_prompt += hc;
        rnum += c & (SIZE_MAX * num);
        rnum_new += (c - hc) & (SIZE_MAX * num);
        flags[slot] |= (unsigned char)(hit ? FLAG_COVERED : 0);
        xh[nx] = j;
        nx += (size_t)hit;
    }
    for (size_t i = 0; exact && i < nx; i++)
        tally_add(&t, acc_add(a, u->hash[xh[i]] ^ NS_XP, mask, FAM_XP, (uint32_t)u->count[xh[i]]));
    for (size_t i = 0; !exact && i < nr; i++) {
        size_t slot;
        if (rt[i].kind != FEAT_TOK_PUNCT && hset_find(&p->ps, rt[i].hash, &slot))
            tally_add(&t, acc_add(a, rt[i].hash ^ NS_XP, mask, FAM_XP, 1));
    }
    *tx = t;
    for (size_t i = 0; i <= p->ps.mask; i++) {
        if (!p->ps.slot[i])
            continue;
        bool covered = flags[i] & FLAG_COVERED;
        flags[i] &= (unsigned char)~FLAG_COVERED;
        pdistinct++;
        pcovered += covered;
        if (flags[i] & FLAG_NUMBER) {
            pnum++;
            pnum_cov += covered;
        }
    }
    d[D_PROMPT_OVERLAP] = words ? (double)in_prompt / (double)words : 0.0;
    d[D_PROMPT_COVERAGE] = pdistinct ? (double)pcovered / (double)pdistinct : 0.0;
    d[D_PROMPT_NUMBERS] = pnum ? (double)pnum_cov / (double)pnum : 0.0;
    d[D_NEW_NUMBERS] = rnum ? (double)rnum_new / (double)rnum : 0.0;
}

static int vec_reserve(struct feat_vec *v, size_t n)
{
    if (n <= v->cap)
        return 0;
    uint32_t *ni = realloc(v->idx, n * sizeof(*ni));
    if (!ni)
        return -ENOMEM;
    v->idx = ni;
    float *nv = realloc(v->val, n * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    v->val = nv;
    v->cap = n;
    return 0;
}

/* Adds the response's unigrams (its tokens rt[0..nr), counted in u), each
 * distinct one's at once when exact (FEAT_EXACT_MAX), else one by one, and
 * its bigrams. */
static void ngram_features(struct uniq *u, const struct feat_token *rt, size_t nr, bool exact,
                           uint32_t mask, struct acc *a, struct tally *tl)
{
    struct tally tu = {0, 0}, tb = {0, 0};
    for (size_t j = 1; exact && j <= u->n; j++)
        tally_add(&tu, acc_add(a, u->hash[j] ^ NS_UNI, mask, FAM_UNI, (uint32_t)u->count[j]));
    for (size_t i = 0; !exact && i < nr; i++)
        tally_add(&tu, acc_add(a, rt[i].hash ^ NS_UNI, mask, FAM_UNI, 1));
    for (size_t i = 0; i + 1 < nr; i++)
        tally_add(&tb,
                  acc_add(a, (rt[i].hash * FNV_PRIME + rt[i + 1].hash) ^ NS_BI, mask, FAM_BI, 1));
    tl[FAM_UNI] = tu;
    tl[FAM_BI] = tb;
}

/* Adds the nonzero dense features d[0..D_COUNT), their signed values as
 * floats into dv. */
static void dense_features(const double *d, uint32_t mask, struct acc *a, float *dv,
                           struct tally *td)
{
    for (unsigned k = 0; k < D_COUNT; k++) {
        if (d[k] == 0.0)
            continue;
        uint64_t h = mix64(NS_DENSE + k);
        dv[k] = (h >> 63) ? -(float)d[k] : (float)d[k];
        acc_add_dense(a, h, mask, k, &td->keys);
    }
}

int feat_extract(unsigned bits, const char *prompt, size_t prompt_len, const char *resp,
                 size_t resp_len, struct feat_vec *out)
{
    return feat_extract_hash(FEAT_HASH_FNV1A, bits, prompt, prompt_len, resp, resp_len, out);
}

/* Buffers a thread reuses from one text to the next, across calls: the
 * tokens and the accumulator (every slot empty between texts). */
struct scratch {
    struct tok_buf toks;
    struct acc acc;
    struct uniq uniq; /* every slot and count 0 between texts */
};
#define SCRATCH_KEEP_MAX ((size_t)1 << 20) /* bytes a thread keeps between calls */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_rc; /* pthread_key_create's result */

/* Frees the buffers of sc, leaving it empty. */
static void scratch_release(struct scratch *sc)
{
    free(sc->toks.t);
    free(sc->acc.slot);
    free(sc->acc.xh);
    free(sc->acc.used);
    free(sc->uniq.slot);
    free(sc->uniq.hash);
    free(sc->uniq.count);
    free(sc->uniq.home);
    free(sc->uniq.kind);
    memset(sc, 0, sizeof *sc);
}

/* The thread's exit: its scratch goes. */
static void scratch_destroy(void *p)
{
    scratch_release(p);
    free(p);
}

static void scratch_key_init(void)
{
    scratch_key_rc = pthread_key_create(&scratch_key, scratch_destroy);
}

/* The calling thread's scratch, made on first use; NULL when it cannot be
 * (the caller then uses one of its own for the call). */
static struct scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    if (scratch_key_rc)
        return NULL;
    struct scratch *sc = pthread_getspecific(scratch_key);
    if (sc)
        return sc;
    sc = calloc(1, sizeof *sc);
    if (sc && pthread_setspecific(scratch_key, sc)) {
        free(sc);
        sc = NULL;
    }
    return sc;
}

/* Bytes sc holds. */
static size_t scratch_bytes(const struct scratch *sc)
{
    return sc->toks.cap * sizeof(struct feat_token) +
           sc->acc.cap * (sizeof(struct acc_slot) + sizeof(uint64_t) + 1) + 8 +
           sc->uniq.slots * sizeof(uint32_t) + sc->uniq.cap * 25;
}

/* What extracting the responses of one prompt shares. */
struct extract {
    enum feat_hash hash;
    unsigned bits;
    uint32_t mask;
    size_t prompt_len;
    struct prompt_set p;
    struct scratch *sc;
};

/* phi(prompt, resp) into out, the prompt read beforehand into x. Returns 0
 * or a negative errno. */
static int extract_one(struct extract *x, const char *resp, size_t resp_len, struct feat_vec *out)
{
    double d[D_COUNT] = {0};
    float dv[D_COUNT];
    struct acc *a = &x->sc->acc;
    int rc = tokenize_into(x->hash, resp, resp_len, &x->sc->toks);
    const struct feat_token *rt = x->sc->toks.t;
    size_t nr = x->sc->toks.n;
    if (!rc)
        rc = uniq_prepare(&x->sc->uniq, nr);
    if (rc)
        return rc;
    uniq_count(&x->sc->uniq, rt, nr);
    /* At most this many entries: each distinct word's unigram and prompt
     * entries at once, every bigram, the dense features. */
    bool exact = nr < FEAT_EXACT_MAX;
    size_t entries = (exact ? 2 * x->sc->uniq.n + nr : 3 * nr) + D_COUNT;
    rc = acc_prepare(a, x->bits + FAM_BITS, entries);
    if (rc) {
        uniq_clear(&x->sc->uniq);
        return rc;
    }
    /* Every entry summed into its bucket as it comes: the sums a stable
     * sort by key and a fold of the runs gave, and the keys in order. */
    struct tally tl[FAM_DENSE + 1] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    ngram_features(&x->sc->uniq, rt, nr, exact, x->mask, a, tl);
    prompt_features(&x->p, &x->sc->uniq, rt, nr, exact, x->mask, a, a->xh, d, &tl[FAM_XP]);
    uniq_clear(&x->sc->uniq);
    surface_stats((const unsigned char *)resp, resp_len, d);
    d[D_LOG_TOKENS] = log1p((double)nr) / 6.0;
    d[D_LOG_RATIO] = (log1p((double)resp_len) - log1p((double)x->prompt_len)) / 4.0;
    dense_features(d, x->mask, a, dv, &tl[FAM_DENSE]);
    /* The families' norms: tallied as the sums grew while that is exact,
     * else added up in key order. */
    double ss[FAM_NORMALISED];
    size_t keys = tl[FAM_UNI].keys + tl[FAM_BI].keys + tl[FAM_XP].keys + tl[FAM_DENSE].keys;
    for (unsigned f = 0; exact && f < FAM_NORMALISED; f++)
        ss[f] = (double)tl[f].sq;
    if (!exact)
        acc_norms(a, ss);
    rc = vec_reserve(out, keys);
    if (rc)
        acc_clear(a);
    else
        acc_write(a, ss, dv, out);
    return rc;
}

/* feat_extract_many once the arguments are checked, with the buffers of
 * x->sc. */
static int extract_many(struct extract *x, const char *prompt, const char *const *resp,
                        const size_t *resp_len, size_t n, struct feat_vec *out)
{
    int rc = tokenize_into(x->hash, prompt, x->prompt_len, &x->sc->toks);
    if (!rc)
        rc = prompt_set_init(&x->p, x->sc->toks.t, x->sc->toks.n);
    if (rc)
        return rc;
    for (size_t k = 0; k < n && !rc; k++)
        rc = extract_one(x, resp[k], resp_len[k], &out[k]);
    prompt_set_free(&x->p);
    return rc;
}

int feat_extract_many(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *const *resp, const size_t *resp_len, size_t n,
                      struct feat_vec *out)
{
    for (size_t k = 0; k < n; k++)
        out[k].n = 0;
    if (bits < FEAT_BITS_MIN || bits > FEAT_BITS_MAX || (!prompt && prompt_len) ||
        (hash != FEAT_HASH_FNV1A && hash != FEAT_HASH_FX))
        return -EINVAL;
    for (size_t k = 0; k < n; k++)
        if (!resp[k] && resp_len[k])
            return -EINVAL;
    struct scratch own = {
        {NULL, 0, 0}, {NULL, 0, NULL, 0, 0, NULL}, {NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0}};
    struct extract x = {
        hash,         bits, (uint32_t)((1ULL << bits) - 1), prompt_len, {{NULL, 0, 0}, NULL},
        scratch_get()};
    if (!x.sc)
        x.sc = &own;
    int rc = extract_many(&x, prompt, resp, resp_len, n, out);
    for (size_t k = 0; k < n && rc; k++)
        out[k].n = 0;
    /* A thread keeps what an ordinary text needs, not what a huge one did. */
    if (x.sc == &own || scratch_bytes(x.sc) > SCRATCH_KEEP_MAX)
        scratch_release(x.sc);
    return rc;
}

int feat_extract_hash(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *resp, size_t resp_len, struct feat_vec *out)
{
    return feat_extract_many(hash, bits, prompt, prompt_len, &resp, &resp_len, 1, out);
}
