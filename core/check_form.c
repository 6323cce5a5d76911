/* check_form.c - repetition, truncation, balance, refusals (see check.h). */
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REPEAT_FLAG 0.25 /* a repetition share from which a finding is added */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes that make words for repetition: ASCII letters and digits, and every
 * byte of a multi-byte sequence (so a word never splits one). */
static int word_byte(unsigned char c)
{
    return is_alpha((char)c) || (c >= '0' && c <= '9') || c >= 0x80;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ---- repetition -------------------------------------------------------- */

/* Open-addressing set of 4-gram hashes; 0 marks an empty slot. */
struct grams {
    uint64_t *slot;
    size_t mask;
};

/* Adds h; returns 1 when it was already there. */
static int grams_add(struct grams *g, uint64_t h)
{
    h = h ? h : 1;
    size_t i = (size_t)(h ^ (h >> 29)) & g->mask;
    while (g->slot[i]) {
        if (g->slot[i] == h)
            return 1;
        i = (i + 1) & g->mask;
    }
    g->slot[i] = h;
    return 0;
}

static size_t count_words(const unsigned char *u, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += word_byte(u[i]) && (i == 0 || !word_byte(u[i - 1]));
    return n;
}

#define GRAMS_STACK 1024 /* table slots kept on the stack: texts to ~500 words */

/* Share of word 4-grams already seen earlier in the text, over the first
 * CHECK_NGRAM_MAX; *first gets the start of the first repeated one. A short
 * text's table lives on the stack, a long one's on the heap. Returns 0 or
 * -ENOMEM. */
static int repetition(const char *s, size_t len, double *share, size_t *first)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t words = count_words(u, len), cap = 16, total = 0, rep = 0, i = 0, n = 0;
    uint64_t stack[GRAMS_STACK];
    *share = 0.0;
    if (words < 4)
        return 0;
    while (cap < 2 * words && cap < 2 * CHECK_NGRAM_MAX)
        cap *= 2;
    struct grams g = {cap <= GRAMS_STACK ? stack : malloc(cap * sizeof(uint64_t)), cap - 1};
    if (!g.slot)
        return -ENOMEM;
    memset(g.slot, 0, cap * sizeof(uint64_t));
    uint64_t w[4] = {0};   /* hashes of the last four words, a ring */
    size_t start[4] = {0}; /* their offsets */
    while (i < len && total < CHECK_NGRAM_MAX) {
        if (!word_byte(u[i])) {
            i++;
            continue;
        }
        uint64_t h = 0xcbf29ce484222325ULL;
        start[n % 4] = i;
        for (; i < len && word_byte(u[i]); i++)
            h = (h ^ (unsigned char)lower(s[i])) * 0x100000001b3ULL;
        w[n++ % 4] = h;
        if (n < 4)
            continue;
        total++;
        uint64_t gram =
            ((w[n % 4] * 31 + w[(n + 1) % 4]) * 31 + w[(n + 2) % 4]) * 31 + w[(n + 3) % 4];
        if (grams_add(&g, gram) && !rep++)
            *first = start[n % 4];
    }
    if (g.slot != stack)
        free(g.slot);
    *share = total ? (double)rep / (double)total : 0.0;
    return 0;
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

static void refusals(const char *s, size_t len, size_t i, struct check_result *r)
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
            r->v[CHECK_FORM_REFUSAL]++;
            check_add(r, "form", "refusal", CHECK_INFO, i, n, "a refusal phrase");
            return;
        }
    }
}

/* ---- all of form ------------------------------------------------------- */

/* Fences, brackets and refusals in one pass; truncation at the end. */
static void structure(const char *s, size_t len, struct check_result *r)
{
    struct balance bl = {{0}, {0}, 0, 0};
    size_t fences = 0, fence_at = 0, e = len, at = 0;
    for (size_t i = 0; i < len; i++) {
        if ((i == 0 || s[i - 1] == '\n') && fence_line(s, len, i) && fences++ % 2 == 0)
            fence_at = i;
        bracket(&bl, s, i);
        refusals(s, len, i, r);
    }
    int open_fence = fences % 2;
    if (open_fence || bl.bad || bl.depth[0] || bl.depth[1] || bl.depth[2]) {
        size_t k = bl.depth[0] ? 0 : bl.depth[1] ? 1 : 2;
        size_t where = open_fence ? fence_at : bl.bad ? bl.bad_at : bl.first_open[k];
        r->v[CHECK_FORM_UNBALANCED] = 1;
        check_add(r, "form", "unbalanced", CHECK_FAIL, where, open_fence ? 3 : 1, "%s",
                  open_fence ? "a code fence that is never closed" : "an unbalanced bracket");
    }
    while (e > 0 && check_one_of(s[e - 1], " \t\r\n"))
        e--;
    if (open_fence || cut_utf8((const unsigned char *)s, len) || dangling_end(s, e, &at)) {
        at = open_fence ? fence_at : at > e ? e : at;
        r->v[CHECK_FORM_TRUNCATED] = 1;
        check_add(r, "form", "truncated", CHECK_FAIL, at, e - at, "the text stops mid-%s",
                  open_fence ? "code block" : "sentence");
    }
}

int check_form(const char *resp, size_t len, struct check_result *r)
{
    if (!r || (!resp && len))
        return -EINVAL;
    double share;
    size_t first = 0;
    int rc = repetition(resp, len, &share, &first);
    if (rc)
        return rc;
    r->v[CHECK_FORM_REPETITION] = share;
    if (share >= REPEAT_FLAG)
        check_add(r, "form", "repetition", CHECK_FAIL, first, len - first,
                  "%.0f%% of its 4-word sequences repeat earlier ones", share * 100.0);
    structure(resp, len, r);
    return 0;
}
