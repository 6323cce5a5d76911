/* test_agree.c - agreement statistics against values computed by hand (or,
 * for the larger tables, by the textbook formulas written out separately). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "agree.h"

#define NEAR(x, want) assert_true(fabs((x) - (want)) < 1e-3)

/* Cohen's textbook case: 50 units, yes/yes 20, yes/no 5, no/yes 10, no/no
 * 15: observed 0.70, chance 0.5 * 0.6 + 0.5 * 0.4 = 0.50, kappa 0.40. */
static void test_cohen_textbook(void **state)
{
    (void)state;
    uint8_t a[50], b[50];
    for (int i = 0; i < 50; i++) {
        a[i] = i < 25 ? 0 : 1;
        b[i] = (i < 20 || (i >= 25 && i < 35)) ? 0 : 1;
    }
    struct agree_stat s;
    assert_int_equal(agree_cohen(a, b, 50, 2, &s), 0);
    NEAR(s.value, 0.40);
    assert_int_equal(s.units, 50);
    assert_int_equal(s.ratings, 100);
    assert_true(s.lo < s.value && s.value < s.hi);
    assert_true(s.lo > 0.0 && s.hi < 0.8);
}

/* Always the same answer as each other, both categories used: 1; one
 * category only: undefined (chance agreement is already perfect). */
static void test_cohen_degenerate(void **state)
{
    (void)state;
    uint8_t a[6] = {0, 1, 0, 1, 1, 0}, zero[6] = {0};
    struct agree_stat s;
    assert_int_equal(agree_cohen(a, a, 6, 2, &s), 0);
    NEAR(s.value, 1.0);
    NEAR(s.lo, 1.0);
    assert_int_equal(agree_cohen(zero, zero, 6, 2, &s), 0);
    assert_true(isnan(s.value) && isnan(s.lo) && isnan(s.hi));
    assert_int_equal(agree_cohen(a, a, 0, 2, &s), 0);
    assert_true(isnan(s.value));
    assert_int_equal(s.units, 0);
    uint8_t bad[1] = {3};
    assert_int_equal(agree_cohen(bad, bad, 1, 3, &s), -EINVAL);
    assert_int_equal(agree_cohen(a, a, 6, 1, &s), -EINVAL);
    assert_int_equal(agree_cohen(a, a, 6, AGREE_MAX_CATEGORIES + 1, &s), -EINVAL);
}

/* Fleiss (1971)'s worked table: 10 subjects, 14 raters, 5 categories;
 * P-bar 0.378, P_e 0.213, kappa 0.210. */
static const unsigned FLEISS[10][5] = {
    {0, 0, 0, 0, 14}, {0, 2, 6, 4, 2}, {0, 0, 3, 5, 6}, {0, 3, 9, 2, 0}, {2, 2, 8, 1, 1},
    {7, 7, 0, 0, 0},  {3, 2, 6, 3, 0}, {2, 5, 3, 2, 2}, {6, 5, 2, 1, 0}, {0, 2, 2, 3, 7},
};

static void test_fleiss_textbook(void **state)
{
    (void)state;
    struct agree_stat s;
    assert_int_equal(agree_fleiss(&FLEISS[0][0], 10, 5, &s), 0);
    NEAR(s.value, 0.2099);
    assert_int_equal(s.units, 10);
    assert_int_equal(s.ratings, 140);
    assert_true(s.lo <= s.value && s.value <= s.hi && s.hi - s.lo > 0.01);
}

/* Krippendorff's alpha with missing ratings (units rated by 1 to 4 raters,
 * 4 categories): the coincidence matrix gives n = 21 pairable values,
 * observed disagreement 4 and expected 9.537 (by the pairwise definition,
 * written out separately), alpha = 0.5807. The unit with one rating is left
 * out. */
static const unsigned KRIPP[8][4] = {
    {2, 0, 0, 0}, {0, 2, 1, 0}, {0, 0, 4, 0}, {1, 1, 0, 0},
    {0, 0, 0, 3}, {2, 2, 0, 0}, {0, 0, 1, 0}, {0, 3, 0, 0},
};

static void test_alpha_missing(void **state)
{
    (void)state;
    struct agree_stat s;
    assert_int_equal(agree_alpha_nominal(&KRIPP[0][0], 8, 4, &s), 0);
    NEAR(s.value, 0.5807);
    assert_int_equal(s.units, 7);
    assert_int_equal(s.ratings, 21);
    assert_true(s.lo <= s.value && s.value <= s.hi);
}

/* All raters always agree: kappa and alpha are 1; one rater only: nothing
 * to compare, undefined and resting on no unit; one category only:
 * undefined. */
static void test_many_degenerate(void **state)
{
    (void)state;
    unsigned agree[4][3] = {{3, 0, 0}, {0, 3, 0}, {0, 0, 2}, {3, 0, 0}};
    unsigned one_rater[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    unsigned one_cat[3][2] = {{2, 0}, {3, 0}, {2, 0}};
    struct agree_stat s;
    assert_int_equal(agree_fleiss(&agree[0][0], 4, 3, &s), 0);
    NEAR(s.value, 1.0);
    assert_int_equal(agree_alpha_nominal(&agree[0][0], 4, 3, &s), 0);
    NEAR(s.value, 1.0);
    NEAR(s.lo, 1.0);
    assert_int_equal(agree_fleiss(&one_rater[0][0], 3, 3, &s), 0);
    assert_true(isnan(s.value));
    assert_int_equal(s.units, 0);
    assert_int_equal(agree_alpha_nominal(&one_rater[0][0], 3, 3, &s), 0);
    assert_true(isnan(s.value));
    assert_int_equal(agree_alpha_nominal(&one_cat[0][0], 3, 2, &s), 0);
    assert_true(isnan(s.value));
    assert_int_equal(agree_fleiss(&one_cat[0][0], 3, 2, &s), 0);
    assert_true(isnan(s.value));
    assert_int_equal(agree_fleiss(NULL, 3, 2, &s), -EINVAL);
}

/* Two raters, no missing ratings: Fleiss' kappa is then Scott's pi, and
 * alpha corrects it for the finite sample: alpha = 1 - (1 - pi)(n - 1) / n
 * with n the number of values. Here observed agreement 4/6 and chance 0.5
 * give pi = 1/3, and n = 12 gives alpha = 1 - 11 * 4 / 72 = 0.389. */
static void test_alpha_vs_fleiss(void **state)
{
    (void)state;
    unsigned rows[6][2] = {{2, 0}, {1, 1}, {0, 2}, {2, 0}, {0, 2}, {1, 1}};
    struct agree_stat f, al;
    assert_int_equal(agree_fleiss(&rows[0][0], 6, 2, &f), 0);
    assert_int_equal(agree_alpha_nominal(&rows[0][0], 6, 2, &al), 0);
    NEAR(f.value, 1.0 / 3.0);
    NEAR(al.value, 1.0 - 11.0 * 4.0 / 72.0);
}

static void test_wilson(void **state)
{
    (void)state;
    double lo, hi;
    agree_wilson(81, 100, &lo, &hi);
    NEAR(lo, 0.7222);
    NEAR(hi, 0.8749);
    agree_wilson(0, 10, &lo, &hi);
    NEAR(lo, 0.0);
    NEAR(hi, 0.2775);
    agree_wilson(0, 0, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cohen_textbook),  cmocka_unit_test(test_cohen_degenerate),
        cmocka_unit_test(test_fleiss_textbook), cmocka_unit_test(test_alpha_missing),
        cmocka_unit_test(test_many_degenerate), cmocka_unit_test(test_alpha_vs_fleiss),
        cmocka_unit_test(test_wilson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
