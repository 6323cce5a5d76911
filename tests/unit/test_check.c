/* test_check.c - what the checkers share: names, numbers, findings, run_all. */
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

static void test_names(void **state)
{
    (void)state;
    for (int i = 0; i < CHECK_NFEAT; i++) {
        assert_non_null(check_feat_name[i]);
        for (int j = 0; j < i; j++)
            assert_true(strcmp(check_feat_name[i], check_feat_name[j]) != 0);
    }
    assert_string_equal(check_feat_name[CHECK_AGREE_SHARE], "agree_share");
    assert_string_equal(check_feat_name[CHECK_FORM_REFUSAL], "form_refusal");
    assert_string_equal(check_verdict_name(CHECK_PASS), "pass");
    assert_string_equal(check_verdict_name(CHECK_FAIL), "fail");
    assert_string_equal(check_verdict_name(CHECK_INFO), "info");
}

static void test_format_number(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {18, "18"},
        {-3, "-3"},
        {0.75, "0.75"},
        {1200.5, "1200.5"},
        {1.0 / 3, "0.333333"},
        {2.0 / 3, "0.666667"},
        {-0.0000001, "0"},
        {999999999999.0, "999999999999"},
        {1e13, "10000000000000"},
        {12345678901.5, "12345678901.5"},
        {1e20, "1e+20"},
        {INFINITY, "inf"},
    };
    char buf[48];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(check_format_number(cases[i].v, buf, sizeof(buf)), cases[i].want);
}

static void test_scan_number(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        double v;
        int decimals;
    } cases[] = {
        {"18 eggs", 2, 18, 0},    {"1,200.50$", 8, 1200.5, 2},
        {"1,20", 1, 1, 0},        {"12,345,678", 10, 12345678, 0},
        {"1234,567", 4, 1234, 0}, {".5.", 2, 0.5, 1},
        {"7.", 1, 7, 0},          {"0.1", 3, 0.1, 1},
        {"1,000,", 5, 1000, 0},   {"123456789012345678", 18, 123456789012345678.0, 0},
    };
    struct check_num num;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *s = cases[i].s;
        assert_int_equal(check_scan_number(s, strlen(s), 0, &num), cases[i].len);
        assert_true(num.ok);
        assert_true(num.v == cases[i].v);
        assert_int_equal(num.decimals, cases[i].decimals);
    }
    assert_int_equal(check_scan_number("x1", 2, 0, &num), 0);
    assert_int_equal(check_scan_number(". 1", 3, 0, &num), 0);
    assert_int_equal(check_scan_number("1", 1, 1, &num), 0);
    /* Cut by the length, not by a NUL. */
    assert_int_equal(check_scan_number("1234", 2, 0, &num), 2);
    assert_true(num.v == 12);
    /* Longer than CHECK_NUM_MAX: consumed whole, no value. */
    char digits[100];
    memset(digits, '9', sizeof(digits));
    assert_int_equal(check_scan_number(digits, sizeof(digits), 0, &num), sizeof(digits));
    assert_false(num.ok);
}

/* Numbers of 16 to 19 digits, the point anywhere: the value is what
 * strtod gives, bit for bit, on either side of 2^53 (the division of two
 * exact doubles, or strtod itself), and so are those of 15 and 20 digits. */
static void test_scan_number_long(void **state)
{
    (void)state;
    static const char *const fixed[] = {
        "0.3333333333333333",  "1.6666666666666667",    "9007199254740992",
        "9007199254740993",    "0.1000000000000001",    "9999999999999999.9",
        "1234567890123456789", "0.0000000000000000001", "12345678901234567890",
        "123456789012345",
    };
    char buf[32];
    struct check_num num;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t k = 0; k < 20000 + sizeof(fixed) / sizeof(fixed[0]); k++) {
        size_t n;
        if (k < sizeof(fixed) / sizeof(fixed[0])) {
            n = strlen(fixed[k]);
            memcpy(buf, fixed[k], n + 1);
        } else { /* 15 to 20 digits, a point after any of them but the last */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t nd = 15 + x % 6, dot = (x >> 8) % nd;
            n = 0;
            for (size_t d = 0; d < nd; d++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[n++] = (char)('0' + (d < 3 && x % 3 == 0 ? 9 : x % 10));
                if (d == dot && dot + 1 < nd && (x >> 20) % 2)
                    buf[n++] = '.';
            }
            buf[n] = '\0';
        }
        assert_int_equal(check_scan_number(buf, n, 0, &num), n);
        assert_int_equal(num.ok, 1);
        double want = strtod(buf, NULL);
        assert_memory_equal(&num.v, &want, sizeof(want));
    }
}

static void test_add(void **state)
{
    (void)state;
    struct check_result r;
    check_result_init(&r);
    check_add(&r, "x", "code", CHECK_INFO, 3, 4, "n=%d", 7);
    assert_int_equal(r.nf, 1);
    assert_string_equal(r.f[0].text, "n=7");
    assert_int_equal(r.f[0].start, 3);
    /* Texts are cut to CHECK_TEXT_MAX. */
    char longtext[300];
    memset(longtext, 'a', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    check_add(&r, "x", "code", CHECK_INFO, 0, 0, "%s", longtext);
    assert_int_equal(strlen(r.f[1].text), CHECK_TEXT_MAX - 1);
    /* Full: infos are dropped, a fail takes the last non-fail's place. */
    while (r.nf < CHECK_FINDINGS_MAX)
        check_add(&r, "x", "info", CHECK_INFO, 0, 0, "i");
    check_add(&r, "x", "info", CHECK_INFO, 0, 0, "i");
    check_add(&r, "x", "bad", CHECK_FAIL, 9, 1, "f");
    assert_int_equal(r.nf, CHECK_FINDINGS_MAX);
    assert_int_equal(r.dropped, 2);
    assert_string_equal(r.f[CHECK_FINDINGS_MAX - 1].code, "bad");
}

static const char Q[] = "Janet's ducks lay 16 eggs per day. She eats three and bakes with four. "
                        "She sells the rest for $2 each. How much does she make?";
static const char GOOD[] = "16 - 3 - 4 = <<16-3-4=9>>9 eggs\n9 * 2 = $<<9*2=18>>18\nA: 18";
static const char BAD[] = "16 - 3 = <<16-3=13>>13 eggs\n13 * 2 = $<<13*2=27>>27\nA: 27";

static void test_run_all(void **state)
{
    (void)state;
    struct check_answer others[3], own;
    assert_int_equal(check_answer(GOOD, strlen(GOOD), &others[0], NULL), 0);
    assert_int_equal(check_answer("A: 18", 5, &others[1], NULL), 0);
    assert_int_equal(check_answer(BAD, strlen(BAD), &others[2], NULL), 0);
    struct check_input in = {.prompt = Q,
                             .prompt_len = strlen(Q),
                             .resp = GOOD,
                             .resp_len = strlen(GOOD),
                             .others = others + 1,
                             .n_others = 2};
    struct check_result r;
    assert_int_equal(check_run_all(&in, &r, &own), 0);
    assert_true(check_answer_equal(&own, &others[0]));
    assert_true(r.v[CHECK_ANSWER_FOUND] == 1);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0.5);
    assert_true(r.v[CHECK_ARITH_CHECKED] == 4 && r.v[CHECK_ARITH_WRONG] == 0);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 1 && r.v[CHECK_NUMBERS_UNEXPLAINED] == 0);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 0 && r.v[CHECK_FORM_REFUSAL] == 0);

    in.resp = BAD;
    in.resp_len = strlen(BAD);
    in.others = others;
    assert_int_equal(check_run_all(&in, &r, NULL), 0);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0 && r.v[CHECK_AGREE_IN_TOP] == 0);
    assert_true(r.v[CHECK_ARITH_WRONG] == 2);
    assert_true(r.v[CHECK_NUMBERS_USED_SHARE] == 0.75);
    size_t fails = 0;
    for (size_t i = 0; i < r.nf; i++)
        fails += r.f[i].verdict == CHECK_FAIL;
    assert_int_equal(fails, 2);

    /* The prompt read once for the group gives the same features. */
    struct check_prompt p;
    struct check_result again;
    assert_int_equal(check_prompt_init(&p, Q, strlen(Q)), 0);
    assert_int_equal(p.n, 4);
    in.prepared = &p;
    assert_int_equal(check_run_all(&in, &again, NULL), 0);
    assert_memory_equal(again.v, r.v, sizeof(r.v));
    assert_int_equal(check_prompt_init(NULL, Q, 1), -EINVAL);
    assert_int_equal(check_prompt_init(&p, NULL, 1), -EINVAL);

    in.others = NULL; /* no group: agreement has nothing to share */
    assert_int_equal(check_run_all(&in, &r, NULL), 0);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0 && r.v[CHECK_AGREE_TOP_SHARE] == 1);
    assert_int_equal(check_run_all(NULL, &r, NULL), -EINVAL);
}

/* One megabyte of hostile text through every checker: annotations that never
 * close, '=' after long expressions, brackets, digits. Linear work: a
 * quadratic pass would blow the test's time limit by far. */
/* check_run_all scans the equations once for the arithmetic and the
 * numbers: the same features and findings as the checkers one by one. */
static void test_run_all_is_the_checkers_in_turn(void **state)
{
    (void)state;
    static struct check_result all, each;
    const char *prompt = "Janet has 16 eggs, eats three and bakes with 4. Each sells for $2.";
    const char *texts[] = {
        "16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n9 * 2 = $<<9*2=18>>18 a day, plus 5.\nA: 18",
        "She has 16 - 3 = 12 eggs and 12 * 2 = 24 then 7/0 = 1 and 3 + = 4\n#### 24", "",
        "no numbers at all, I can't say"};
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        struct check_answer self;
        const char *x = texts[t];
        struct check_input in = {
            .prompt = prompt, .prompt_len = strlen(prompt), .resp = x, .resp_len = strlen(x)};
        assert_int_equal(check_run_all(&in, &all, NULL), 0);
        check_result_init(&each);
        assert_int_equal(check_answer(x, strlen(x), &self, &each), 0);
        assert_int_equal(check_agree(&self, NULL, 0, 0, &each, NULL), 0);
        assert_int_equal(check_arith(x, strlen(x), &each), 0);
        assert_int_equal(check_numbers(prompt, strlen(prompt), x, strlen(x), &each), 0);
        assert_int_equal(check_form(x, strlen(x), &each), 0);
        assert_memory_equal(all.v, each.v, sizeof all.v);
        assert_int_equal(all.nf, each.nf);
        for (size_t i = 0; i < all.nf; i++) {
            assert_string_equal(all.f[i].code, each.f[i].code);
            assert_string_equal(all.f[i].text, each.f[i].text);
            assert_int_equal(all.f[i].start, each.f[i].start);
            assert_int_equal(all.f[i].len, each.f[i].len);
        }
    }
}

static void test_hostile_megabyte(void **state)
{
    (void)state;
    static const char *const units[] = {"<<",         "((((",  "1,000,",       "= ",
                                        "9999999999", "<<1+",  "\xe2\x88\x92", "2^",
                                        ">>",         "\n```", "I can't ",     "x "};
    size_t n = 1 << 20, i = 0, k = 0;
    char *s = test_malloc(n);
    while (i < n) {
        const char *u = units[(k++ * 7) % (sizeof(units) / sizeof(units[0]))];
        for (size_t j = 0; u[j] && i < n; j++)
            s[i++] = u[j];
    }
    struct check_input in = {.prompt = s, .prompt_len = n, .resp = s, .resp_len = n};
    struct check_result r;
    assert_int_equal(check_run_all(&in, &r, NULL), 0);
    for (size_t f = 0; f < r.nf; f++)
        assert_true(r.f[f].start + r.f[f].len <= n);
    test_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_format_number),
        cmocka_unit_test(test_scan_number),
        cmocka_unit_test(test_scan_number_long),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_run_all),
        cmocka_unit_test(test_hostile_megabyte),
        cmocka_unit_test(test_run_all_is_the_checkers_in_turn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
