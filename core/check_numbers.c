/* check_numbers.c - which numbers a response uses and introduces (see check.h). */
#include "check.h"
#include "check_scan.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* Sets of absolute values (a prompt's numbers, the results computed so
 * far) are struct check_prompt, compared like answers (1e-6 relative). */

/* a and b are absolute values. */
static inline int same(double a, double b)
{
    double big = a > b ? a : b;
    big = big > 1.0 ? big : 1.0;
    return fabs(a - b) <= 1e-6 * big;
}

/* 0 when no value of k can be the absolute value v (check_prompt.near):
 * a value a that is the same as v < 65536 is below 65600 (else a - v >=
 * 64 > 1e-6 a) and less than 1 away from v (1e-6 of 65600 is 0.07), so its
 * integer part is v's or next to it and it set v's bit. 1 when it may be
 * (v at or above 65536, or not a number: no filter). */
static inline int near_may(const struct check_prompt *k, double v)
{
    if (!(v < 65536.0))
        return 1;
    unsigned b = (unsigned)v % CHECK_NEAR_BITS;
    return (int)(k->near[b / 64] >> (b % 64) & 1);
}

/* Sets the bits of check_prompt.near for the absolute value a. */
static void near_add(struct check_prompt *k, double a)
{
    if (!(a < 65600.0))
        return;
    unsigned b = (unsigned)a + CHECK_NEAR_BITS; /* b - 1 does not wrap */
    for (unsigned d = b - 1; d <= b + 1; d++)
        k->near[d % CHECK_NEAR_BITS / 64] |= UINT64_C(1) << (d % 64);
}

/* Whether k holds |v|: every value compared, no early exit, so that the
 * loop's branches depend on k's size only (they are predicted). */
static int known_has(const struct check_prompt *k, double v)
{
    int hit = 0;
    v = fabs(v);
    if (!near_may(k, v))
        return 0;
    for (size_t i = 0; i < k->n; i++)
        hit |= same(k->v[i], v);
    return hit;
}

static void known_add(struct check_prompt *k, double v)
{
    if (k->n < CHECK_KNOWN_MAX && !known_has(k, v)) {
        k->v[k->n++] = fabs(v);
        near_add(k, fabs(v));
    }
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
     * of anything below 10^5): a bit test instead of 14 comparisons. */
    if (v < 1e5 && v == (double)(long)v) {
        long n = (long)v; /* bits of the whole COMMON below 64, no branch */
        const uint64_t small = 1ULL << 0 | 1ULL << 1 | 1ULL << 2 | 1ULL << 7 | 1ULL << 10 |
                               1ULL << 12 | 1ULL << 24 | 1ULL << 30 | 1ULL << 52 | 1ULL << 60;
        return n < 64 ? (int)(small >> n & 1) : (n == 100) | (n == 365) | (n == 1000);
    }
    for (size_t i = 0; i < sizeof(COMMON) / sizeof(COMMON[0]); i++)
        if (same(COMMON[i], v))
            return 1;
    return 0;
}

/* Number words of prompts ("She eats three"): each word's lowercase bytes
 * as a little-endian word (none is longer than 8), in check_numwords at
 * the slot its multiplicative hash gives (check_scan.h). No two share one:
 * a word put where another is fails the build (-Woverride-init). */
#define NUMBER_WORDS(X)                                                                            \
    X(0x0000656c62756f64ULL, 2)    /* double */                                                    \
    X(0x0000006e657a6f64ULL, 12)   /* dozen */                                                     \
    X(0x0000007468676965ULL, 8)    /* eight */                                                     \
    X(0x0000797468676965ULL, 80)   /* eighty */                                                    \
    X(0x00006e6576656c65ULL, 11)   /* eleven */                                                    \
    X(0x0000007974666966ULL, 50)   /* fifty */                                                     \
    X(0x0000000065766966ULL, 5)    /* five */                                                      \
    X(0x0000007974726f66ULL, 40)   /* forty */                                                     \
    X(0x0000000072756f66ULL, 4)    /* four */                                                      \
    X(0x00000000666c6168ULL, 0.5)  /* half */                                                      \
    X(0x00646572646e7568ULL, 100)  /* hundred */                                                   \
    X(0x00000000656e696eULL, 9)    /* nine */                                                      \
    X(0x00007974656e696eULL, 90)   /* ninety */                                                    \
    X(0x0000000000656e6fULL, 1)    /* one */                                                       \
    X(0x0000006e65766573ULL, 7)    /* seven */                                                     \
    X(0x0079746e65766573ULL, 70)   /* seventy */                                                   \
    X(0x0000000000786973ULL, 6)    /* six */                                                       \
    X(0x0000007974786973ULL, 60)   /* sixty */                                                     \
    X(0x00000000006e6574ULL, 10)   /* ten */                                                       \
    X(0x0000797472696874ULL, 30)   /* thirty */                                                    \
    X(0x646e6173756f6874ULL, 1000) /* thousand */                                                  \
    X(0x0000006565726874ULL, 3)    /* three */                                                     \
    X(0x0000656c70697274ULL, 3)    /* triple */                                                    \
    X(0x000065766c657774ULL, 12)   /* twelve */                                                    \
    X(0x000079746e657774ULL, 20)   /* twenty */                                                    \
    X(0x0000006563697774ULL, 2)    /* twice */                                                     \
    X(0x00000000006f7774ULL, 2)    /* two */                                                       \
    X(0x000000006f72657aULL, 0)    /* zero */

#define NUMWORD_SLOT(key, value) [CHECK_NUMWORD_SLOT(key)] = {key, value},
const struct check_numword check_numwords[CHECK_NUMWORD_SLOTS] = {NUMBER_WORDS(NUMWORD_SLOT)};
#undef NUMWORD_SLOT

/* Per first letter, the lengths (bit n) and second letters (bit of the
 * letter) of the number words starting with it: most words word_value
 * sees stop at these tests, before their key is made. */
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

/* The value of the number word s[i..i+n) (letters only), or -1, for the
 * words the fused pass does not look up itself (check_numword_value). */
static double word_value(const char *s, size_t i, size_t n)
{
    if (n < 3 || n > 8)
        return -1;
    unsigned a = (unsigned)((s[i] | 0x20) - 'a'), b = (unsigned)((s[i + 1] | 0x20) - 'a');
    if (a >= 26 || b >= 26 || !(FIRST[a].lens >> n & 1) || !(FIRST[a].second >> b & 1))
        return -1;
    uint64_t key = 0; /* the word lowercased (letters only: | 0x20) */
    for (size_t k = 0; k < n; k++)
        key |= (uint64_t)(unsigned char)(s[i + k] | 0x20) << (8 * k);
    return check_numword_value(key, n);
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
    if (!(n = check_plain_integer(s, len, i, &num)) &&
        (n = check_scan_number(s, len, i, &num)) == 0)
        return 1;
    *digits = 1;
    *v = num.ok ? num.v : -1;
    return n;
}

/* The run of letters at s[i] (a letter): returns its length; *key gets
 * its first 8 bytes lowercased (check_numword_value's key). 8 bytes at a
 * time where the byte order is little-endian. */
static inline size_t letters_at(const char *s, size_t len, size_t i, uint64_t *key)
{
    size_t j = i;
    *key = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; j + 8 <= len; j += 8) {
        uint64_t w = check_load8(s + j), alpha = check_alpha8(w);
        unsigned n = alpha == CHECK_HIGH8 ? 8 : (unsigned)__builtin_ctzll(~alpha & CHECK_HIGH8) / 8;
        uint64_t keep = n == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * n)) - 1;
        if (j == i)
            *key = (w | alpha >> 2) & keep;
        if (n < 8)
            return j + n - i;
    }
#endif
    for (; j < len && (check_ctype[(unsigned char)s[j]] & CHECK_CT_ALPHA); j++)
        if (j - i < 8)
            *key |= (uint64_t)(unsigned char)(s[j] | 0x20) << (8 * (j - i));
    return j - i;
}

/* Adds the prompt's distinct numbers and number words to k: tokens as
 * token_at reads them, the bytes that start none skipped 8 at a time. */
static void prompt_numbers(const char *s, size_t len, struct check_prompt *k)
{
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w = check_load8(s + i);
            uint64_t m = check_alpha8(w) | check_digit8(w) | check_has8(w, '.');
            if (!m) {
                i += 8;
                continue;
            }
            i += check_first8(m); /* the lowest flag is exact */
        }
        unsigned ct = check_ctype[(unsigned char)s[i]];
        double v = -1;
        uint64_t key;
        size_t n;
        struct check_num num;
        if (!(ct & MAY_START)) {
            i++;
            continue;
        }
        if (ct & CHECK_CT_ALPHA) {
            n = letters_at(s, len, i, &key);
            v = check_numword_value(key, n);
        } else if ((n = check_scan_number(s, len, i, &num)) != 0) {
            v = num.ok ? num.v : -1;
        } else {
            n = 1;
        }
        i += n;
        if (v >= 0)
            known_add(k, v);
    }
}

static int add_eq(void *cls, const struct check_equation *e)
{
    struct check_eqs *q = cls;
    if (q->arith)
        check_arith_record(q->arith, e);
    if (e->annotation && q->nann < CHECK_KNOWN_MAX) { /* closed: e->len ends at its ">>" */
        q->ann_at[q->nann] = e->start;
        q->ann_close[q->nann++] = e->start + e->len - 2;
    }
    if (q->tap)
        q->tap(q->tap_cls, e);
    if (e->status < 0 || q->n == CHECK_KNOWN_MAX)
        return 0;
    q->v[2 * q->n] = e->lhs;
    q->v[2 * q->n + 1] = e->rhs;
    q->off[q->n++] = e->eq_off;
    return 0;
}

/* check_prompt.small of the absolute value v when v is a whole number
 * below CHECK_SMALL_INTS, else CHECK_SMALL_MANY (look at every value). */
static inline unsigned small_of(const struct check_prompt *p, double v)
{
    if (v < CHECK_SMALL_INTS && v == (double)(unsigned)v)
        return p->small[(unsigned)v];
    return CHECK_SMALL_MANY;
}

/* Fills p->small from p's values. A value a is the same as a whole k below
 * CHECK_SMALL_INTS only when a < 2048 (else a - k > 1e-6 a), and then k is
 * within 0.002 of a: k is floor(a) or the next; likewise for k * 100 and
 * a / 100 (a < 204800). Each candidate is tested by same() itself. */
static void small_fill(struct check_prompt *p)
{
    memset(p->small, 0, sizeof(p->small));
    for (size_t i = 0; i < p->n; i++) {
        double a = p->v[i];
        long f = a < 2048.0 ? (long)a : -10, g = a < 204800.0 ? (long)(a / 100.0) : -10;
        for (long k = f - 1; k <= f + 2; k++) {
            if (k < 0 || k >= CHECK_SMALL_INTS || !same(a, (double)k))
                continue;
            uint16_t *e = &p->small[k];
            *e = (uint16_t)(*e & CHECK_SMALL_INDEX ? *e | CHECK_SMALL_MANY : *e | (i + 1));
        }
        for (long k = g - 1; k <= g + 2; k++)
            if (k >= 0 && k < CHECK_SMALL_INTS && same(a, (double)k * 100.0))
                p->small[k] |= CHECK_SMALL_X100;
    }
}

/* Marks the prompt numbers that are v; returns 1 when there was one (that
 * is known_has(sc->prompt, v)). */
static inline int mark_used(struct check_numscan *sc, double v)
{
    int hit = 0;
    v = fabs(v);
    unsigned sm = small_of(sc->prompt, v);
    if (!(sm & CHECK_SMALL_MANY)) { /* none or one: no loop */
        if (sm & CHECK_SMALL_INDEX)
            sc->used[(sm & CHECK_SMALL_INDEX) - 1] = 1;
        return (sm & CHECK_SMALL_INDEX) != 0;
    }
    if (!near_may(sc->prompt, v))
        return 0;
    for (size_t i = 0; i < sc->prompt->n; i++) {
        int e = same(sc->prompt->v[i], v);
        sc->used[i] |= (unsigned char)e;
        hit |= e;
    }
    return hit;
}

/* known_has(p, v * 100.0) for v >= 0: a prompt number is v percent. */
static int percent_of_prompt(const struct check_prompt *p, double v)
{
    unsigned e = small_of(p, v);
    return e & CHECK_SMALL_MANY ? known_has(p, v * 100.0) : (e & CHECK_SMALL_X100) != 0;
}

/* Is v, written at offset off outside annotations, explained? in_prompt
 * is known_has(sc->prompt, v), from mark_used. */
static inline int explained(struct check_numscan *sc, double v, size_t off, int in_prompt)
{
    while (sc->next_eq < sc->eqs.n && sc->eqs.off[sc->next_eq] < off) {
        double lhs = sc->eqs.v[2 * sc->next_eq], rhs = sc->eqs.v[2 * sc->next_eq + 1];
        known_add(&sc->result, lhs);
        if (fabs(rhs) != fabs(lhs)) /* else the set has it now, or is full */
            known_add(&sc->result, rhs);
        sc->next_eq++;
    }
    return in_prompt || common(v) || percent_of_prompt(sc->prompt, v) || known_has(&sc->result, v);
}

/* Reads the token at s[i], a MAY_START byte, into the scan (words only
 * mark prompt numbers as used); returns its length. */
static inline __attribute__((always_inline)) size_t
number_token(struct check_numscan *sc, const char *s, size_t len, size_t i)
{
    double v;
    int digits;
    size_t n = token_at(s, len, i, &v, &digits);
    int in_prompt = v >= 0 && mark_used(sc, v);
    if (v >= 0 && digits) {
        sc->seen++;
        if (i >= sc->ann_end && !explained(sc, v, i, in_prompt)) {
            sc->r->v[CHECK_NUMBERS_UNEXPLAINED]++;
            check_add(sc->r, "numbers", "number_unexplained", CHECK_INFO, i, n,
                      "a number from neither the question nor an earlier result");
        }
    }
    return n;
}

/* The annotation tracking at the '<' at s[i]. */
static void less_than(struct check_numscan *sc, const char *s, size_t len, size_t i)
{
    if (!(i + 1 < len && s[i + 1] == '<' && i >= sc->ann_end))
        return;
    /* The '<' come in text order: the equations scan's annotations are
     * walked along, and one it found at i gives its close unsearched. */
    const struct check_eqs *q = &sc->eqs;
    while (sc->next_ann < q->nann && q->ann_at[sc->next_ann] < i)
        sc->next_ann++;
    size_t close = sc->next_ann < q->nann && q->ann_at[sc->next_ann] == i
                       ? q->ann_close[sc->next_ann]
                       : check_annotation_close(s, len, i);
    if (close)
        sc->ann_end = close + 2;
}

/* Scans the response's numbers in the numbers checker's own pass. */
static void response_numbers(const char *s, size_t len, struct check_numscan *sc)
{
    size_t i = 0;
    while (i < len && sc->seen < CHECK_SEEN_MAX) {
        unsigned ct = check_ctype[(unsigned char)s[i]];
        if (!(ct & MAY_START)) {
            if (ct & CHECK_CT_LT)
                less_than(sc, s, len, i);
            i++;
            continue;
        }
        i += number_token(sc, s, len, i);
    }
}

void check_numscan_word(struct check_numscan *ns, const char *s, size_t len, size_t b, size_t e,
                        int alpha, uint64_t key)
{
    if (ns->seen >= CHECK_SEEN_MAX)
        return;
    if (alpha && b >= ns->next) { /* one token: a word, maybe a number word */
        double v = check_numword_value(key, e - b);
        if (v >= 0)
            mark_used(ns, v);
        return;
    }
    size_t j = b > ns->next ? b : ns->next;
    while (j < e && ns->seen < CHECK_SEEN_MAX) {
        if (!(check_ctype[(unsigned char)s[j]] & MAY_START))
            j++; /* a byte >= 0x80 */
        else
            j += number_token(ns, s, len, j);
    }
    ns->next = j; /* past e when a number goes on: "1,200", "3.5" */
}

void check_numscan_value(struct check_numscan *ns, double v)
{
    if (ns->seen < CHECK_SEEN_MAX)
        mark_used(ns, v);
}

void check_numscan_byte(struct check_numscan *ns, const char *s, size_t len, size_t i, unsigned ct)
{
    if (ns->seen >= CHECK_SEEN_MAX)
        return;
    /* A '.' starts a number only with a digit after it (".5"); any other
     * (most are full stops) would be read as a one-byte token that is no
     * number, which only moves the cursor past it, and no later byte is
     * before it anyway. */
    if ((ct & CHECK_CT_DOT) && i >= ns->next && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
        ns->next = i + number_token(ns, s, len, i);
    else if (ct & CHECK_CT_LT)
        less_than(ns, s, len, i);
}

int check_numscan_begin(struct check_numscan *ns, const struct check_prompt *p, const char *resp,
                        size_t len, struct check_result *r, bool arith)
{
    return check_numscan_begin_tap(ns, p, resp, len, r, arith, NULL, NULL);
}

int check_numscan_begin_tap(struct check_numscan *ns, const struct check_prompt *p,
                            const char *resp, size_t len, struct check_result *r, bool arith,
                            check_equation_cb tap, void *cls)
{
    if (!p || !r || (!resp && len))
        return -EINVAL;
    ns->eqs.tap = tap;
    ns->eqs.tap_cls = cls;
    /* Only the counts are cleared: each array is written before it is read. */
    ns->eqs.n = ns->eqs.nann = ns->next_eq = ns->next_ann = ns->result.n = 0;
    memset(ns->result.near, 0, sizeof(ns->result.near));
    ns->ann_end = ns->seen = ns->next = 0;
    ns->eqs.arith = arith ? r : NULL;
    ns->prompt = p;
    ns->r = r;
    memset(ns->used, 0, p->n);
    check_arith_scan(resp, len, add_eq, &ns->eqs);
    ns->nf0 = r->nf;
    ns->dropped0 = r->dropped;
    ns->unexplained0 = r->v[CHECK_NUMBERS_UNEXPLAINED];
    return 0;
}

void check_numscan_end(struct check_numscan *ns)
{
    size_t used = 0;
    for (size_t i = 0; i < ns->prompt->n; i++)
        used += ns->used[i];
    ns->r->v[CHECK_NUMBERS_USED_SHARE] = ns->prompt->n ? (double)used / (double)ns->prompt->n : 1.0;
}

void check_numscan_redo(struct check_numscan *ns, const char *resp, size_t len)
{
    /* The scan adds info findings only, which never replace one: putting
     * back the count and the drops undoes them. */
    ns->r->nf = ns->nf0;
    ns->r->dropped = ns->dropped0;
    ns->r->v[CHECK_NUMBERS_UNEXPLAINED] = ns->unexplained0;
    ns->next_eq = ns->next_ann = ns->result.n = ns->ann_end = ns->seen = ns->next = 0;
    memset(ns->result.near, 0, sizeof(ns->result.near));
    memset(ns->used, 0, ns->prompt->n);
    response_numbers(resp, len, ns);
}

int check_prompt_init(struct check_prompt *p, const char *prompt, size_t len)
{
    if (!p || (!prompt && len))
        return -EINVAL;
    p->n = 0;
    memset(p->near, 0, sizeof(p->near));
    prompt_numbers(prompt, len, p);
    small_fill(p);
    return 0;
}

/* check_numbers_prepared, recording each equation for check_arith too
 * when arith is set. About 15 KB on the stack, no free. */
static int numbers(const struct check_prompt *p, const char *resp, size_t len,
                   struct check_result *r, bool arith)
{
    struct check_numscan ns;
    int rc = check_numscan_begin(&ns, p, resp, len, r, arith);
    if (rc)
        return rc;
    response_numbers(resp, len, &ns);
    check_numscan_end(&ns);
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
