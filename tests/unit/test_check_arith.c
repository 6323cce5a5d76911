/* test_check_arith.c - the safe evaluator and the arithmetic checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static double eval_ok(const char *s)
{
    double v = NAN;
    int ops = -1;
    assert_int_equal(check_eval(s, strlen(s), &v, &ops), 0);
    assert_true(ops >= 0);
    return v;
}

static int eval_rc(const char *s)
{
    double v = 0;
    return check_eval(s, strlen(s), &v, NULL);
}

static void test_eval_values(void **state)
{
    (void)state;
    assert_true(eval_ok("48/2") == 24);
    assert_true(eval_ok("2+3*4") == 14);
    assert_true(eval_ok("(2 + 3) * 4") == 20);
    assert_true(eval_ok("16 - 3 - 4") == 9);
    assert_true(eval_ok("-2^2") == -4);
    assert_true(eval_ok("2^-1") == 0.5);
    assert_true(eval_ok("2^3^2") == 512);
    assert_true(eval_ok("2**10") == 1024);
    assert_true(eval_ok("10 % 3") == 1);
    assert_true(eval_ok("50%") == 0.5);
    assert_true(eval_ok("200*10%") == 20);
    assert_true(eval_ok("1,200 + 300") == 1500);
    assert_true(eval_ok("$2 * 9") == 18);
    assert_true(eval_ok(".5*30") == 15);
    assert_true(eval_ok("20 x 3") == 60);
    assert_true(eval_ok("3 \xc3\x97 4") == 12);    /* × */
    assert_true(eval_ok("12 \xc3\xb7 4") == 3);    /* ÷ */
    assert_true(eval_ok("5 \xe2\x88\x92 2") == 3); /* − */
    assert_true(fabs(eval_ok("800/3") - 266.6666666666667) < 1e-9);
    assert_true(eval_ok("--3") == 3);
    int ops;
    double v;
    assert_int_equal(check_eval("7", 1, &v, &ops), 0);
    assert_int_equal(ops, 0);
    assert_int_equal(check_eval("1+2*3", 5, &v, &ops), 0);
    assert_int_equal(ops, 2);
}

static void test_eval_refusals(void **state)
{
    (void)state;
    assert_int_equal(eval_rc("1/0"), -EDOM);
    assert_int_equal(eval_rc("5 % 0"), -EDOM);
    assert_int_equal(eval_rc("2^99999"), -EDOM);
    assert_int_equal(eval_rc("(-8)^0.5"), -EDOM);
    assert_int_equal(eval_rc("999999999999999999999999999999^20"), -EDOM);
    assert_int_equal(eval_rc(""), -EINVAL);
    assert_int_equal(eval_rc("3+"), -EINVAL);
    assert_int_equal(eval_rc("()"), -EINVAL);
    assert_int_equal(eval_rc("3 3"), -EINVAL);
    assert_int_equal(eval_rc("(3"), -EINVAL);
    assert_int_equal(eval_rc("3)"), -EINVAL);
    assert_int_equal(eval_rc("1e3"), -EINVAL);
    assert_int_equal(eval_rc("abs(3)"), -EINVAL);
    assert_int_equal(eval_rc("1234567890123456789012345678901234567890123"), -E2BIG);
    double v;
    assert_int_equal(check_eval(NULL, 1, &v, NULL), -EINVAL);
}

/* Nesting: 10,000 parentheses are refused by length, 100 by depth, and 60
 * are fine. None of them may crash or recurse without bound. */
static void test_eval_nesting(void **state)
{
    (void)state;
    size_t n = 10000;
    char *s = test_malloc(2 * n + 1);
    memset(s, '(', n);
    s[n] = '1';
    memset(s + n + 1, ')', n);
    double v;
    assert_int_equal(check_eval(s, 2 * n + 1, &v, NULL), -E2BIG);
    assert_int_equal(check_eval(s + n - 100, 201, &v, NULL), -E2BIG);
    assert_int_equal(check_eval(s + n - 60, 121, &v, NULL), 0);
    assert_true(v == 1);
    memset(s, '-', 100);
    s[100] = '1';
    assert_int_equal(check_eval(s, 101, &v, NULL), -E2BIG);
    test_free(s);
}

/* Equations found in a text, for assertions. */
struct found {
    struct check_equation e[16];
    size_t n;
};

static int collect(void *cls, const struct check_equation *e)
{
    struct found *f = cls;
    assert_true(f->n < 16);
    f->e[f->n++] = *e;
    return 0;
}

/* Scans s from an exact-size heap copy, so a read past len is caught. */
static void scan(const char *s, struct found *f)
{
    size_t n = strlen(s);
    char *copy = test_malloc(n ? n : 1);
    memcpy(copy, s, n);
    memset(f, 0, sizeof(*f));
    assert_int_equal(check_arith_scan(copy, n, collect, f), 0);
    test_free(copy);
}

static void assert_span(const char *s, size_t start, size_t len, const char *want)
{
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s + start, want, len);
}

/* Texts and the equations found in them: each one's text and status. */
static const struct {
    const char *text;
    size_t n;
    struct {
        const char *span;
        int status;
    } e[4];
} CASES[] = {
    {"half is <<48/2=24>>24, and <<48/2=25>>25 is not",
     2,
     {{"<<48/2=24>>", 0}, {"<<48/2=25>>", 1}}},
    /* Malformed annotations; an unterminated one is no equation. */
    {"a <<3+=>> b <<>> c <<1/0=1>> d <<5",
     3,
     {{"<<3+=>>", -EINVAL}, {"<<>>", -EINVAL}, {"<<1/0=1>>", -EDOM}}},
    /* Rounding: decimals written are a tolerance, an integer must be exact. */
    {"<<800/3=266.6666666666667>> <<800/3=266.67>> <<7/2=4>> <<3-1/2*180=-87.0>>",
     4,
     {{"<<800/3=266.6666666666667>>", 0},
      {"<<800/3=266.67>>", 0},
      {"<<7/2=4>>", 1},
      {"<<3-1/2*180=-87.0>>", 0}}},
    {"Janet sells 16 - 3 - 4 = 9 eggs. She makes $2 * 9 = $18.",
     2,
     {{"16 - 3 - 4 = 9", 0}, {"$2 * 9 = $18", 0}}},
    /* Prose before an expression is cut off ("1. "). */
    {"so 16 - 3 = 12 left, 20 x 3 = 60, 1. 3 + 4 = 8",
     3,
     {{"16 - 3 = 12", 1}, {"20 x 3 = 60", 0}, {"3 + 4 = 8", 1}}},
    /* Chains are checked link by link; prose and comparisons are not. */
    {"16 - 3 = 13 - 4 = 9; x = 5; a <= 3; total = 18; 4/6 = 2/3; 25/100 = 25%",
     4,
     {{"16 - 3 = 13", 0}, {"13 - 4 = 9", 0}, {"4/6 = 2/3", 0}, {"25/100 = 25%", 0}}},
    /* Lines of tests/data/gsm8k/model_solutions.jsonl. */
    {"She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\xe2\x80\x99s market.",
     2,
     {{"9 * 2 = $<<9*2=18>>18", 0}, {"<<9*2=18>>", 0}}},
    {"The orange drink is 2/3 water, so 10 liters of orange drink is 10 * (2/3) = "
     "<<10*(2/3)=8>>8 liters of water.",
     2,
     {{"10 * (2/3) = <<10*(2/3)=8>>8", 1}, {"<<10*(2/3)=8>>", 1}}},
    {"She should set it at 500 degrees because 520 x (1 + 0.18) = <<520*(1+0.18)=500>>500",
     2,
     {{"520 x (1 + 0.18) = <<520*(1+0.18)=500>>500", 1}, {"<<520*(1+0.18)=500>>", 1}}},
    {"Since each cup of feed contains 3 cups, this means the chickens receive "
     "800/3=<<800/3=266.6666666666667>>266.6666666666667 cups of feed each day.",
     2,
     {{"800/3=<<800/3=266.6666666666667>>266.6666666666667", 0},
      {"<<800/3=266.6666666666667>>", 0}}},
    /* Digit groups written with spaces are not read as other numbers: the
     * inline sides would be "000 x 5/100" and "17"; the annotation stands. */
    {"The 5% brokerage fee is $350 000 x 5/100 = $<<350000*5/100=17500.0>>17 500.",
     1,
     {{"<<350000*5/100=17500.0>>", 0}}},
    {"The net is 400 000 - 282 = 118 and 4 + 3 = 7 000 later, 2 * 3 = 6 0", 1, {{"2 * 3 = 6", 0}}},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        const char *s = CASES[i].text;
        struct found f;
        scan(s, &f);
        assert_int_equal(f.n, CASES[i].n);
        for (size_t k = 0; k < f.n; k++) {
            assert_span(s, f.e[k].start, f.e[k].len, CASES[i].e[k].span);
            assert_int_equal(f.e[k].status, CASES[i].e[k].status);
            assert_int_equal(f.e[k].annotation, CASES[i].e[k].span[0] == '<');
            /* "<<>>" has no '=': its eq_off is its start. */
            assert_true(s[f.e[k].eq_off] == '=' || f.e[k].status == -EINVAL);
        }
    }
}

static void test_values(void **state)
{
    (void)state;
    struct found f;
    scan("and <<48/2=25>>25 is not", &f);
    assert_int_equal(f.n, 1);
    assert_true(f.e[0].lhs == 24 && f.e[0].rhs == 25);
    assert_int_equal(f.e[0].eq_off, 10);
}

static void test_checker(void **state)
{
    (void)state;
    struct check_result r;
    check_result_init(&r);
    const char *s = "3 + 4 = <<3+4=7>>7 then 7 * 2 = <<7*2=15>>15 and <<2/0=1>>";
    assert_int_equal(check_arith(s, strlen(s), &r), 0);
    assert_true(r.v[CHECK_ARITH_CHECKED] == 4);
    assert_true(r.v[CHECK_ARITH_WRONG] == 2);
    assert_true(r.v[CHECK_ARITH_UNEVAL] == 1);
    assert_int_equal(r.nf, 5);
    assert_string_equal(r.f[2].code, "arith_wrong");
    assert_int_equal(r.f[2].verdict, CHECK_FAIL);
    assert_span(s, r.f[2].start, r.f[2].len, "7 * 2 = <<7*2=15>>15");
    assert_string_equal(r.f[2].text, "wrong: it is 14, not 15");
    assert_int_equal(check_arith(NULL, 1, &r), -EINVAL);
    assert_int_equal(check_arith(NULL, 0, &r), 0);
}

/* A long text keeps every wrong equation among its findings: fails take the
 * place of passes once the cap is reached. */
static void test_findings_cap(void **state)
{
    (void)state;
    size_t n = 200, unit = 12;
    char *s = test_malloc(n * unit + 16);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * unit, "<<2*3=6>>6. ", unit);
    memcpy(s + n * unit, "<<2*3=7>>", 9);
    struct check_result r;
    check_result_init(&r);
    assert_int_equal(check_arith(s, n * unit + 9, &r), 0);
    assert_int_equal(r.nf, CHECK_FINDINGS_MAX);
    assert_int_equal(r.dropped, n + 1 - CHECK_FINDINGS_MAX);
    assert_int_equal(r.f[CHECK_FINDINGS_MAX - 1].verdict, CHECK_FAIL);
    assert_true(r.v[CHECK_ARITH_WRONG] == 1);
    test_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_values),  cmocka_unit_test(test_eval_refusals),
        cmocka_unit_test(test_eval_nesting), cmocka_unit_test(test_cases),
        cmocka_unit_test(test_values),       cmocka_unit_test(test_checker),
        cmocka_unit_test(test_findings_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
