/* check_numbers.c - which numbers a response uses and introduces (see check.h). */
#include "check.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

/* Sets of absolute values (a prompt's numbers, the results computed so
 * far) are struct check_prompt, compared like answers (1e-6 relative). */

/* a and b are absolute values. */
static int same(double a, double b)
{
    double big = a > b ? a : b;
    return fabs(a - b) <= 1e-6 * (big > 1.0 ? big : 1.0);
}

static int known_has(const struct check_prompt *k, double v)
{
    for (size_t i = 0; i < k->n; i++)
        if (same(k->v[i], fabs(v)))
            return 1;
    return 0;
}

static void known_add(struct check_prompt *k, double v)
{
    if (k->n < CHECK_KNOWN_MAX && !known_has(k, v))
        k->v[k->n++] = fabs(v);
}

/* Numbers a response may write without a source: units of time and the
 * like. Single digits other than 1 and 2 are not here: a 3 from nowhere is
 * the kind of slip this checker looks for. */
static const double COMMON[] = {0, 1, 2, 7, 10, 12, 24, 30, 52, 60, 100, 365, 1000, 0.5};

static int common(double v)
{
    v = fabs(v);
    /* A whole number below 10^5 is within the tolerance of a whole COMMON
     * only when equal to it, and at least 0.5 away from 0.5 (beyond 10^-6
     * of anything below 10^5): a switch instead of 14 comparisons. */
    if (v < 1e5 && v == (double)(long)v) {
        switch ((long)v) {
        case 0:
        case 1:
        case 2:
        case 7:
        case 10:
        case 12:
        case 24:
        case 30:
        case 52:
        case 60:
        case 100:
        case 365:
        case 1000:
            return 1;
        default:
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(COMMON) / sizeof(COMMON[0]); i++)
        if (same(COMMON[i], v))
            return 1;
    return 0;
}

/* Number words of prompts ("She eats three"), lowercase, sorted by strcmp
 * for the binary search of word_value: keep them sorted. */
static const struct {
    const char *w;
    double v;
} WORDS[] = {
    {"double", 2},      {"dozen", 12}, {"eight", 8},   {"eighty", 80}, {"eleven", 11},
    {"fifty", 50},      {"five", 5},   {"forty", 40},  {"four", 4},    {"half", 0.5},
    {"hundred", 100},   {"nine", 9},   {"ninety", 90}, {"one", 1},     {"seven", 7},
    {"seventy", 70},    {"six", 6},    {"sixty", 60},  {"ten", 10},    {"thirty", 30},
    {"thousand", 1000}, {"three", 3},  {"triple", 3},  {"twelve", 12}, {"twenty", 20},
    {"twice", 2},       {"two", 2},    {"zero", 0},
};

/* strcmp of the letters s[0..n), lowercased, against w. */
static int word_cmp(const char *s, size_t n, const char *w)
{
    for (size_t k = 0; k < n; k++) {
        int c = s[k] | 0x20;
        if (c != (unsigned char)w[k])
            return w[k] ? c - (unsigned char)w[k] : 1;
    }
    return w[n] ? -1 : 0;
}

/* The value of the number word s[i..i+n) (letters only), or -1. A binary
 * search: this runs on every word of prompt and response. */
static double word_value(const char *s, size_t i, size_t n)
{
    size_t lo = 0, hi = sizeof(WORDS) / sizeof(WORDS[0]);
    if (n < 3 || n > 8)
        return -1;
        /* Per first letter, the lengths (bit n) and second letters (bit of the
         * letter) of the number words starting with it: most words stop here. */
#define L(c) (1u << ((c) - 'a'))
    static const struct {
        unsigned short lens;
        unsigned second;
    } FIRST[26] = {
        ['d' - 'a'] = {1u << 5 | 1u << 6, L('o')},
        ['e' - 'a'] = {1u << 5 | 1u << 6, L('i') | L('l')},
        ['f' - 'a'] = {1u << 4 | 1u << 5, L('i') | L('o')},
        ['h' - 'a'] = {1u << 4 | 1u << 7, L('a') | L('u')},
        ['n' - 'a'] = {1u << 4 | 1u << 6, L('i')},
        ['o' - 'a'] = {1u << 3, L('n')},
        ['s' - 'a'] = {1u << 3 | 1u << 5 | 1u << 7, L('e') | L('i')},
        ['t' - 'a'] = {1u << 3 | 1u << 5 | 1u << 6 | 1u << 8, L('e') | L('h') | L('r') | L('w')},
        ['z' - 'a'] = {1u << 4, L('e')},
    };
#undef L
    unsigned a = (unsigned)((s[i] | 0x20) - 'a'), b = (unsigned)((s[i + 1] | 0x20) - 'a');
    if (a >= 26 || b >= 26 || !(FIRST[a].lens >> n & 1) || !(FIRST[a].second >> b & 1))
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = word_cmp(s + i, n, WORDS[mid].w);
        if (c == 0)
            return WORDS[mid].v;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* The check_ctype bits of the bytes a token_at token that may be a number
 * starts with: letters, digits, '.'; the others are skipped without a
 * call. */
#define MAY_START (CHECK_CT_ALPHA | CHECK_CT_DIGIT | CHECK_CT_DOT)

/* Reads the token at s[i], a MAY_START byte: a word (its value when it is a
 * number word), a number in digits (its value unless too long), or any
 * other byte. Returns its length, at least 1; *v is -1 when the token is no
 * number, *digits says it was written in digits. */
static inline size_t token_at(const char *s, size_t len, size_t i, double *v, int *digits)
{
    const unsigned char *u = (const unsigned char *)s;
    struct check_num num;
    size_t n = 1;
    *v = -1;
    *digits = 0;
    if (check_ctype[u[i]] & CHECK_CT_ALPHA) {
        while (i + n < len && (check_ctype[u[i + n]] & CHECK_CT_ALPHA))
            n++;
        *v = word_value(s, i, n);
        return n;
    }
    if ((n = check_scan_number(s, len, i, &num)) == 0)
        return 1;
    *digits = 1;
    *v = num.ok ? num.v : -1;
    return n;
}

/* Adds the prompt's distinct numbers and number words to k. */
static void prompt_numbers(const char *s, size_t len, struct check_prompt *k)
{
    size_t i = 0;
    while (i < len) {
        double v;
        int digits;
        if (!(check_ctype[(unsigned char)s[i]] & MAY_START)) {
            i++;
            continue;
        }
        i += token_at(s, len, i, &v, &digits);
        if (v >= 0)
            known_add(k, v);
    }
}

/* Equation values in text order: what a response has computed so far. */
struct eqs {
    double v[2 * CHECK_KNOWN_MAX]; /* lhs and written result of each */
    size_t off[CHECK_KNOWN_MAX];   /* offset of each one's '=' */
    size_t n;
    struct check_result *arith; /* also records each for check_arith, or NULL */
};

static int add_eq(void *cls, const struct check_equation *e)
{
    struct eqs *q = cls;
    if (q->arith)
        check_arith_record(q->arith, e);
    if (e->status < 0 || q->n == CHECK_KNOWN_MAX)
        return 0;
    q->v[2 * q->n] = e->lhs;
    q->v[2 * q->n + 1] = e->rhs;
    q->off[q->n++] = e->eq_off;
    return 0;
}

/* What the response scan carries. */
struct scan {
    const struct check_prompt *prompt;
    unsigned char used[CHECK_KNOWN_MAX]; /* prompt number i is written */
    const struct eqs *eqs;
    size_t next_eq;             /* equations before it are known */
    struct check_prompt result; /* values of the equations before the cursor */
    struct check_result *r;
};

/* Marks the prompt numbers that are v; returns 1 when there was one (that
 * is known_has(sc->prompt, v)). */
static int mark_used(struct scan *sc, double v)
{
    int hit = 0;
    v = fabs(v);
    for (size_t i = 0; i < sc->prompt->n; i++)
        if (same(sc->prompt->v[i], v))
            sc->used[i] = 1, hit = 1;
    return hit;
}

/* Is v, written at offset off outside annotations, explained? in_prompt
 * is known_has(sc->prompt, v), from mark_used. */
static int explained(struct scan *sc, double v, size_t off, int in_prompt)
{
    while (sc->next_eq < sc->eqs->n && sc->eqs->off[sc->next_eq] < off) {
        known_add(&sc->result, sc->eqs->v[2 * sc->next_eq]);
        known_add(&sc->result, sc->eqs->v[2 * sc->next_eq + 1]);
        sc->next_eq++;
    }
    return in_prompt || common(v) || known_has(sc->prompt, v * 100.0) || known_has(&sc->result, v);
}

/* Scans the response's numbers (words only mark prompt numbers as used). */
static void response_numbers(const char *s, size_t len, struct scan *sc)
{
    size_t i = 0, ann_end = 0, seen = 0, close;
    while (i < len && seen < CHECK_SEEN_MAX) {
        unsigned ct = check_ctype[(unsigned char)s[i]];
        if (!(ct & MAY_START)) {
            if ((ct & CHECK_CT_LT) && i + 1 < len && s[i + 1] == '<' && i >= ann_end &&
                (close = check_annotation_close(s, len, i)))
                ann_end = close + 2;
            i++;
            continue;
        }
        double v;
        int digits;
        size_t n = token_at(s, len, i, &v, &digits);
        int in_prompt = v >= 0 && mark_used(sc, v);
        if (v >= 0 && digits) {
            seen++;
            if (i >= ann_end && !explained(sc, v, i, in_prompt)) {
                sc->r->v[CHECK_NUMBERS_UNEXPLAINED]++;
                check_add(sc->r, "numbers", "number_unexplained", CHECK_INFO, i, n,
                          "a number from neither the question nor an earlier result");
            }
        }
        i += n;
    }
}

int check_prompt_init(struct check_prompt *p, const char *prompt, size_t len)
{
    if (!p || (!prompt && len))
        return -EINVAL;
    p->n = 0;
    prompt_numbers(prompt, len, p);
    return 0;
}

/* check_numbers_prepared, recording each equation for check_arith too
 * when arith is set. */
static int numbers(const struct check_prompt *p, const char *resp, size_t len,
                   struct check_result *r, bool arith)
{
    if (!p || !r || (!resp && len))
        return -EINVAL;
    /* About 8 KB on the stack, no free; only the counts are cleared, each
     * array is written before it is read. */
    struct eqs q;
    struct scan sc;
    q.n = sc.next_eq = sc.result.n = 0;
    q.arith = arith ? r : NULL;
    sc.prompt = p;
    sc.eqs = &q;
    sc.r = r;
    memset(sc.used, 0, p->n);
    check_arith_scan(resp, len, add_eq, &q);
    response_numbers(resp, len, &sc);
    size_t used = 0;
    for (size_t i = 0; i < p->n; i++)
        used += sc.used[i];
    r->v[CHECK_NUMBERS_USED_SHARE] = p->n ? (double)used / (double)p->n : 1.0;
    return 0;
}

int check_numbers_prepared(const struct check_prompt *p, const char *resp, size_t len,
                           struct check_result *r)
{
    return numbers(p, resp, len, r, false);
}

int check_arith_numbers(const struct check_prompt *p, const char *resp, size_t len,
                        struct check_result *r)
{
    return numbers(p, resp, len, r, true);
}

int check_numbers(const char *prompt, size_t plen, const char *resp, size_t len,
                  struct check_result *r)
{
    struct check_prompt p;
    int rc = check_prompt_init(&p, prompt, plen);
    return rc ? rc : check_numbers_prepared(&p, resp, len, r);
}
