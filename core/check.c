/* check.c - what the checkers share: results, findings, numbers (see check.h). */
#include "check.h"
#include "check_scan.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const check_feat_name[CHECK_NFEAT] = {
    [CHECK_ANSWER_FOUND] = "answer_found",
    [CHECK_ANSWER_FALLBACK] = "answer_fallback",
    [CHECK_ANSWER_NUMERIC] = "answer_numeric",
    [CHECK_AGREE_SHARE] = "agree_share",
    [CHECK_AGREE_TOP_SHARE] = "agree_top_share",
    [CHECK_AGREE_IN_TOP] = "agree_in_top",
    [CHECK_ARITH_CHECKED] = "arith_checked",
    [CHECK_ARITH_WRONG] = "arith_wrong",
    [CHECK_ARITH_UNEVAL] = "arith_uneval",
    [CHECK_NUMBERS_USED_SHARE] = "numbers_used_share",
    [CHECK_NUMBERS_UNEXPLAINED] = "numbers_unexplained",
    [CHECK_FORM_REPETITION] = "form_repetition",
    [CHECK_FORM_TRUNCATED] = "form_truncated",
    [CHECK_FORM_UNBALANCED] = "form_unbalanced",
    [CHECK_FORM_REFUSAL] = "form_refusal",
};

const char *const check_kind_name[CHECK_KINDS] = {
    [CHECK_KIND_ANSWER] = "answer",
    [CHECK_KIND_AGREEMENT] = "agreement",
    [CHECK_KIND_ARITHMETIC] = "arithmetic",
    [CHECK_KIND_NUMBERS] = "numbers",
    [CHECK_KIND_FORM] = "form",
};

#define CT_OF(c)                                                                                   \
    (((c) >= '0' && (c) <= '9')                                   ? CHECK_CT_DIGIT                 \
     : (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')) ? CHECK_CT_ALPHA                 \
     : (c) >= 0x80                                                ? CHECK_CT_HIGH                  \
     : (c) == '.'                                                 ? CHECK_CT_DOT                   \
     : (c) == '<'                                                 ? CHECK_CT_LT                    \
     : (c) == '\n'                                                ? CHECK_CT_NL                    \
     : ((c) == '(' || (c) == ')' || (c) == '[' || (c) == ']' || (c) == '{' || (c) == '}')          \
         ? CHECK_CT_OPEN                                                                           \
         : 0)
#define CT_ROW(c)                                                                                  \
    CT_OF(c), CT_OF(c + 1), CT_OF(c + 2), CT_OF(c + 3), CT_OF(c + 4), CT_OF(c + 5), CT_OF(c + 6),  \
        CT_OF(c + 7), CT_OF(c + 8), CT_OF(c + 9), CT_OF(c + 10), CT_OF(c + 11), CT_OF(c + 12),     \
        CT_OF(c + 13), CT_OF(c + 14), CT_OF(c + 15)
const unsigned char check_ctype[256] = {CT_ROW(0x00), CT_ROW(0x10), CT_ROW(0x20), CT_ROW(0x30),
                                        CT_ROW(0x40), CT_ROW(0x50), CT_ROW(0x60), CT_ROW(0x70),
                                        CT_ROW(0x80), CT_ROW(0x90), CT_ROW(0xa0), CT_ROW(0xb0),
                                        CT_ROW(0xc0), CT_ROW(0xd0), CT_ROW(0xe0), CT_ROW(0xf0)};

int check_kind_parse(const char *name)
{
    for (int k = 0; name && k < CHECK_KINDS; k++)
        if (!strcmp(name, check_kind_name[k]))
            return k;
    return -1;
}

void check_result_init(struct check_result *r)
{
    /* Only what is read before it is written: the findings array is 6 KB,
     * and clearing it would cost more than some checkers. */
    memset(r->v, 0, sizeof(r->v));
    r->nf = 0;
    r->dropped = 0;
    r->no_text = false;
}

const char *check_verdict_name(enum check_verdict v)
{
    switch (v) {
    case CHECK_PASS:
        return "pass";
    case CHECK_FAIL:
        return "fail";
    default:
        return "info";
    }
}

/* The slot a new finding goes to, or NULL when it is dropped. A fail may
 * take the place of the last pass or info: raters need the errors more than
 * the confirmations, and a long text must not crowd them out. */
static struct check_finding *slot(struct check_result *r, enum check_verdict verdict)
{
    if (r->nf < CHECK_FINDINGS_MAX)
        return &r->f[r->nf++];
    r->dropped++;
    if (verdict != CHECK_FAIL)
        return NULL;
    for (size_t i = r->nf; i-- > 0;)
        if (r->f[i].verdict != CHECK_FAIL)
            return &r->f[i];
    return NULL;
}

void check_add(struct check_result *r, const char *checker, const char *code,
               enum check_verdict verdict, size_t start, size_t len, const char *fmt, ...)
{
    struct check_finding *f = slot(r, verdict);
    if (!f)
        return;
    f->checker = checker;
    f->code = code;
    f->verdict = verdict;
    f->start = start;
    f->len = len;
    if (r->no_text) { /* the features' caller: formatting would be wasted */
        f->text[0] = '\0';
        return;
    }
    if (!strchr(fmt, '%')) { /* a plain sentence: no formatting to pay for */
        size_t n = strnlen(fmt, sizeof(f->text) - 1);
        memcpy(f->text, fmt, n);
        f->text[n] = '\0';
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

/* Writes the decimal digits of u backwards ending at end, at least min of
 * them (zero-padded); returns the first. */
static char *digits_back(char *end, unsigned long long u, int min)
{
    for (int n = 0; n < min || u || n == 0; n++) {
        *--end = (char)('0' + u % 10);
        u /= 10;
    }
    return end;
}

/* check_format_number for |v| < 1e9, by hand: scaled to millionths it is
 * an integer below 2^53, so exact, and snprintf of a double would cost as
 * much as a whole checker. buf holds at least 32 bytes. */
static char *format_small(double v, char *buf)
{
    long long m = llround(v * 1e6);
    unsigned long long u = (unsigned long long)(m < 0 ? -m : m);
    char tmp[32], *end = tmp + sizeof(tmp), *p;
    unsigned long long frac = u % 1000000;
    int fd = 6;
    while (fd > 0 && frac % 10 == 0)
        frac /= 10, fd--;
    p = fd ? digits_back(end, frac, fd) : end;
    if (fd)
        *--p = '.';
    p = digits_back(p, u / 1000000, 1);
    if (m < 0)
        *--p = '-';
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}

char *check_format_number(double v, char *buf, size_t size)
{
    if (fabs(v) < 1e9 && size >= 32)
        return format_small(v, buf);
    if (!isfinite(v) || fabs(v) >= 1e15) {
        snprintf(buf, size, "%g", v);
        return buf;
    }
    int n = snprintf(buf, size, "%.6f", v);
    if (n <= 0 || (size_t)n >= size)
        return buf;
    while (buf[n - 1] == '0')
        buf[--n] = '\0';
    if (buf[n - 1] == '.')
        buf[--n] = '\0';
    return buf;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Powers of ten that doubles hold exactly. */
static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The digits of a number as they are read: their count and, while there
 * are at most 19 of them, their value. */
struct mant {
    unsigned long long m;
    size_t nd;
};

/* Reads the digit run at s[j] into *mt; returns its end. */
static size_t digit_run(const char *s, size_t len, size_t j, struct mant *mt)
{
    for (; j < len && is_digit(s[j]); j++, mt->nd++)
        mt->m = mt->m * 10 + (unsigned long long)(s[j] - '0');
    return j;
}

/* 1 when s[j] is ',' and exactly three digits follow it. */
static int comma_group(const char *s, size_t len, size_t j)
{
    return j + 3 < len && s[j] == ',' && is_digit(s[j + 1]) && is_digit(s[j + 2]) &&
           is_digit(s[j + 3]) && !(j + 4 < len && is_digit(s[j + 4]));
}

/* The value of the number s[i..j) of mt->nd digits: while its digits'
 * integer is at most 2^53 (every number of up to 15 digits, and longer
 * ones such as 0.3333333333333333) it is mantissa / 10^decimals, both
 * exact (10^22 and below are), so the one rounding of the division gives
 * what strtod gives; others go to strtod. */
static double number_value(const char *s, size_t i, size_t j, int decimals, const struct mant *mt,
                           int *ok)
{
    char buf[CHECK_NUM_MAX + 1];
    size_t n = 0;
    *ok = 1;
    if (mt->nd <= 15 || (mt->nd <= 19 && mt->m <= (1ULL << 53) && decimals <= 22))
        return decimals ? (double)mt->m / POW10[decimals] : (double)mt->m;
    for (size_t k = i; k < j; k++)
        if (s[k] != ',')
            buf[n++] = s[k];
    buf[n] = '\0';
    char *end;
    double v = strtod(buf, &end);
    *ok = end == buf + n && isfinite(v);
    return v;
}

/* One pass: the integer part (a plain digit run, or 1-3 digits then groups
 * of ",ddd", a group followed by a fourth digit being no group), then a
 * point and digits, the digits' value taken as they go by. */
size_t check_scan_number(const char *s, size_t len, size_t i, struct check_num *out)
{
    if (i < len && check_plain_integer(s, len, i, out))
        return out->len;
    out->len = 0;
    out->ok = 0;
    if (i >= len || !(is_digit(s[i]) || s[i] == '.'))
        return 0;
    struct mant mt = {0, 0};
    size_t j = digit_run(s, len, i, &mt);
    if (j > i && j - i <= 3)
        while (comma_group(s, len, j))
            j = digit_run(s, len, j + 1, &mt);
    out->decimals = 0;
    if (j < len && s[j] == '.' && j + 1 < len && is_digit(s[j + 1])) {
        size_t nd = mt.nd, e = digit_run(s, len, j + 1, &mt);
        size_t d = mt.nd - nd;
        out->decimals = d > 1000 ? 1000 : (int)d;
        j = e;
    }
    if (j == i)
        return 0;
    out->len = j - i;
    if (out->len <= CHECK_NUM_MAX)
        out->v = number_value(s, i, j, out->decimals, &mt, &out->ok);
    return out->len;
}

int check_run_all(const struct check_input *in, struct check_result *r, struct check_answer *ans)
{
    return check_run_all_tap(in, r, ans, NULL, NULL);
}

int check_run_all_tap(const struct check_input *in, struct check_result *r,
                      struct check_answer *ans, check_equation_cb tap, void *cls)
{
    if (!in || !r)
        return -EINVAL;
    check_result_init(r);
    r->no_text = in->no_text;
    struct check_answer self;
    int rc = check_answer(in->resp, in->resp_len, &self, r);
    if (!rc)
        rc =
            check_agree(&self, in->others, in->others ? in->n_others : 0, in->max_samples, r, NULL);
    /* The arithmetic and the numbers share one scan of the equations. */
    struct check_prompt local;
    const struct check_prompt *p = in->prepared;
    if (!rc && !p) {
        rc = check_prompt_init(&local, in->prompt, in->prompt_len);
        p = &local;
    }
    /* The numbers scan is fed by the form's pass: one pass for both. */
    struct check_numscan ns;
    if (!rc)
        rc = check_numscan_begin_tap(&ns, p, in->resp, in->resp_len, r, true, tap, cls);
    if (!rc)
        rc = check_form_numbers(&ns, in->resp, in->resp_len, r);
    if (!rc && ans)
        *ans = self;
    return rc;
}
