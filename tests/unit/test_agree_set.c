/* test_agree_set.c - agreement over stored labels against values computed
 * by hand: a pair's kappa, Fleiss' kappa and Krippendorff's alpha over
 * units with two or three ratings, and the degenerate cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "agree_set.h"

#define NEAR(x, want) assert_true(fabs((x) - (want)) < 1e-3)

enum { A = 0, B = 1 };

/* Raters 10 and 20 rate units 1..4 (a a b b / a b b b); rater 30 rates
 * units 1 and 2 (a, a).
 * Cohen 10-20: observed 3/4, chance 0.5 * 0.25 + 0.5 * 0.75 = 0.5, kappa 0.5.
 * Fleiss: unit agreement 1, 1/3, 1, 1 (mean 5/6); pooled a 5 of 10, chance
 * 0.5; kappa (5/6 - 1/2) / (1/2) = 2/3.
 * Alpha: coincidences aa 4, ab 1, ba 1, bb 4 (n 10): D_o 0.2, D_e
 * 2 * 5 * 5 / (10 * 9) = 5/9, alpha 1 - 0.36 = 0.64. */
static const struct agree_set_label mixed[] = {
    {1, 10, A}, {1, 20, A}, {1, 30, A}, {2, 10, A}, {2, 20, B},
    {2, 30, A}, {3, 10, B}, {3, 20, B}, {4, 10, B}, {4, 20, B},
};

static void test_by_hand(void **state)
{
    (void)state;
    struct agree_set s;
    assert_int_equal(agree_set_compute(mixed, 10, 3, &s), 0);
    assert_int_equal(s.npairs, 1); /* 30 shares two units with each: too few */
    assert_int_equal(s.pairs[0].rater_a, 10);
    assert_int_equal(s.pairs[0].rater_b, 20);
    NEAR(s.pairs[0].kappa.value, 0.5);
    assert_int_equal(s.pairs[0].kappa.units, 4);
    NEAR(s.fleiss.value, 2.0 / 3.0);
    assert_int_equal(s.fleiss.units, 4);
    assert_int_equal(s.fleiss.ratings, 10);
    NEAR(s.alpha.value, 0.64);
    assert_true(s.alpha.lo <= s.alpha.value && s.alpha.value <= s.alpha.hi);
    agree_set_clear(&s);
    /* With a lower bar, 30 pairs with both (always the same as 10). */
    assert_int_equal(agree_set_compute(mixed, 10, 2, &s), 0);
    assert_int_equal(s.npairs, 3);
    assert_int_equal(s.pairs[1].rater_a, 10);
    assert_int_equal(s.pairs[1].rater_b, 30);
    assert_true(isnan(s.pairs[1].kappa.value)); /* both answered a only */
    agree_set_clear(&s);
}

/* Raters who always agree: 1 when both categories are used, undefined
 * (NaN, with the units counted) when every answer is the same; one rater
 * alone: undefined on 0 units, no pairs. */
static void test_degenerate(void **state)
{
    (void)state;
    const struct agree_set_label same[] = {
        {1, 1, A}, {1, 2, A}, {2, 1, B}, {2, 2, B}, {3, 1, A}, {3, 2, A},
    };
    struct agree_set s;
    assert_int_equal(agree_set_compute(same, 6, 3, &s), 0);
    NEAR(s.fleiss.value, 1.0);
    NEAR(s.alpha.value, 1.0);
    NEAR(s.pairs[0].kappa.value, 1.0);
    agree_set_clear(&s);
    const struct agree_set_label one_answer[] = {{1, 1, A}, {1, 2, A}, {2, 1, A}, {2, 2, A}};
    assert_int_equal(agree_set_compute(one_answer, 4, 2, &s), 0);
    assert_true(isnan(s.fleiss.value) && isnan(s.alpha.value));
    assert_int_equal(s.fleiss.units, 2);
    agree_set_clear(&s);
    const struct agree_set_label solo[] = {{1, 7, A}, {2, 7, B}, {3, 7, A}};
    assert_int_equal(agree_set_compute(solo, 3, 1, &s), 0);
    assert_int_equal(s.npairs, 0);
    assert_true(isnan(s.fleiss.value) && isnan(s.alpha.value));
    assert_int_equal(s.fleiss.units, 0);
    agree_set_clear(&s);
    assert_int_equal(agree_set_compute(NULL, 0, 1, &s), 0);
    assert_int_equal(s.alpha.units, 0);
    agree_set_clear(&s);
}

static void test_errors(void **state)
{
    (void)state;
    struct agree_set s;
    const struct agree_set_label unsorted[] = {{2, 1, A}, {1, 2, A}};
    assert_int_equal(agree_set_compute(unsorted, 2, 1, &s), -EINVAL);
    const struct agree_set_label bad[] = {{1, 1, AGREE_SET_CATEGORIES}};
    assert_int_equal(agree_set_compute(bad, 1, 1, &s), -EINVAL);
    assert_int_equal(agree_set_category("a"), 0);
    assert_int_equal(agree_set_category("unsure"), AGREE_SET_CATEGORIES - 1);
    assert_int_equal(agree_set_category("maybe"), -EINVAL);
    assert_int_equal(agree_set_category(NULL), -EINVAL);
    agree_set_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
