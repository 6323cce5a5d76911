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

static void test_annotations(void **state)
{
    (void)state;
    struct found f;
    const char *s = "half is <<48/2=24>>24, and <<48/2=25>>25 is not";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.e[0].status, 0);
    assert_true(f.e[0].annotation);
    assert_span(s, f.e[0].start, f.e[0].len, "<<48/2=24>>");
    assert_int_equal(s[f.e[0].eq_off], '=');
    assert_int_equal(f.e[1].status, 1);
    assert_span(s, f.e[1].start, f.e[1].len, "<<48/2=25>>");
    assert_true(f.e[1].lhs == 24 && f.e[1].rhs == 25);

    s = "a <<3+=>> b <<>> c <<1/0=1>> d <<5";
    scan(s, &f);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.e[0].status, -EINVAL);
    assert_span(s, f.e[0].start, f.e[0].len, "<<3+=>>");
    assert_int_equal(f.e[1].status, -EINVAL);
    assert_span(s, f.e[1].start, f.e[1].len, "<<>>");
    assert_int_equal(f.e[2].status, -EDOM);

    /* Rounding: decimals written are a tolerance, an integer must be exact. */
    scan("<<800/3=266.6666666666667>> <<800/3=266.67>> <<7/2=4>> <<3-1/2*180=-87.0>>", &f);
    assert_int_equal(f.n, 4);
    assert_int_equal(f.e[0].status, 0);
    assert_int_equal(f.e[1].status, 0);
    assert_int_equal(f.e[2].status, 1);
    assert_int_equal(f.e[3].status, 0);
}

static void test_inline(void **state)
{
    (void)state;
    struct found f;
    const char *s = "Janet sells 16 - 3 - 4 = 9 eggs. She makes $2 * 9 = $18.";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_span(s, f.e[0].start, f.e[0].len, "16 - 3 - 4 = 9");
    assert_int_equal(f.e[0].status, 0);
    assert_span(s, f.e[1].start, f.e[1].len, "$2 * 9 = $18");
    assert_int_equal(f.e[1].status, 0);

    s = "so 16 - 3 = 12 left, 20 x 3 = 60, 1. 3 + 4 = 8";
    scan(s, &f);
    assert_int_equal(f.n, 3);
    assert_int_equal(f.e[0].status, 1);
    assert_span(s, f.e[0].start, f.e[0].len, "16 - 3 = 12");
    assert_int_equal(f.e[1].status, 0);
    assert_span(s, f.e[2].start, f.e[2].len, "3 + 4 = 8");
    assert_int_equal(f.e[2].status, 1);

    /* Chains are checked link by link; prose and comparisons are not. */
    scan("16 - 3 = 13 - 4 = 9; x = 5; a <= 3; total = 18; 4/6 = 2/3; 25/100 = 25%", &f);
    assert_int_equal(f.n, 4);
    for (size_t i = 0; i < f.n; i++)
        assert_int_equal(f.e[i].status, 0);
}

/* Lines of tests/data/gsm8k/model_solutions.jsonl. */
static void test_fixture_lines(void **state)
{
    (void)state;
    struct found f;
    const char *s = "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\xe2\x80\x99s market.";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_span(s, f.e[0].start, f.e[0].len, "9 * 2 = $<<9*2=18>>18");
    assert_int_equal(f.e[0].status, 0);
    assert_int_equal(f.e[1].status, 0);

    s = "The orange drink is 2/3 water, so 10 liters of orange drink is 10 * (2/3) = "
        "<<10*(2/3)=8>>8 liters of water.";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.e[0].status, 1);
    assert_span(s, f.e[0].start, f.e[0].len, "10 * (2/3) = <<10*(2/3)=8>>8");
    assert_int_equal(f.e[1].status, 1);
    assert_span(s, f.e[1].start, f.e[1].len, "<<10*(2/3)=8>>");

    s = "She should set it at 500 degrees because 520 x (1 + 0.18) = <<520*(1+0.18)=500>>500";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.e[0].status, 1);
    assert_int_equal(f.e[1].status, 1);

    s = "Since each cup of feed contains 3 cups, this means the chickens receive "
        "800/3=<<800/3=266.6666666666667>>266.6666666666667 cups of feed each day.";
    scan(s, &f);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.e[0].status, 0);
    assert_int_equal(f.e[1].status, 0);
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
        cmocka_unit_test(test_eval_nesting), cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_inline),       cmocka_unit_test(test_fixture_lines),
        cmocka_unit_test(test_checker),      cmocka_unit_test(test_findings_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
