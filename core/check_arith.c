/* check_arith.c - the arithmetic checker and its evaluator (see check.h).
 *
 * The evaluator is a recursive-descent parser over a length-bounded byte
 * range: it reads numbers and operators and nothing else, so model text can
 * never make it do more than add, multiply and raise. Its recursion is
 * bounded by CHECK_DEPTH_MAX and its input by CHECK_EXPR_MAX, and every
 * intermediate result is checked for being finite, so no input is undefined
 * behaviour: it is a value or a refusal.
 */
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Parser state over s[0..len). */
struct ev {
    const char *s;
    size_t len;
    size_t i;  /* next byte */
    int depth; /* current nesting of unary / parenthesis levels */
    int ops;   /* binary operations applied */
    int err;   /* first error (negative errno), 0 while fine */
};

static double fail(struct ev *e, int err)
{
    if (!e->err)
        e->err = err;
    return 0.0;
}

/* A finite result, or the -EDOM refusal. */
static double checked(struct ev *e, double v)
{
    return isfinite(v) ? v : fail(e, -EDOM);
}

static void skip_blank(struct ev *e)
{
    while (e->i < e->len && (e->s[e->i] == ' ' || e->s[e->i] == '\t' || e->s[e->i] == '$'))
        e->i++;
}

/* Bytes of the UTF-8 operator at s[i] (× ÷ −) and its ASCII meaning in *op,
 * or 0. */
static size_t utf8_op(const char *s, size_t len, size_t i, char *op)
{
    const unsigned char *u = (const unsigned char *)s;
    if (i + 1 < len && u[i] == 0xc3 && (u[i + 1] == 0x97 || u[i + 1] == 0xb7)) {
        *op = u[i + 1] == 0x97 ? '*' : '/';
        return 2;
    }
    if (i + 2 < len && u[i] == 0xe2 && u[i + 1] == 0x88 && u[i + 2] == 0x92) {
        *op = '-';
        return 3;
    }
    return 0;
}

/* The binary operator at the cursor (after blanks): '+', '-', '*', '/',
 * '^' or '%', its length in *n; 0 when none. 'x' multiplies here only. */
static char peek_op(struct ev *e, size_t *n)
{
    skip_blank(e);
    if (e->i >= e->len)
        return 0;
    char c = e->s[e->i], op;
    *n = 1;
    if (c == '*' && e->i + 1 < e->len && e->s[e->i + 1] == '*') {
        *n = 2;
        return '^';
    }
    switch (c) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '^':
    case '%':
        return c;
    default:
        break;
    }
    if (c == 'x' || c == 'X')
        return '*';
    if ((*n = utf8_op(e->s, e->len, e->i, &op)) != 0)
        return op;
    return 0;
}

/* 1 when an operand (a number or '(') starts at s[i] after blanks. */
static int operand_at(const struct ev *e, size_t i)
{
    while (i < e->len && (e->s[i] == ' ' || e->s[i] == '\t' || e->s[i] == '$'))
        i++;
    return i < e->len && ((e->s[i] >= '0' && e->s[i] <= '9') || e->s[i] == '.' || e->s[i] == '(');
}

static double expr(struct ev *e);
static double unary(struct ev *e);

static double primary(struct ev *e)
{
    skip_blank(e);
    if (e->i < e->len && e->s[e->i] == '(') {
        e->i++;
        double v = expr(e);
        skip_blank(e);
        if (e->i >= e->len || e->s[e->i] != ')')
            return fail(e, -EINVAL);
        e->i++;
        return v;
    }
    struct check_num num;
    if (!check_scan_number(e->s, e->len, e->i, &num))
        return fail(e, -EINVAL);
    e->i += num.len;
    return num.ok ? num.v : fail(e, -E2BIG);
}

/* primary, then percent signs that no operand follows: 50% = 0.5. */
static double postfix(struct ev *e)
{
    double v = primary(e);
    size_t n;
    while (!e->err && peek_op(e, &n) == '%' && !operand_at(e, e->i + 1)) {
        e->i++;
        v /= 100.0;
    }
    return v;
}

/* postfix [^ unary]: right-associative, and binds tighter than a leading
 * minus (-2^2 = -4) but admits one in the exponent (2^-1). */
static double power(struct ev *e)
{
    double b = postfix(e);
    size_t n;
    if (e->err || peek_op(e, &n) != '^')
        return b;
    e->i += n;
    double x = unary(e);
    if (e->err)
        return 0.0;
    e->ops++;
    return checked(e, pow(b, x));
}

static double unary(struct ev *e)
{
    if (++e->depth > CHECK_DEPTH_MAX)
        return fail(e, -E2BIG);
    size_t n;
    char op = peek_op(e, &n);
    double v;
    if (op == '-' || op == '+') {
        e->i += n;
        v = unary(e);
        v = op == '-' ? -v : v;
    } else {
        v = power(e);
    }
    e->depth--;
    return v;
}

static double apply(struct ev *e, char op, double a, double b)
{
    e->ops++;
    switch (op) {
    case '+':
        return checked(e, a + b);
    case '-':
        return checked(e, a - b);
    case '*':
        return checked(e, a * b);
    case '/':
        return b == 0.0 ? fail(e, -EDOM) : checked(e, a / b);
    default: /* '%' */
        return b == 0.0 ? fail(e, -EDOM) : checked(e, fmod(a, b));
    }
}

static double term(struct ev *e)
{
    double v = unary(e);
    size_t n;
    char op;
    while (!e->err && (op = peek_op(e, &n)) != 0 && (op == '*' || op == '/' || op == '%')) {
        e->i += n;
        v = apply(e, op, v, unary(e));
    }
    return v;
}

static double expr(struct ev *e)
{
    double v = term(e);
    size_t n;
    char op;
    while (!e->err && (op = peek_op(e, &n)) != 0 && (op == '+' || op == '-')) {
        e->i += n;
        v = apply(e, op, v, term(e));
    }
    return v;
}

/* ---- the fast path ------------------------------------------------------
 * Most equations are numbers joined by + - * / with blanks between (every
 * GSM8K annotation is). For those, a loop with one accumulator per
 * precedence level does what the recursive descent does, in its order (a
 * term's products and quotients left to right, then the terms' sums left
 * to right), so every double is the same. Anything else, and any error, is
 * left to the descent: the fast path answers only when it is sure. */

/* Index of the first byte at or after i that is no blank (skip_blank's). */
static size_t fast_blank(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '$'))
        i++;
    return i;
}

/* The plain binary operator at s[i], or 0: "**" (power) and every other
 * operator go to the descent. */
static char fast_op(const char *s, size_t len, size_t i)
{
    char c = s[i];
    if (c == '+' || c == '-' || c == '/')
        return c;
    return c == '*' && !(i + 1 < len && s[i + 1] == '*') ? '*' : 0;
}

/* a op b as apply() gives it; 0, or 1 when apply would fail. */
static int fast_apply(char op, double a, double *b)
{
    double v = op == '+' ? a + *b : op == '-' ? a - *b : op == '*' ? a * *b : a / *b;
    if ((op == '/' && *b == 0.0) || !isfinite(v))
        return 1;
    *b = v;
    return 0;
}

/* check_eval of s[0..len) when it is numbers and + - * / only: 0 with *out
 * and *ops set, or 1 when the descent must decide. */
static int fast_eval(const char *s, size_t len, double *out, int *ops)
{
    double sum = 0.0, prod = 0.0;
    char add = 0, mul = 0; /* the pending + - and * / (0: none) */
    size_t i = fast_blank(s, len, 0);
    struct check_num num;
    for (int n = 0;; n++) {
        if (!(i < len && check_plain_integer(s, len, i, &num)) &&
            (!check_scan_number(s, len, i, &num) || !num.ok))
            return 1;
        double v = num.v;
        if (mul && fast_apply(mul, prod, &v))
            return 1;
        i = fast_blank(s, len, i + num.len);
        char op = i < len ? fast_op(s, len, i) : 0;
        if (i < len && !op)
            return 1;
        if (op == '*' || op == '/') { /* the term goes on */
            prod = v, mul = op;
        } else { /* the term ends: into the sum */
            if (add && fast_apply(add, sum, &v))
                return 1;
            sum = v, add = op, mul = 0;
        }
        if (!op) {
            *out = sum;
            *ops = n;
            return 0;
        }
        i = fast_blank(s, len, i + 1);
    }
}

int check_eval(const char *s, size_t len, double *out, int *ops)
{
    if (!out || (!s && len))
        return -EINVAL;
    if (len > CHECK_EXPR_MAX)
        return -E2BIG;
    int nops;
    if (!fast_eval(s, len, out, &nops)) {
        if (ops)
            *ops = nops;
        return 0;
    }
    struct ev e = {s, len, 0, 0, 0, 0};
    double v = expr(&e);
    skip_blank(&e);
    if (!e.err && e.i != len)
        e.err = -EINVAL;
    if (e.err)
        return e.err;
    *out = v;
    if (ops)
        *ops = e.ops;
    return 0;
}

/* ---- finding equations ------------------------------------------------- */

/* Is r, written with d decimals, the value v? See check_arith_scan. */
static int result_right(double v, double r, int d)
{
    double diff = fabs(v - r), big = fabs(v) > 1.0 ? fabs(v) : 1.0;
    if (diff <= 1e-6 * big)
        return 1;
    return d > 0 && diff < pow(10.0, -(d > 300 ? 300 : d));
}

/* A written result at s[i] after blanks: an optional '-', a number, an
 * optional "/number" or '%'. Sets *v, *alt (r / 100 after a '%', else *v),
 * *d (decimals) and returns its end, or 0 when there is none. */
static size_t written_result(const char *s, size_t len, size_t i, double *v, double *alt, int *d)
{
    int neg = 0;
    struct check_num a, b;
    while (i < len && (s[i] == ' ' || s[i] == '$'))
        i++;
    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (!(i < len && check_plain_integer(s, len, i, &a)) &&
        (!check_scan_number(s, len, i, &a) || !a.ok))
        return 0;
    i += a.len;
    *v = neg ? -a.v : a.v;
    *alt = *v;
    *d = a.decimals;
    if (i + 1 < len && s[i] == '/' && check_scan_number(s, len, i + 1, &b) && b.ok && b.v != 0) {
        *v /= b.v;
        *alt = *v;
        *d = 0;
        return i + 1 + b.len;
    }
    if (i < len && s[i] == '%') {
        *alt = *v / 100.0;
        return i + 1;
    }
    return i;
}

size_t check_annotation_close(const char *s, size_t len, size_t i)
{
    size_t lim = i + 2 + CHECK_EXPR_MAX;
    for (size_t j = i + 2; j + 1 < len && j <= lim; j++) {
        /* 8 bytes at a time to the next '\n' or '>' (the lowest flag of
         * check_has8 is exact): the bytes skipped end nothing. */
        if (j + 8 <= len) {
            uint64_t w = check_load8(s + j), m = check_has8(w, '\n') | check_has8(w, '>');
            if (!m) {
                j += 7;
                continue;
            }
            j += check_first8(m);
            if (!(j + 1 < len && j <= lim))
                break;
        }
        if (s[j] == '\n')
            return 0;
        if (s[j] == '>' && s[j + 1] == '>')
            return j;
    }
    return 0;
}

static void verdict(struct check_equation *eq, double lhs, double r, double alt, int d)
{
    eq->lhs = lhs;
    eq->rhs = r;
    eq->status = !(result_right(lhs, r, d) || result_right(lhs, alt, d));
}

/* The last check_annotation_close the scan computed: an inline equation
 * looks past the annotation after its '=', which the scan reads next. */
struct close_memo {
    size_t at, close; /* at is never an annotation's offset when unset */
};

static size_t close_at(struct close_memo *m, const char *s, size_t len, size_t i)
{
    if (m->at != i) {
        m->close = check_annotation_close(s, len, i);
        m->at = i;
    }
    return m->close;
}

/* Reads the annotation opened at s[i] into *eq; returns the offset after
 * its ">>", or 0 when it is not closed. An annotation without '=' or with a
 * side that does not evaluate is an equation that cannot be evaluated. */
static size_t annotation(const char *s, size_t len, size_t i, struct check_equation *eq,
                         struct close_memo *m)
{
    size_t close = close_at(m, s, len, i), eqo = 0;
    if (!close)
        return 0;
    for (size_t j = close; j > i + 2 && !eqo;) /* the last '=' */
        if (s[--j] == '=')
            eqo = j;
    memset(eq, 0, sizeof(*eq));
    eq->start = i;
    eq->len = close + 2 - i;
    eq->eq_off = eqo ? eqo : i;
    eq->annotation = 1;
    eq->status = -EINVAL;
    double lhs, r, alt;
    int d = 0;
    if (!eqo || (eq->status = check_eval(s + i + 2, eqo - i - 2, &lhs, NULL)) != 0)
        return close + 2;
    size_t end = written_result(s, close, eqo + 1, &r, &alt, &d);
    while (end && end < close && s[end] == ' ')
        end++;
    if (end != close) {
        eq->status = check_eval(s + eqo + 1, close - eqo - 1, &r, NULL);
        alt = r;
        d = 0;
    }
    if (!eq->status)
        verdict(eq, lhs, r, alt, d);
    return close + 2;
}

/* 1 when the 'x' at s[j] multiplies: a digit or ')' before it (maybe after
 * blanks, but no letter right before) and an operand after it. */
static int times_x(const char *s, size_t len, size_t j)
{
    size_t a = j, b = j + 1;
    while (a > 0 && s[a - 1] == ' ')
        a--;
    while (b < len && s[b] == ' ')
        b++;
    if (a == 0 || b >= len)
        return 0;
    return check_one_of(s[a - 1], "0123456789)") && check_one_of(s[b], "0123456789($.");
}

/* The one-byte expression characters: blanks, operators, parentheses,
 * '$', '.' and digits (a table: this runs on each byte before an '='). */
static const unsigned char EXPR_BYTE[256] = {
    [' '] = 1, ['\t'] = 1, ['+'] = 1, ['-'] = 1, ['*'] = 1, ['/'] = 1, ['^'] = 1, ['%'] = 1,
    ['('] = 1, [')'] = 1,  ['$'] = 1, ['.'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1,  ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
};

/* Bytes of the expression character that ends at s[j - 1], or 0. */
static size_t expr_bytes_before(const char *s, size_t len, size_t j)
{
    const unsigned char *u = (const unsigned char *)s;
    char c = s[j - 1], op;
    if (EXPR_BYTE[u[j - 1]])
        return 1;
    if (c == ',')
        return j < len && s[j] >= '0' && s[j] <= '9';
    if (c == 'x' || c == 'X')
        return times_x(s, len, j - 1);
    if (j >= 2 && u[j - 2] == 0xc3 && utf8_op(s, len, j - 2, &op))
        return 2;
    if (j >= 3 && u[j - 3] == 0xe2 && utf8_op(s, len, j - 3, &op))
        return 3;
    return 0;
}

/* Start of the expression that ends at the '=' at s[q]: the longest run of
 * expression characters before it (at most CHECK_EXPR_MAX bytes), less the
 * leading bytes that cannot begin one. */
static size_t expr_start(const char *s, size_t len, size_t q)
{
    size_t j = q, lim = q > CHECK_EXPR_MAX ? q - CHECK_EXPR_MAX : 0, n;
    while (j > lim && (n = expr_bytes_before(s, len, j)) != 0 && n <= j - lim)
        j -= n;
    while (j < q && !((s[j] >= '0' && s[j] <= '9') || s[j] == '(' || s[j] == '-' || s[j] == '$' ||
                      s[j] == '.'))
        j++;
    return j;
}

/* Evaluates the left side s[a..b). Prose often runs into it ("1. 3 + 4",
 * "(so 3 + 4"), so a malformed one is retried from after each of its first
 * few blanks. Returns check_eval's result; *a moves to what was evaluated. */
static int eval_lhs(const char *s, size_t *a, size_t b, double *v, int *ops)
{
    int rc = check_eval(s + *a, b - *a, v, ops);
    for (int tries = 0; rc == -EINVAL && tries < 4; tries++) {
        const char *sp = memchr(s + *a, ' ', b - *a);
        if (!sp)
            break;
        *a = (size_t)(sp - s) + 1;
        while (*a < b && s[*a] == ' ')
            (*a)++;
        rc = check_eval(s + *a, b - *a, v, ops);
    }
    return rc;
}

/* 1 when the digits at s[i] continue a number written with spaces between
 * its digit groups ("$350 000", "17 500"): a digit, one space, then
 * exactly three digits. Such numbers are not read: a side cut from one
 * would be checked as another number. */
static int space_grouped(const char *s, size_t len, size_t i)
{
    size_t n = 0;
    if (i < 2 || s[i - 1] != ' ' || s[i - 2] < '0' || s[i - 2] > '9')
        return 0;
    while (i + n < len && s[i + n] >= '0' && s[i + n] <= '9')
        n++;
    return n == 3;
}

/* Reads the inline equation whose '=' is at s[q] into *eq; returns 1, or 0
 * when there is none: no operator on the left, a left side that is not an
 * expression (prose), no number after the '=' (and its annotation), or a
 * side that cuts into a number written in space-separated digit groups. */
static int inline_eq(const char *s, size_t len, size_t q, struct check_equation *eq,
                     struct close_memo *m)
{
    if ((q > 0 && check_one_of(s[q - 1], "<>!=")) || (q + 1 < len && s[q + 1] == '='))
        return 0;
    size_t a = expr_start(s, len, q), b = q, k = q + 1, close, end;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    double lhs = 0, r, alt;
    int ops = 0, d;
    int rc = a < b ? eval_lhs(s, &a, b, &lhs, &ops) : -EINVAL;
    if (rc == -EINVAL || rc == -E2BIG || (!rc && ops == 0))
        return 0;
    while (k < len && (s[k] == ' ' || s[k] == '$'))
        k++;
    if (k + 1 < len && s[k] == '<' && s[k + 1] == '<' && (close = close_at(m, s, len, k)))
        k = close + 2;
    if (!(end = written_result(s, len, k, &r, &alt, &d)))
        return 0;
    if (space_grouped(s, len, a) || (end + 1 < len && space_grouped(s, len, end + 1)))
        return 0;
    memset(eq, 0, sizeof(*eq));
    eq->start = a;
    eq->len = end - a;
    eq->eq_off = q;
    eq->status = rc;
    if (!rc)
        verdict(eq, lhs, r, alt, d);
    return 1;
}

int check_arith_scan(const char *s, size_t len, check_equation_cb cb, void *cls)
{
    struct check_equation eq;
    struct close_memo memo = {SIZE_MAX, 0}; /* no '<<' starts at SIZE_MAX */
    size_t i = 0;
    if (!s || !cb)
        return 0;
    while (i < len) {
        size_t next = i + 1, end;
        int found = 0, rc;
        if (i + 8 <= len) {
            uint64_t w = check_load8(s + i), m = check_has8(w, '<') | check_has8(w, '=');
            if (!m) {
                i += 8; /* nothing starts in s[i..i + 8) */
                continue;
            }
            size_t skip = check_first8(m); /* bytes before the first '<' or '=' */
            if (skip) {
                i += skip;
                continue;
            }
        }
        if (s[i] == '<' && i + 1 < len && s[i + 1] == '<') {
            end = annotation(s, len, i, &eq, &memo);
            found = end != 0;
            next = end ? end : i + 2;
        } else if (s[i] == '=') {
            found = inline_eq(s, len, i, &eq, &memo);
        }
        if (found && (rc = cb(cls, &eq)) != 0)
            return rc;
        i = next;
    }
    return 0;
}

static const char *why_not(int status)
{
    switch (status) {
    case -EDOM:
        return "division by zero or overflow";
    case -E2BIG:
        return "too long or nested too deep";
    default:
        return "not an expression";
    }
}

void check_arith_record(struct check_result *r, const struct check_equation *eq)
{
    char a[32], b[32];
    if (eq->status < 0) {
        r->v[CHECK_ARITH_UNEVAL]++;
        check_add(r, "arithmetic", "arith_uneval", CHECK_INFO, eq->start, eq->len,
                  "cannot evaluate: %s", why_not(eq->status));
        return;
    }
    r->v[CHECK_ARITH_CHECKED]++;
    if (eq->status == 0) {
        check_add(r, "arithmetic", "arith_right", CHECK_PASS, eq->start, eq->len, "right");
        return;
    }
    r->v[CHECK_ARITH_WRONG]++;
    if (r->no_text) { /* the sentence is left out: nothing to format */
        check_add(r, "arithmetic", "arith_wrong", CHECK_FAIL, eq->start, eq->len, "wrong");
        return;
    }
    check_add(r, "arithmetic", "arith_wrong", CHECK_FAIL, eq->start, eq->len,
              "wrong: it is %s, not %s", check_format_number(eq->lhs, a, sizeof(a)),
              check_format_number(eq->rhs, b, sizeof(b)));
}

static int add_equation(void *cls, const struct check_equation *eq)
{
    check_arith_record(cls, eq);
    return 0;
}

int check_arith(const char *resp, size_t len, struct check_result *r)
{
    if (!r || (!resp && len))
        return -EINVAL;
    return check_arith_scan(resp, len, add_equation, r);
}
