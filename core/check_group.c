/* check_group.c - group signals (see check_group.h). */
#include "check_group.h"
#include "check_scan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

const char *const check_group_feat_name[CHECK_GROUP_NFEAT] = {
    "values_shared", "steps_rel",   "steps_most",    "lines_rel", "answer_frac",
    "answer_seen",   "answer_last", "answer_passed", "passes",    "unused",
    "agree_last",    "off_path",    "agree_full",
};

/* Two values are one when within 1e-6 relative (of the larger, at least 1),
 * as check_answer_equal compares numbers. */
static int same_value(double a, double b)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= 1e-6 * (m > 1.0 ? m : 1.0);
}

/* Whether s computes v. Its values are sorted, and x - v - 1e-6 * max(|x|,
 * |v|, 1) grows with x (its slope is at least 1 - 1e-6), so past the first
 * value that is above v and not the same, none is. */
static int has_value(const struct check_sample *s, double v)
{
    for (size_t i = 0; i < s->nval; i++) {
        if (same_value(s->val[i], v))
            return 1;
        if (s->val[i] > v)
            return 0;
    }
    return 0;
}

/* Inserts v into s's sorted values unless it holds it or is full. */
static void add_value(struct check_sample *s, double v)
{
    if (s->nval == CHECK_SAMPLE_VALUES || has_value(s, v))
        return;
    size_t i = s->nval;
    while (i > 0 && s->val[i - 1] > v) {
        s->val[i] = s->val[i - 1];
        i--;
    }
    s->val[i] = v;
    s->nval++;
}

/* A sample being read: the results of its equations so far, and whether a
 * later equation reads each. */
struct reading {
    struct check_sample *s;
    const char *text;
    double res[CHECK_SAMPLE_VALUES];
    unsigned char read[CHECK_SAMPLE_VALUES];
    size_t nres;
    /* The first CHECK_SAMPLE_VALUES equations: each one's result, the
     * earlier ones it reads and the prompt numbers it reads (bit sets). */
    const struct check_prompt *prompt; /* may be NULL */
    double eqv[CHECK_SAMPLE_VALUES];
    uint32_t dep[CHECK_SAMPLE_VALUES];
    uint64_t pdep[CHECK_SAMPLE_VALUES];
    unsigned neq;
};

#define PROMPT_NUMS 64 /* prompt numbers a derivation is checked against */
_Static_assert(CHECK_SAMPLE_VALUES <= 32, "an equation's earlier ones are a 32-bit set");

/* The set of the first PROMPT_NUMS numbers of p (may be NULL) that are
 * the same as v, as comparing v with each gives it. A whole v below
 * CHECK_SMALL_INTS reads the one it is, if one, from p->small; another
 * v below 65536 whose p->near bit is clear is none of them (see struct
 * check_prompt); the rest compare with each. */
static uint64_t prompt_links(const struct check_prompt *p, double v)
{
    if (!p)
        return 0;
    if (v >= 0.0 && v < CHECK_SMALL_INTS && v == (double)(unsigned)v) {
        unsigned sm = p->small[(unsigned)v], i = sm & CHECK_SMALL_INDEX;
        if (!(sm & CHECK_SMALL_MANY))
            return i && i <= PROMPT_NUMS ? UINT64_C(1) << (i - 1) : 0;
    } else if (v >= 0.0 && v < 65536.0) {
        unsigned b = (unsigned)v % CHECK_NEAR_BITS;
        if (!(p->near[b / 64] >> (b % 64) & 1))
            return 0;
    }
    uint64_t d = 0;
    for (size_t j = 0; j < p->n && j < PROMPT_NUMS; j++)
        if (same_value(p->v[j], v))
            d |= UINT64_C(1) << j;
    return d;
}

/* Records what the number v of the left side of equation rd->neq reads:
 * the latest earlier result of its magnitude and the prompt numbers it is. */
static void read_links(struct reading *rd, double v)
{
    unsigned e = rd->neq;
    if (e >= CHECK_SAMPLE_VALUES)
        return;
    for (unsigned j = e; j-- > 0;)
        if (same_value(fabs(rd->eqv[j]), v)) {
            rd->dep[e] |= UINT32_C(1) << j;
            break;
        }
    rd->pdep[e] |= prompt_links(rd->prompt, v);
}

/* Marks the results that the numbers of text[b..e) (a left side) read. */
static void read_operands(struct reading *rd, size_t b, size_t e)
{
    for (size_t i = b; i < e;) {
        struct check_num num;
        size_t k = check_ctype[(unsigned char)rd->text[i]] & CHECK_CT_DIGIT
                       ? check_scan_number(rd->text, e, i, &num)
                       : 0;
        if (!k) {
            i++;
            continue;
        }
        i += k;
        for (size_t j = 0; num.ok && j < rd->nres; j++)
            rd->read[j] |= same_value(fabs(rd->res[j]), num.v);
        if (num.ok)
            read_links(rd, num.v);
    }
}

static int on_equation(void *cls, const struct check_equation *eq)
{
    struct reading *rd = cls;
    struct check_sample *s = rd->s;
    if (eq->status < 0)
        return 0;
    s->eqs++;
    s->last = eq->rhs;
    s->has_last = 1;
    add_value(s, eq->rhs);
    if (rd->neq < CHECK_SAMPLE_VALUES) {
        rd->dep[rd->neq] = 0;
        rd->pdep[rd->neq] = 0;
    }
    read_operands(rd, eq->start, eq->eq_off);
    if (rd->neq < CHECK_SAMPLE_VALUES)
        rd->eqv[rd->neq++] = eq->rhs;
    size_t j = 0;
    while (j < rd->nres && !same_value(rd->res[j], eq->rhs))
        j++;
    if (j == rd->nres && j < CHECK_SAMPLE_VALUES) {
        rd->res[j] = eq->rhs;
        rd->read[j] = 0;
        rd->nres++;
    }
    return 0;
}

/* The results of rd that nothing read, less the last one and the answer. */
static unsigned unused_results(const struct reading *rd)
{
    const struct check_sample *s = rd->s;
    unsigned n = 0;
    for (size_t j = 0; j < rd->nres; j++)
        n += !rd->read[j] && !(s->has_last && same_value(rd->res[j], s->last)) &&
             !(s->ans.numeric && same_value(rd->res[j], s->ans.value));
    return n;
}

/* Sets off_path and full of rd's sample from its equations' links. */
static void derivation(const struct reading *rd)
{
    struct check_sample *s = rd->s;
    unsigned a = rd->neq;
    while (a > 0 && !(s->ans.numeric && same_value(rd->eqv[a - 1], s->ans.value)))
        a--;
    if (!a) {
        s->off_path = rd->neq; /* the answer rests on none of them */
        return;
    }
    uint32_t reach = UINT32_C(1) << (a - 1);
    uint64_t nums = 0;
    for (unsigned j = a; j-- > 0;)
        if (reach >> j & 1) {
            reach |= rd->dep[j];
            nums |= rd->pdep[j];
        }
    for (unsigned j = 0; j < rd->neq; j++) {
        int on = 0;
        for (unsigned k = 0; k < a && !on; k++)
            on = (reach >> k & 1) && same_value(rd->eqv[j], rd->eqv[k]);
        s->off_path += !on;
    }
    size_t np = rd->prompt ? rd->prompt->n : 0;
    np = np < PROMPT_NUMS ? np : PROMPT_NUMS;
    s->full = nums == (np == PROMPT_NUMS ? UINT64_MAX : (UINT64_C(1) << np) - 1);
}

/* The lines of s[0..len) (split at '\n', the last one unterminated) that
 * hold a byte other than ' ', '\t' and '\r': each line's first bytes are
 * read up to its first other byte (most lines start with one), and the
 * next line is found by memchr. */
static unsigned count_lines(const char *s, size_t len)
{
    unsigned n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - s) : len, j = i;
        while (j < e && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
            j++;
        n += j < e;
        i = e + 1;
    }
    return n;
}

int check_sample_read_prompt(const char *resp, size_t len, const struct check_prompt *p,
                             struct check_sample *s)
{
    if (!s || (!resp && len))
        return -EINVAL;
    memset(s, 0, sizeof(*s));
    int rc = check_answer(resp, len, &s->ans, NULL);
    struct reading rd = {.s = s, .text = resp, .prompt = p};
    if (!rc)
        rc = check_arith_scan(resp, len, on_equation, &rd);
    s->unused = unused_results(&rd);
    derivation(&rd);
    s->lines = count_lines(resp, len);
    return rc;
}

int check_sample_run(const struct check_input *in, struct check_result *r, struct check_sample *s)
{
    if (!in || !r || !s || (!in->resp && in->resp_len))
        return -EINVAL;
    memset(s, 0, sizeof(*s));
    /* The sample's reader sees each equation of the checkers' scan: the
     * equations check_arith_scan finds, in order, as its own scan would. */
    struct reading rd = {.s = s, .text = in->resp, .prompt = in->prepared};
    int rc = check_run_all_tap(in, r, &s->ans, on_equation, &rd);
    if (rc)
        return rc;
    s->unused = unused_results(&rd);
    derivation(&rd);
    s->lines = count_lines(in->resp, in->resp_len);
    return 0;
}

int check_sample_read(const char *resp, size_t len, struct check_sample *s)
{
    return check_sample_read_prompt(resp, len, NULL, s);
}

/* 1 when s's numeric answer is the result of its last evaluated equation. */
static int answer_is_last(const struct check_sample *s)
{
    return s->ans.numeric && s->has_last && same_value(s->ans.value, s->last);
}

/* The set of self's values that o computes too: has_value(o, v) for each
 * value v of self, in one walk of the two sorted lists. For v, the values
 * of o below it and not the same as it come first (x - y - 1e-6 * max(|x|,
 * |y|, 1) falls as y rises to x), and stay so for every larger v (it grows
 * with x); past them, o has v when the first one left is the same (after
 * it, those the same as v come before those above it that are not). */
static uint32_t shared_values(const struct check_sample *self, const struct check_sample *o)
{
    uint32_t set = 0;
    size_t k = 0;
    for (size_t i = 0; i < self->nval; i++) {
        double v = self->val[i];
        while (k < o->nval && o->val[k] < v && !same_value(o->val[k], v))
            k++;
        if (k < o->nval && same_value(o->val[k], v))
            set |= UINT32_C(1) << i;
    }
    return set;
}

void check_group_features(const struct check_sample *self, const struct check_sample *others,
                          size_t n, double *out)
{
    unsigned most_eqs = self->eqs, most_lines = self->lines, agree_last = 0, agree_full = 0;
    uint32_t shared = 0; /* self's values another computes too (shared_values) */
    int seen = 0, more = 0, passed = 0, passes = 0;
    for (size_t j = 0; j < n; j++) {
        const struct check_sample *o = &others[j];
        more |= o->eqs > self->eqs;
        most_eqs = o->eqs > most_eqs ? o->eqs : most_eqs;
        most_lines = o->lines > most_lines ? o->lines : most_lines;
        int has = self->ans.numeric && has_value(o, self->ans.value);
        seen |= has;
        int last = answer_is_last(o),
            same = (last || o->full) && check_answer_equal(&self->ans, &o->ans);
        agree_last += last && same;
        agree_full += o->full && same;
        /* Another answer: one of the two stopped where the other went on. */
        if (self->ans.numeric && o->ans.numeric && !same_value(self->ans.value, o->ans.value)) {
            passed |= has;
            passes |= has_value(self, o->ans.value);
        }
        shared |= shared_values(self, o);
    }
    unsigned nshared = 0;
    for (; shared; shared &= shared - 1)
        nshared++;
    out[CHECK_GROUP_VALUES_SHARED] = nshared;
    out[CHECK_GROUP_STEPS_REL] = most_eqs ? (double)self->eqs / most_eqs : 0.0;
    out[CHECK_GROUP_STEPS_MOST] = !more;
    out[CHECK_GROUP_LINES_REL] = most_lines ? (double)self->lines / most_lines : 0.0;
    out[CHECK_GROUP_ANSWER_FRAC] = self->ans.numeric && !self->ans.percent &&
                                   fabs(self->ans.value - round(self->ans.value)) > 1e-9;
    out[CHECK_GROUP_ANSWER_SEEN] = seen;
    out[CHECK_GROUP_ANSWER_LAST] = answer_is_last(self);
    out[CHECK_GROUP_ANSWER_PASSED] = passed;
    out[CHECK_GROUP_PASSES] = passes;
    out[CHECK_GROUP_UNUSED] = self->unused;
    out[CHECK_GROUP_AGREE_LAST] = n ? (double)agree_last / (double)n : 0.0;
    out[CHECK_GROUP_OFF_PATH] = self->off_path;
    out[CHECK_GROUP_AGREE_FULL] = n ? (double)agree_full / (double)n : 0.0;
}
