/* feat.c - tokenizer and signed hashed features (see feat.h). */
#include "feat.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
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

static int is_alnum_ascii(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
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
    const unsigned char *s = (const unsigned char *)text;
    struct tok_buf b = {NULL, 0, 0};
    struct feat_token cur = {FNV_OFFSET, 0, 0, 0};
    int in_word = 0, all_digits = 1, rc = 0;
    size_t i = 0;

    *toks = NULL;
    *ntoks = 0;
    while (i <= len) {
        unsigned char c = i < len ? s[i] : 0;
        size_t step = 1;
        const unsigned char *add = NULL; /* normalised bytes to append to the word */
        unsigned char low;
        int word_byte = 0;

        if (i < len && c < 0x80 && (is_alnum_ascii(c) || c == '\'')) {
            /* The common case: a run of ASCII word bytes, hashed in a
             * tight loop. */
            if (!in_word) {
                cur.hash = FNV_OFFSET;
                cur.start = i;
                in_word = 1;
            }
            do {
                unsigned char ch = s[i];
                all_digits &= (unsigned)(ch - '0') < 10u;
                cur.hash ^= (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
                cur.hash *= FNV_PRIME;
                i++;
            } while (i < len && s[i] < 0x80 && (is_alnum_ascii(s[i]) || s[i] == '\''));
            continue;
        } else if (i < len && c >= 0x80) {
            step = utf8_seq_len(s + i, len - i);
            if (step == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                (s[i + 2] == 0x98 || s[i + 2] == 0x99)) {
                low = '\'';
                add = &low;
                word_byte = 1;
                all_digits = 0;
            } else if (step) {
                word_byte = 2; /* whole sequence, appended below */
                all_digits = 0;
            } else
                step = 1; /* invalid byte: separator */
        }
        if (word_byte) {
            if (!in_word) {
                cur.hash = FNV_OFFSET;
                cur.start = i;
                in_word = 1;
            }
            if (word_byte == 1) {
                cur.hash ^= *add;
                cur.hash *= FNV_PRIME;
            } else {
                for (size_t k = 0; k < step; k++) {
                    cur.hash ^= s[i + k];
                    cur.hash *= FNV_PRIME;
                }
            }
            i += step;
            continue;
        }
        if (in_word) {
            cur.len = i - cur.start;
            cur.kind = all_digits ? FEAT_TOK_NUMBER : FEAT_TOK_WORD;
            rc = tok_push(&b, &cur);
            if (rc)
                goto out;
            in_word = 0;
            all_digits = 1;
        }
        if (i < len && c > 0x20 && c < 0x7f) {
            struct feat_token p = {feat_fnv1a64(&c, 1), i, 1, FEAT_TOK_PUNCT};
            rc = tok_push(&b, &p);
            if (rc)
                goto out;
        }
        i += step;
    }
out:
    if (rc) {
        free(b.t);
        return rc;
    }
    *toks = b.t;
    *ntoks = b.n;
    return 0;
}

/* ---- the FEAT_HASH_FX tokenizer ----------------------------------------
 * The same tokens as feat_tokenize, found with a byte class table; an ASCII
 * word (the common case) is hashed straight from the input 8 bytes at a
 * time, a word with multi-byte characters through a small stream. */

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

static int tokenize_fx(const unsigned char *s, size_t len, struct tok_buf *b)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = byte_class[s[i]];
        struct feat_token t;
        if ((c & BC_WORD) || word_seq_len(s, len, i)) {
            fx_word(s, len, &i, &t);
        } else if (c & BC_PUNCT) {
            t = (struct feat_token){fx_step(0, s[i]), i, 1, FEAT_TOK_PUNCT};
            i++;
        } else {
            i++; /* whitespace, control or an invalid byte: a separator */
            continue;
        }
        int rc = tok_push(b, &t);
        if (rc)
            return rc;
    }
    return 0;
}

int feat_tokenize_hash(enum feat_hash hash, const char *text, size_t len, struct feat_token **toks,
                       size_t *ntoks)
{
    if (hash == FEAT_HASH_FNV1A)
        return feat_tokenize(text, len, toks, ntoks);
    *toks = NULL;
    *ntoks = 0;
    if (hash != FEAT_HASH_FX)
        return -EINVAL;
    /* About one token in 4 bytes of text: room for them from the start. */
    struct tok_buf b = {NULL, 0, len / 4 + 16 < 4096 ? len / 4 + 16 : 4096};
    b.t = malloc(b.cap * sizeof(*b.t));
    if (!b.t)
        return -ENOMEM;
    int rc = tokenize_fx((const unsigned char *)text, len, &b);
    if (rc || !b.n) {
        free(b.t); /* no tokens: NULL, as feat_tokenize */
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

/* A hashed entry before sorting and folding: sorting by key orders the
 * buckets and, within one bucket, the families. */
struct entry {
    uint32_t key; /* bucket << FAM_BITS | family */
    float val;
};

struct entries {
    struct entry *e;
    struct entry *tmp; /* scratch of the same capacity, for sorting */
    size_t n, cap;
};

static int entries_reserve(struct entries *es, size_t more)
{
    if (es->n + more <= es->cap)
        return 0;
    size_t ncap = es->cap ? es->cap : 256;
    while (ncap < es->n + more)
        ncap *= 2;
    struct entry *ne = realloc(es->e, ncap * sizeof(*ne));
    if (!ne)
        return -ENOMEM;
    es->e = ne;
    struct entry *nt = realloc(es->tmp, ncap * sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    es->tmp = nt;
    es->cap = ncap;
    return 0;
}

/* Appends the signed bucket of key in family f; space must have been
 * reserved. */
static inline void entries_add(struct entries *es, uint64_t key, uint32_t mask, float v,
                               enum family f)
{
    uint64_t h = mix64(key);
    es->e[es->n].key = ((uint32_t)h & mask) << FAM_BITS | (uint32_t)f;
    es->e[es->n].val = (h >> 63) ? -v : v;
    es->n++;
}

#define BUCKET_MAX_BITS 11u /* widest bucket digit: 2048 counters stay in L1 */

/* Stable insertion sort of e[0..n) by key: linear on nearly sorted input. */
static void insertion_sort(struct entry *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct entry x = e[i];
        size_t j = i;
        while (j > 0 && e[j - 1].key > x.key) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = x;
    }
}

/* Stable sort of e[0..n), keys below 2^width, by key into out (e is left
 * as it was when n < 32, in pieces otherwise). Hashed keys are uniform, so
 * one counting pass on their top bits (about one bucket per entry) leaves
 * the array nearly sorted, and an insertion sort finishes it in linear
 * time: several times faster than qsort on the few hundred entries of one
 * text. */
static void sort_entries(struct entry *e, size_t n, unsigned width, struct entry *out)
{
    if (n < 32) {
        memcpy(out, e, n * sizeof *e);
        insertion_sort(out, n);
        return;
    }
    unsigned bits = 1;
    while (bits < BUCKET_MAX_BITS && ((size_t)1 << bits) < n)
        bits++;
    if (bits > width)
        bits = width;
    unsigned shift = width - bits;
    uint32_t count[1u << BUCKET_MAX_BITS];
    size_t nb = (size_t)1 << bits;
    memset(count, 0, nb * sizeof count[0]);
    for (size_t i = 0; i < n; i++)
        count[e[i].key >> shift]++;
    uint32_t sum = 0;
    for (size_t d = 0; d < nb; d++) {
        uint32_t c = count[d];
        count[d] = sum;
        sum += c;
    }
    for (size_t i = 0; i < n; i++)
        out[count[e[i].key >> shift]++] = e[i];
    insertion_sort(out, n);
}

/* Sums the entries of one family in one bucket (in order) in the sorted
 * e[0..n), keeps the nonzero sums (dense entries one by one, as they are)
 * and adds their squares to ss[family]; returns the new count. The sums of
 * the normalised families are sums of +-1, their squares whole numbers, so
 * ss does not depend on the order they are added in. */
static size_t fold_families(struct entry *e, size_t n, double ss[FAM_NORMALISED])
{
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        struct entry x = e[r++];
        if ((x.key & ((1u << FAM_BITS) - 1)) == FAM_DENSE) {
            e[w++] = x;
            continue;
        }
        while (r < n && e[r].key == x.key)
            x.val += e[r++].val;
        if (x.val != 0.0f) {
            ss[x.key & ((1u << FAM_BITS) - 1)] += (double)x.val * x.val;
            e[w++] = x;
        }
    }
    return w;
}

/* Scales each normalised family of the folded e[0..n) to unit L2 norm (a
 * family's weight in phi is then fixed whatever the length of the text) and
 * writes phi to out, the families of one bucket summed in family order and
 * zero sums dropped. out has room for n entries. */
static void write_phi(const struct entry *e, size_t n, const double ss[FAM_NORMALISED],
                      struct feat_vec *out)
{
    float inv[FAM_DENSE + 1] = {1.0f, 1.0f, 1.0f, 1.0f};
    for (unsigned f = 0; f < FAM_NORMALISED; f++)
        if (ss[f] > 0.0)
            inv[f] = (float)(1.0 / sqrt(ss[f]));
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        uint32_t idx = e[r].key >> FAM_BITS;
        unsigned f = e[r].key & ((1u << FAM_BITS) - 1);
        float v = f == FAM_DENSE ? e[r].val : e[r].val * inv[f];
        for (r++; r < n && e[r].key >> FAM_BITS == idx; r++) {
            f = e[r].key & ((1u << FAM_BITS) - 1);
            v += f == FAM_DENSE ? e[r].val : e[r].val * inv[f];
        }
        if (v != 0.0f) {
            out->idx[w] = idx;
            out->val[w++] = v;
        }
    }
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

/* First probe slot: one multiply, enough to spread FNV-1a token hashes. */
static inline size_t hset_home(const struct hset *s, uint64_t h)
{
    return (size_t)((h * 0x9e3779b97f4a7c15ULL) >> s->shift);
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

/* Returns 1 and its slot when h is in the set, else 0. */
static int hset_find(const struct hset *s, uint64_t h, size_t *slot)
{
    if (!h)
        h = 1;
    for (size_t i = hset_home(s, h);; i = (i + 1) & s->mask) {
        if (s->slot[i] == h) {
            *slot = i;
            return 1;
        }
        if (!s->slot[i])
            return 0;
    }
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
    int rc = hset_init(&p->ps, np);
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

/* Features that compare response tokens rt with the prompt's words p:
 * fills the D_PROMPT_* dense values and adds the response-unigram-in-prompt
 * family. Leaves p as it found it (no word covered), for the next response. */
static int prompt_features(struct prompt_set *p, const struct feat_token *rt, size_t nr,
                           uint32_t mask, struct entries *es, double *d)
{
    size_t words = 0, in_prompt = 0, pdistinct = 0, pcovered = 0, pnum = 0, pnum_cov = 0;
    size_t rnum = 0, rnum_new = 0;
    unsigned char *flags = p->flags;
    int rc = entries_reserve(es, nr);
    if (rc)
        return rc;
    for (size_t i = 0; i < nr; i++) {
        if (rt[i].kind == FEAT_TOK_PUNCT)
            continue;
        size_t slot;
        int hit = hset_find(&p->ps, rt[i].hash, &slot);
        words++;
        in_prompt += (size_t)hit;
        if (rt[i].kind == FEAT_TOK_NUMBER) {
            rnum++;
            rnum_new += (size_t)!hit;
        }
        if (hit) {
            flags[slot] |= FLAG_COVERED;
            entries_add(es, rt[i].hash ^ NS_XP, mask, 1.0f, FAM_XP);
        }
    }
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
    return 0;
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

/* Appends the response's unigrams and bigrams, with room reserved for the
 * families that follow (at most nr prompt-overlap and D_COUNT dense
 * entries). Returns 0 or -ENOMEM. */
static int ngram_features(const struct feat_token *rt, size_t nr, uint32_t mask, struct entries *es)
{
    int rc = entries_reserve(es, 3 * nr + D_COUNT + 16);
    if (rc)
        return rc;
    for (size_t i = 0; i < nr; i++)
        entries_add(es, rt[i].hash ^ NS_UNI, mask, 1.0f, FAM_UNI);
    for (size_t i = 0; i + 1 < nr; i++)
        entries_add(es, (rt[i].hash * FNV_PRIME + rt[i + 1].hash) ^ NS_BI, mask, 1.0f, FAM_BI);
    return 0;
}

/* Appends the nonzero dense features d[0..D_COUNT). Returns 0 or -ENOMEM. */
static int dense_features(const double *d, uint32_t mask, struct entries *es)
{
    int rc = entries_reserve(es, D_COUNT);
    if (rc)
        return rc;
    for (unsigned k = 0; k < D_COUNT; k++)
        if (d[k] != 0.0)
            entries_add(es, NS_DENSE + k, mask, (float)d[k], FAM_DENSE);
    return 0;
}

int feat_extract(unsigned bits, const char *prompt, size_t prompt_len, const char *resp,
                 size_t resp_len, struct feat_vec *out)
{
    return feat_extract_hash(FEAT_HASH_FNV1A, bits, prompt, prompt_len, resp, resp_len, out);
}

/* What extracting the responses of one prompt shares. */
struct extract {
    enum feat_hash hash;
    unsigned bits;
    uint32_t mask;
    size_t prompt_len;
    struct prompt_set p;
    struct entries es; /* reused from one response to the next */
};

/* phi(prompt, resp) into out, the prompt read beforehand into x. Returns 0
 * or a negative errno. */
static int extract_one(struct extract *x, const char *resp, size_t resp_len, struct feat_vec *out)
{
    struct feat_token *rt = NULL;
    size_t nr = 0;
    double d[D_COUNT] = {0};
    struct entries *es = &x->es;
    es->n = 0;
    int rc = feat_tokenize_hash(x->hash, resp, resp_len, &rt, &nr);
    if (!rc)
        rc = ngram_features(rt, nr, x->mask, es);
    if (!rc)
        rc = prompt_features(&x->p, rt, nr, x->mask, es, d);
    free(rt);
    if (rc)
        return rc;
    surface_stats((const unsigned char *)resp, resp_len, d);
    d[D_LOG_TOKENS] = log1p((double)nr) / 6.0;
    d[D_LOG_RATIO] = (log1p((double)resp_len) - log1p((double)x->prompt_len)) / 4.0;
    rc = dense_features(d, x->mask, es);
    if (rc)
        return rc;
    /* One stable sort of every family; folding each family's duplicates
     * then gives the sums and norms that sorting, merging and normalising
     * each family apart gave, bit for bit. */
    sort_entries(es->e, es->n, x->bits + FAM_BITS, es->tmp);
    double ss[FAM_NORMALISED] = {0.0, 0.0, 0.0};
    size_t n = fold_families(es->tmp, es->n, ss);
    rc = vec_reserve(out, n);
    if (!rc)
        write_phi(es->tmp, n, ss, out);
    return rc;
}

int feat_extract_many(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *const *resp, const size_t *resp_len, size_t n,
                      struct feat_vec *out)
{
    struct feat_token *pt = NULL;
    size_t np = 0;
    struct extract x = {hash, bits, 0, prompt_len, {{NULL, 0, 0}, NULL}, {NULL, NULL, 0, 0}};
    int rc = 0;

    for (size_t k = 0; k < n; k++)
        out[k].n = 0;
    if (bits < FEAT_BITS_MIN || bits > FEAT_BITS_MAX || (!prompt && prompt_len))
        return -EINVAL;
    for (size_t k = 0; k < n; k++)
        if (!resp[k] && resp_len[k])
            return -EINVAL;
    x.mask = (uint32_t)((1ULL << bits) - 1);
    rc = feat_tokenize_hash(hash, prompt, prompt_len, &pt, &np);
    if (!rc)
        rc = prompt_set_init(&x.p, pt, np);
    free(pt);
    if (rc)
        return rc;
    for (size_t k = 0; k < n && !rc; k++)
        rc = extract_one(&x, resp[k], resp_len[k], &out[k]);
    for (size_t k = 0; k < n && rc; k++)
        out[k].n = 0;
    prompt_set_free(&x.p);
    free(x.es.e);
    free(x.es.tmp);
    return rc;
}

int feat_extract_hash(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *resp, size_t resp_len, struct feat_vec *out)
{
    return feat_extract_many(hash, bits, prompt, prompt_len, &resp, &resp_len, 1, out);
}
