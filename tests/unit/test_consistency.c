/* test_consistency.c - the promotion check's rules on made-up settled sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>

#include "consistency.h"

#define N 200

/* n cases: the candidate gives the settled answer pc (wrong ones 1 - pc),
 * right on the first cand_right; the active layer likewise with pa. */
static void fill(struct consistency_case *c, size_t n, size_t cand_right, double pc,
                 size_t active_right, double pa)
{
    for (size_t i = 0; i < n; i++) {
        c[i].p_candidate = i < cand_right ? pc : 1.0 - pc;
        c[i].p_active = isnan(pa) ? NAN : i < active_right ? pa : 1.0 - pa;
    }
}

static void test_empty_passes_with_a_warning(void **state)
{
    (void)state;
    struct consistency_report r;
    assert_int_equal(consistency_check(NULL, 0, NULL, &r, NULL), 0);
    assert_true(r.pass && r.empty);
    assert_int_equal(r.cases, 0);
}

/* Without an active layer only contradictions count: 2% is allowed, 3% not. */
static void test_contradictions_alone(void **state)
{
    (void)state;
    struct consistency_case c[100];
    size_t idx[100];
    struct consistency_report r;
    fill(c, 100, 98, 0.95, 0, NAN);
    assert_int_equal(consistency_check(c, 100, NULL, &r, idx), 0);
    assert_false(r.has_active);
    assert_int_equal(r.contradictions, 2);
    assert_int_equal(idx[0], 98);
    assert_int_equal(idx[1], 99);
    assert_true(r.pass);
    fill(c, 100, 97, 0.95, 0, NAN);
    assert_int_equal(consistency_check(c, 100, NULL, &r, idx), 0);
    assert_int_equal(r.contradictions, 3);
    assert_false(r.pass_contradictions);
    assert_false(r.pass);
    /* Wrong but not confident (0.8 for the other answer) is no contradiction. */
    fill(c, 100, 90, 0.8, 0, NAN);
    assert_int_equal(consistency_check(c, 100, NULL, &r, NULL), 0);
    assert_int_equal(r.contradictions, 0);
    assert_true(r.pass);
}

/* A candidate 15 points worse is rejected; one point worse on 200 cases
 * cannot be told from no loss, and passes. */
static void test_accuracy_loss(void **state)
{
    (void)state;
    struct consistency_case c[N];
    struct consistency_report r;
    fill(c, N, 170, 0.7, N, 0.7);
    assert_int_equal(consistency_check(c, N, NULL, &r, NULL), 0);
    assert_true(r.has_active);
    assert_true(fabs(r.loss - 0.15) < 1e-9);
    assert_true(r.loss_lo > 0.01 && r.loss_lo <= r.loss && r.loss <= r.loss_hi);
    assert_false(r.pass_accuracy);
    assert_false(r.pass);
    fill(c, N, N - 2, 0.7, N, 0.7);
    assert_int_equal(consistency_check(c, N, NULL, &r, NULL), 0);
    assert_true(fabs(r.loss - 0.01) < 1e-9);
    assert_true(r.pass_accuracy);
    /* A better candidate passes, its loss negative. */
    fill(c, N, N, 0.7, 150, 0.7);
    assert_int_equal(consistency_check(c, N, NULL, &r, NULL), 0);
    assert_true(r.loss < 0.0 && r.pass_accuracy);
}

/* Overconfident: 0.99 everywhere but right on 80%: ECE 0.19, above
 * max(0.05, the active layer's 0.0 at 0.8 on 80% right). */
static void test_calibration(void **state)
{
    (void)state;
    struct consistency_case c[N];
    struct consistency_report r;
    fill(c, N, 160, 0.99, 160, 0.8);
    assert_int_equal(consistency_check(c, N, NULL, &r, NULL), 0);
    assert_true(fabs(r.ece_candidate - 0.19) < 1e-9);
    assert_true(fabs(r.ece_active) < 1e-9);
    assert_false(r.pass_ece);
    assert_true(r.pass_accuracy);
    assert_false(r.pass_contradictions); /* 40 cases at 0.99 the other way */
    fill(c, N, 160, 0.8, 160, 0.8);
    assert_int_equal(consistency_check(c, N, NULL, &r, NULL), 0);
    assert_true(r.pass_ece && r.pass);
}

static void test_deterministic_and_checked(void **state)
{
    (void)state;
    struct consistency_case c[N];
    struct consistency_report a, b;
    fill(c, N, 180, 0.7, 190, 0.7);
    assert_int_equal(consistency_check(c, N, NULL, &a, NULL), 0);
    assert_int_equal(consistency_check(c, N, NULL, &b, NULL), 0);
    assert_true(a.loss_lo == b.loss_lo && a.loss_hi == b.loss_hi);
    c[5].p_candidate = 1.5;
    assert_int_equal(consistency_check(c, N, NULL, &a, NULL), -EINVAL);
    c[5].p_candidate = NAN;
    assert_int_equal(consistency_check(c, N, NULL, &a, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_passes_with_a_warning),
        cmocka_unit_test(test_contradictions_alone),
        cmocka_unit_test(test_accuracy_loss),
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_deterministic_and_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
