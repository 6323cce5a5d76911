/* check_form.c - repetition, truncation, balance, refusals (see check.h). */
#include "check.h"
#include "check_scan.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REPEAT_FLAG 0.25 /* a repetition share from which a finding is added */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes that make words for repetition, as check_ctype bits: ASCII
 * letters and digits, and every byte of a multi-byte sequence (so a word
 * never splits one). */
#define WORD_CT (CHECK_CT_ALPHA | CHECK_CT_DIGIT | CHECK_CT_HIGH)

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- repetition -------------------------------------------------------- */

#define GRAMS_STACK 1024 /* table slots on the stack: texts to ~500 words */

/* Word 4-grams seen so far, in an open-addressing set of their hashes (0
 * marks an empty slot) kept at most half full: on the stack while the text
 * is short, moved to the heap, doubling, as it grows. */
struct grams {
    uint64_t stack[GRAMS_STACK];
    uint64_t *slot;    /* stack or a heap array */
    size_t mask;       /* slots - 1 */
    size_t used;       /* slots in use */
    uint64_t w[4];     /* hashes of the last four words, word k at k % 4 */
    size_t start[4];   /* their offsets */
    uint64_t gram;     /* the last four: w[k] ^ rotl(w[k - 1], 16) ^ ... */
    size_t words;      /* words seen */
    size_t total, rep; /* 4-grams counted, of which repeats */
    size_t first;      /* start of the first repeated 4-gram */
};

/* Empties g for a text of len bytes: a text has fewer than len / 2
 * 4-grams, so a table of the power of two >= len slots (at least 64, at
 * most GRAMS_STACK) stays half full without growing; only those slots
 * are cleared. */
static void grams_init(struct grams *g, size_t len)
{
    size_t slots = 64;
    while (slots < len && slots < GRAMS_STACK)
        slots *= 2;
    memset(g->stack, 0, slots * sizeof(g->stack[0]));
    g->slot = g->stack;
    g->mask = slots - 1;
    g->used = g->words = g->total = g->rep = g->first = 0;
    memset(g->w, 0, sizeof(g->w));
    g->gram = 0;
}

static void grams_free(struct grams *g)
{
    if (g->slot != g->stack)
        free(g->slot);
}

/* Adds h; returns 1 when it was already there. */
static int grams_add(struct grams *g, uint64_t h)
{
    h = h ? h : 1;
    /* The top bits of a multiply: the word hashes' low bits are weak. */
    size_t i = (size_t)((h * 0x9e3779b97f4a7c15ULL) >> 40) & g->mask;
    while (g->slot[i]) {
        if (g->slot[i] == h)
            return 1;
        i = (i + 1) & g->mask;
    }
    g->slot[i] = h;
    g->used++;
    return 0;
}

/* Doubles the table when it is half full. Returns 0 or -ENOMEM. */
static int grams_grow(struct grams *g)
{
    if (2 * g->used < g->mask + 1)
        return 0;
    size_t slots = 2 * (g->mask + 1);
    uint64_t *old = g->slot, *fresh = calloc(slots, sizeof(uint64_t));
    size_t n = g->mask + 1;
    if (!fresh)
        return -ENOMEM;
    g->slot = fresh;
    g->mask = slots - 1;
    g->used = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i])
            grams_add(g, old[i]);
    if (old != g->stack)
        free(old);
    return 0;
}

/* Counts the word with hash h at offset b: the 4-gram it ends, when there
 * is one and fewer than CHECK_NGRAM_MAX were counted. Returns 0 or -ENOMEM. */
static int grams_word(struct grams *g, uint64_t h, size_t b)
{
    size_t k = g->words & 3;
    /* Rotating by 16 a word four times over is no rotation: the oldest
     * word leaves the 4-gram's hash by a xor, one step per word. */
    g->gram = ((g->gram << 16) | (g->gram >> 48)) ^ h ^ g->w[k];
    g->w[k] = h;
    g->start[k] = b;
    if (g->words++ < 3 || g->total == CHECK_NGRAM_MAX)
        return 0;
    g->total++;
    if (grams_add(g, g->gram) && !g->rep++)
        g->first = g->start[(k + 1) & 3]; /* the 4-gram's first word */
    return grams_grow(g);
}

/* ---- truncation and balance --------------------------------------------- */

/* 1 when the text ends inside a UTF-8 sequence. */
static int cut_utf8(const unsigned char *u, size_t len)
{
    size_t i = len, back = 0;
    while (i > 0 && back < 3 && (u[i - 1] & 0xc0) == 0x80)
        i--, back++;
    if (i == 0 || u[i - 1] < 0xc0)
        return 0;
    unsigned char lead = u[i - 1];
    size_t want = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
    return back < want;
}

/* Words after which no sentence ends. */
static const char *const DANGLING[] = {"the",  "a",   "an", "and", "or",  "of",      "to",
                                       "with", "for", "is", "are", "was", "because", "that",
                                       "in",   "on",  "at", "by",  "but", "which",   "than"};

/* 1 when the text, without trailing blanks s[0..e), stops where no sentence
 * can: after ',' ':' ';' '(' an operator, or a dangling word. *at gets the
 * span start of the culprit. */
static int dangling_end(const char *s, size_t e, size_t *at)
{
    if (e == 0)
        return 0;
    *at = e - 1;
    if (check_one_of(s[e - 1], ",:;(+*/=-"))
        return 1;
    size_t b = e;
    while (b > 0 && is_alpha(s[b - 1]))
        b--;
    if (b == e || e - b > 7 || (b > 0 && (unsigned char)s[b - 1] >= 0x80))
        return 0;
    for (size_t k = 0; k < sizeof(DANGLING) / sizeof(DANGLING[0]); k++) {
        size_t n = strlen(DANGLING[k]), j = 0;
        while (j < n && j < e - b && lower(s[b + j]) == DANGLING[k][j])
            j++;
        if (j == n && n == e - b) {
            *at = b;
            return 1;
        }
    }
    return 0;
}

/* Bracket balance state, one depth per kind: "()", "[]", "{}". */
struct balance {
    size_t depth[3];
    size_t first_open[3]; /* where each kind's outermost open bracket is */
    int bad;              /* a close bracket with nothing open */
    size_t bad_at;
};

/* 1 when the ')' at s[i] is a list label ("1)", "a)" at a line start) or a
 * smiley (":)"), not a bracket. */
static int not_bracket(const char *s, size_t i)
{
    if (i > 0 && (s[i - 1] == ':' || s[i - 1] == ';'))
        return 1;
    size_t b = i;
    while (b > 0 && i - b < 3 && ((s[b - 1] >= '0' && s[b - 1] <= '9') || is_alpha(s[b - 1])))
        b--;
    if (b == i)
        return 0;
    while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    return b == 0 || s[b - 1] == '\n';
}

/* The kind of bracket c is (0 "()", 1 "[]", 2 "{}") and whether it opens;
 * -1 for any other byte. A switch: this runs on every byte. */
static int bracket_kind(char c, int *opens)
{
    *opens = c == '(' || c == '[' || c == '{';
    switch (c) {
    case '(':
    case ')':
        return 0;
    case '[':
    case ']':
        return 1;
    case '{':
    case '}':
        return 2;
    default:
        return -1;
    }
}

static void bracket(struct balance *bl, const char *s, size_t i)
{
    int opens, k = bracket_kind(s[i], &opens);
    if (k < 0)
        return;
    if (opens) {
        if (bl->depth[k]++ == 0)
            bl->first_open[k] = i;
    } else if (bl->depth[k]) {
        bl->depth[k]--;
    } else if (!bl->bad && !(k == 0 && not_bracket(s, i))) {
        bl->bad = 1, bl->bad_at = i;
    }
}

/* 1 when a line starting at s[i] opens or closes a code fence (``` or ~~~
 * after at most three spaces). */
static int fence_line(const char *s, size_t len, size_t i)
{
    size_t b = i;
    while (b < len && b - i < 3 && s[b] == ' ')
        b++;
    return len - b >= 3 && (!memcmp(s + b, "```", 3) || !memcmp(s + b, "~~~", 3));
}

/* ---- refusals ---------------------------------------------------------- */

/* Lowercase, with ' standing for ' or U+2019. */
static const char *const REFUSALS[] = {
    "i can't",         "i cannot",       "i can not",        "i won't be able",  "i'm sorry, but",
    "i am sorry, but", "as an ai",       "i'm not able to",  "i am not able to", "i'm unable to",
    "i am unable to",  "i must decline", "i apologize, but", "i'm afraid i",     "i will not",
};

/* Bytes of phrase p matched at s[i] (whole words), or 0. */
static size_t phrase_at(const char *s, size_t len, size_t i, const char *p)
{
    size_t j = i;
    for (; *p; p++) {
        if (*p == '\'' && len - j >= 3 && !memcmp(s + j, "\xe2\x80\x99", 3))
            j += 3;
        else if (j < len && lower(s[j]) == *p)
            j++;
        else
            return 0;
    }
    return j < len && is_alpha(s[j]) ? 0 : j - i;
}

/* Refusal phrases found by the pass, added as findings at its end (so
 * that the numbers findings of a fused pass come first). More than
 * CHECK_FINDINGS_MAX are only counted: a result holds no more, and an info
 * finding past a full result is dropped. */
struct refusal_spans {
    size_t at[CHECK_FINDINGS_MAX], len[CHECK_FINDINGS_MAX];
    size_t n; /* phrases found */
};

static void refusals(const char *s, size_t len, size_t i, struct refusal_spans *rs)
{
    /* Every phrase starts "i " "i'" "i’" or "as": most bytes leave here. */
    char c = lower(s[i]), d = i + 1 < len ? lower(s[i + 1]) : 0;
    if (!(c == 'i' && (d == ' ' || d == '\'' || d == '\xe2')) && !(c == 'a' && d == 's'))
        return;
    if (i > 0 && is_alpha(s[i - 1]))
        return;
    for (size_t k = 0; k < sizeof(REFUSALS) / sizeof(REFUSALS[0]); k++) {
        size_t n = phrase_at(s, len, i, REFUSALS[k]);
        if (n) {
            if (rs->n < CHECK_FINDINGS_MAX)
                rs->at[rs->n] = i, rs->len[rs->n] = n;
            rs->n++;
            return;
        }
    }
}

/* The refusal findings and count, as check_add would have had them one by
 * one during the pass. */
static void add_refusals(const struct refusal_spans *rs, struct check_result *r)
{
    size_t kept = rs->n < CHECK_FINDINGS_MAX ? rs->n : CHECK_FINDINGS_MAX;
    r->v[CHECK_FORM_REFUSAL] += (double)rs->n;
    for (size_t k = 0; k < kept; k++)
        check_add(r, "form", "refusal", CHECK_INFO, rs->at[k], rs->len[k], "a refusal phrase");
    r->dropped += rs->n - kept; /* r is full: each would have been dropped */
}

/* ---- all of form ------------------------------------------------------- */

/* Where the text's form stands after the pass. */
struct form {
    struct grams g;
    struct balance bl;
    struct refusal_spans rs;
    size_t fences;   /* fence lines seen */
    size_t fence_at; /* where the last opening fence is */
};

static void fence(struct form *f, const char *s, size_t len, size_t i)
{
    if (fence_line(s, len, i) && f->fences++ % 2 == 0)
        f->fence_at = i;
}

/* ---- words --------------------------------------------------------------
 * A word (WORD_CT bytes) is read 8 bytes at a time where the byte order is
 * little-endian: one table-free test per 8 bytes finds its end, and its
 * hash takes one multiply per 8 bytes (FxHash's step over the word's bytes,
 * letters lowercased, the last chunk zero-padded; no word byte is NUL, so
 * the padding is unambiguous). Only equal 4-grams of hashes are compared,
 * so the hash is the form checker's own affair. */

#define FX_K 0x517cc1b727220a95ULL /* FxHash's multiplier */

static inline uint64_t fx_step(uint64_t h, uint64_t w)
{
    return (((h << 5) | (h >> 59)) ^ w) * FX_K;
}

/* What the pass needs of a word. */
struct word {
    uint64_t hash;
    uint64_t key; /* its first 8 bytes lowercased, zero-padded */
    int alpha;    /* letters only */
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_SWAR 1
/* 0x80 in each byte of x (bytes below 0x80) that lies in [lo, hi]. */
static inline uint64_t swar_in(uint64_t x, unsigned lo, unsigned hi)
{
    return (x + CHECK_ONES8 * (0x80u - lo)) & ~(x + CHECK_ONES8 * (0x7fu - hi)) & CHECK_HIGH8;
}
#else
#define WORD_SWAR 0
#endif

/* Reads the word at s[i] (a WORD_CT byte) into *wd; returns its end. */
static inline size_t word_at(const unsigned char *s, size_t len, size_t i, struct word *wd)
{
    uint64_t h = 0, other = 0; /* 0x80 per byte that is no letter */
    int first = 1;
#if WORD_SWAR
    for (; i + 8 <= len; i += 8) {
        uint64_t w = check_load8((const char *)s + i), x = w & ~CHECK_HIGH8;
        uint64_t ascii = ~w & CHECK_HIGH8;
        uint64_t alpha = swar_in(x | CHECK_ONES8 * 0x20, 'a', 'z') & ascii;
        uint64_t word = (swar_in(x, '0', '9') & ascii) | alpha | (w & CHECK_HIGH8);
        uint64_t lw = w | alpha >> 2; /* 0x20 into each letter */
        if (word != CHECK_HIGH8) {    /* the word ends in these 8 bytes */
            unsigned n = (unsigned)__builtin_ctzll(~word & CHECK_HIGH8) / 8;
            uint64_t keep = n ? (UINT64_C(1) << (8 * n)) - 1 : 0;
            if (n) {
                h = fx_step(h, lw & keep);
                other |= ~alpha & CHECK_HIGH8 & keep;
            }
            wd->key = first ? lw & keep : wd->key;
            wd->hash = h;
            wd->alpha = !other;
            return i + n;
        }
        h = fx_step(h, lw);
        other |= ~alpha & CHECK_HIGH8;
        wd->key = first ? lw : wd->key;
        first = 0;
    }
#endif
    for (;;) { /* the last bytes of the text, or any byte order */
        uint64_t w = 0;
        unsigned n = 0, ct;
        for (; n < 8 && i < len && ((ct = check_ctype[s[i]]) & WORD_CT); i++, n++) {
            w |= (uint64_t)(s[i] | (ct & CHECK_CT_ALPHA) << 4) << (8 * n);
            other |= ct & ~(unsigned)CHECK_CT_ALPHA;
        }
        if (n)
            h = fx_step(h, w);
        wd->key = first ? w : wd->key;
        first = 0;
        if (n < 8) {
            wd->hash = h;
            wd->alpha = !other;
            return i;
        }
    }
}

/* One pass: words feed the 4-grams (and, where they start, the refusal
 * phrases), the bytes between them the fences and brackets; when ns is not
 * NULL, words and the '.' and '<' between them feed the numbers scan too.
 * Returns 0 or -ENOMEM. */
static int scan(struct form *f, const char *s, size_t len, struct check_numscan *ns)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    fence(f, s, len, 0);
    while (i < len) {
        unsigned ct = check_ctype[u[i]];
        if (!(ct & WORD_CT)) {
            if (ct & CHECK_CT_NL)
                fence(f, s, len, i + 1);
            else if (ct & CHECK_CT_OPEN)
                bracket(&f->bl, s, i);
            else if (ns && (ct & (CHECK_CT_DOT | CHECK_CT_LT)))
                check_numscan_byte(ns, s, len, i, ct);
            i++;
            continue;
        }
        size_t b = i;
        struct word wd;
        i = word_at(u, len, i, &wd);
        /* Every refusal phrase starts with the word "i", "as", or "i" and
         * U+2019 (a word byte here): only those words are looked at. */
        if (((wd.key & 0xff) == 'i' && (i - b == 1 || (wd.key >> 8 & 0xff) == 0xe2)) |
            (wd.key == ('a' | 's' << 8)))
            refusals(s, len, b, &f->rs);
        if (grams_word(&f->g, wd.hash, b))
            return -ENOMEM;
        if (!ns)
            continue;
        if (wd.alpha && b >= ns->next) { /* a number word, or no number */
            double v = check_numword_value(wd.key, i - b);
            if (v >= 0)
                check_numscan_value(ns, v);
        } else {
            check_numscan_word(ns, s, len, b, i, wd.alpha, wd.key);
        }
    }
    return 0;
}

/* Findings and features of an unbalanced or truncated end. */
static void ending(const struct form *f, const char *s, size_t len, struct check_result *r)
{
    const struct balance *bl = &f->bl;
    int open_fence = f->fences % 2;
    size_t e = len, at = 0;
    if (open_fence || bl->bad || bl->depth[0] || bl->depth[1] || bl->depth[2]) {
        size_t k = bl->depth[0] ? 0 : bl->depth[1] ? 1 : 2;
        size_t where = open_fence ? f->fence_at : bl->bad ? bl->bad_at : bl->first_open[k];
        r->v[CHECK_FORM_UNBALANCED] = 1;
        check_add(r, "form", "unbalanced", CHECK_FAIL, where, open_fence ? 3 : 1, "%s",
                  open_fence ? "a code fence that is never closed" : "an unbalanced bracket");
    }
    while (e > 0 && check_one_of(s[e - 1], " \t\r\n"))
        e--;
    if (open_fence || cut_utf8((const unsigned char *)s, len) || dangling_end(s, e, &at)) {
        at = open_fence ? f->fence_at : at > e ? e : at;
        r->v[CHECK_FORM_TRUNCATED] = 1;
        check_add(r, "form", "truncated", CHECK_FAIL, at, e - at, "the text stops mid-%s",
                  open_fence ? "code block" : "sentence");
    }
}

int check_form_numbers(struct check_numscan *ns, const char *resp, size_t len,
                       struct check_result *r)
{
    if (!r || (!resp && len))
        return -EINVAL;
    /* 8 KB of 4-gram table on the stack: most texts never touch the heap. */
    struct form f;
    grams_init(&f.g, len);
    memset(&f.bl, 0, sizeof(f.bl));
    f.rs.n = 0;
    f.fences = f.fence_at = 0;
    int rc = scan(&f, resp, len, ns);
    grams_free(&f.g);
    if (rc && ns) /* the numbers scan stopped with the pass: its own pass */
        check_numscan_redo(ns, resp, len);
    if (ns)
        check_numscan_end(ns);
    if (rc) /* as documented: no form features, no form findings */
        return rc;
    add_refusals(&f.rs, r);
    double share = f.g.total ? (double)f.g.rep / (double)f.g.total : 0.0;
    r->v[CHECK_FORM_REPETITION] = share;
    if (share >= REPEAT_FLAG)
        check_add(r, "form", "repetition", CHECK_FAIL, f.g.first, len - f.g.first,
                  "%.0f%% of its 4-word sequences repeat earlier ones", share * 100.0);
    ending(&f, resp, len, r);
    return 0;
}

int check_form(const char *resp, size_t len, struct check_result *r)
{
    return check_form_numbers(NULL, resp, len, r);
}
