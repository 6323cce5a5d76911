/* test_audit.c - measured trust's rules: the draws, outcomes, the error
 * rate's interval, the promise and demotion, drift tallies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "audit.h"

/* The same id and seed always give the same answer; over many ids the
 * share picked is close to the share asked, and the two draws differ. */
static void test_pick_is_deterministic_and_fair(void **state)
{
    (void)state;
    const int n = 100000;
    int picked = 0, blind = 0, both = 0;
    for (int64_t id = 1; id <= n; id++) {
        bool a = audit_pick(id, 7, AUDIT_SHARE_PPM_DEFAULT, AUDIT_DRAW_AUDIT);
        bool b = audit_pick(id, 7, AUDIT_SHARE_PPM_DEFAULT, AUDIT_DRAW_BLIND);
        assert_int_equal(a, audit_pick(id, 7, AUDIT_SHARE_PPM_DEFAULT, AUDIT_DRAW_AUDIT));
        picked += a;
        blind += b;
        both += a && b;
    }
    /* 2% of 100,000 is 2,000; the binomial sd is 44: within 5 sd. */
    assert_in_range(picked, 1780, 2220);
    assert_in_range(blind, 1780, 2220);
    /* Independent draws: about 0.04% both (40), far from all. */
    assert_in_range(both, 5, 100);
    /* Another seed picks other items. */
    int same = 0;
    for (int64_t id = 1; id <= n; id++)
        same += audit_pick(id, 7, 20000, AUDIT_DRAW_AUDIT) &&
                audit_pick(id, 8, 20000, AUDIT_DRAW_AUDIT);
    assert_in_range(same, 5, 100);
}

static void test_pick_bounds(void **state)
{
    (void)state;
    for (int64_t id = 1; id < 1000; id++) {
        assert_false(audit_pick(id, 0, 0, AUDIT_DRAW_AUDIT));
        assert_true(audit_pick(id, 0, AUDIT_PPM, AUDIT_DRAW_BLIND));
    }
}

/* A stream of n items of which about settled_share (0 to 1) the layer
 * settles (an independent hash decides which): counts the audits the
 * audit draw picks and the blind ordinary tasks the blind draw picks, at
 * a 2% share. */
static void blind_stream(int n, double settled_share, int *audits, int *blind, int *ordinary,
                         int64_t *credit)
{
    *audits = *blind = *ordinary = 0;
    *credit = 0;
    for (int64_t id = 1; id <= n; id++) {
        bool settled = audit_pick(id, 99, (uint32_t)(settled_share * AUDIT_PPM), AUDIT_DRAW_AUDIT);
        if (settled) {
            audit_blind_settled(credit, AUDIT_SHARE_PPM_DEFAULT);
            *audits += audit_pick(id, 7, AUDIT_SHARE_PPM_DEFAULT, AUDIT_DRAW_AUDIT);
        } else {
            (*ordinary)++;
            *blind += audit_blind_pick(credit, id, 7);
        }
    }
}

/* Blind ordinary tasks come at the rate audits reach raters, whatever
 * share the layer settles: the two counts agree within the draws' noise
 * (a fixed 2% of the ordinary tasks would not: at 80% settled it gives a
 * quarter as many). */
static void test_blind_at_the_rate_of_audits(void **state)
{
    (void)state;
    const double shares[] = {0.2, 0.5, 0.8, 0.95};
    for (size_t k = 0; k < sizeof shares / sizeof shares[0]; k++) {
        int audits, blind, ordinary;
        int64_t credit;
        blind_stream(200000, shares[k], &audits, &blind, &ordinary, &credit);
        int settled = 200000 - ordinary;
        double want = 0.02 * settled, sd = sqrt(want);
        /* Each count within 5 sd of 2% of the settled items. */
        assert_true(fabs(audits - want) < 5 * sd);
        assert_true(fabs(blind - want) < 5 * sd + 1);
        assert_in_range(credit, 0, AUDIT_PPM);
        /* The old draw, a fixed 2% of the ordinary tasks, against it. */
        int fixed = 0;
        for (int64_t id = 1; id <= 200000; id++)
            fixed += !audit_pick(id, 99, (uint32_t)(shares[k] * AUDIT_PPM), AUDIT_DRAW_AUDIT) &&
                     audit_pick(id, 7, AUDIT_SHARE_PPM_DEFAULT, AUDIT_DRAW_BLIND);
        if (shares[k] >= 0.8)
            assert_true(fixed < audits / 3);
    }
}

/* The blind draw: nothing without credit, everything with a whole task's
 * worth, the same answers for the same stream, and a bounded credit. */
static void test_blind_draw_rules(void **state)
{
    (void)state;
    int64_t credit = 0;
    for (int64_t id = 1; id < 100; id++)
        assert_false(audit_blind_pick(&credit, id, 3));
    /* At 100% every settled item is audited: the next ordinary task is
     * blind, the one after it not. */
    audit_blind_settled(&credit, AUDIT_PPM);
    assert_true(audit_blind_pick(&credit, 5, 3));
    assert_int_equal(credit, 0);
    assert_false(audit_blind_pick(&credit, 6, 3));
    /* Deterministic: the same stream, the same picks. */
    int a1, b1, o1, a2, b2, o2;
    int64_t c1, c2;
    blind_stream(20000, 0.6, &a1, &b1, &o1, &c1);
    blind_stream(20000, 0.6, &a2, &b2, &o2, &c2);
    assert_int_equal(b1, b2);
    assert_int_equal(c1, c2);
    /* The credit stops at its bound: people see too few ordinary tasks to
     * match the audits, every one is blind, the excess is forgotten. */
    for (int i = 0; i < 1000; i++)
        audit_blind_settled(&credit, AUDIT_PPM);
    assert_int_equal(credit, AUDIT_BLIND_CREDIT_MAX);
    for (int64_t id = 1; id <= 64; id++)
        assert_true(audit_blind_pick(&credit, id, 3));
    assert_false(audit_blind_pick(&credit, 65, 3));
}

static void test_compare(void **state)
{
    (void)state;
    assert_int_equal(audit_compare("a", "a"), AUDIT_AGREE);
    assert_int_equal(audit_compare("a", "b"), AUDIT_DISAGREE);
    assert_int_equal(audit_compare("b", "a"), AUDIT_DISAGREE);
    assert_int_equal(audit_compare("good", "good"), AUDIT_AGREE);
    assert_int_equal(audit_compare("good", "bad"), AUDIT_DISAGREE);
    assert_int_equal(audit_compare("a", "tie"), AUDIT_INCONCLUSIVE);
    assert_int_equal(audit_compare("bad", "unsure"), AUDIT_INCONCLUSIVE);
    assert_int_equal(audit_compare("a", NULL), AUDIT_INCONCLUSIVE);
    assert_string_equal(audit_outcome_name(AUDIT_DISAGREE), "disagree");
    assert_string_equal(audit_outcome_name(AUDIT_AGREE), "agree");
    assert_string_equal(audit_outcome_name(AUDIT_INCONCLUSIVE), "inconclusive");
}

/* The Wilson interval: known values, and none without audits. */
static void test_error_rate(void **state)
{
    (void)state;
    struct audit_rate r;
    audit_error_rate(0, 0, &r);
    assert_true(isnan(r.rate) && isnan(r.lo) && isnan(r.hi));
    audit_error_rate(100, 10, &r);
    assert_float_equal(r.rate, 0.10, 1e-12);
    /* Wilson 95% for 10/100: [0.0552, 0.1744]. */
    assert_float_equal(r.lo, 0.05523, 1e-4);
    assert_float_equal(r.hi, 0.17437, 1e-4);
    audit_error_rate(1, 1, &r);
    assert_float_equal(r.lo, 1.0 / (1.0 + 1.959964 * 1.959964), 1e-6);
    assert_float_equal(r.hi, 1.0, 1e-12);
    audit_error_rate(5, 9, &r); /* errors past audited are clamped */
    assert_int_equal(r.errors, 5);
}

static void test_promise(void **state)
{
    (void)state;
    assert_float_equal(audit_promise("{\"target\": 0.9, \"threshold\": 0.8}"), 0.9, 1e-12);
    assert_float_equal(audit_promise(NULL), AUDIT_PROMISE_DEFAULT, 1e-12);
    assert_float_equal(audit_promise("not json"), AUDIT_PROMISE_DEFAULT, 1e-12);
    assert_float_equal(audit_promise("{\"target\": 7}"), AUDIT_PROMISE_DEFAULT, 1e-12);
}

/* Demotion: only once the interval's lower end is above 1 - promise
 * (with enough audits, and two raters behind the disagreements). */
static void test_demotion(void **state)
{
    (void)state;
    struct audit_rate r;
    audit_error_rate(0, 0, &r);
    assert_false(audit_should_demote(&r, 0, 0.95, 1));
    /* 10/100 errors: lower end 0.055 > 0.05 breaks a 95% promise... */
    audit_error_rate(100, 10, &r);
    assert_true(audit_should_demote(&r, 2, 0.95, AUDIT_MIN_DEFAULT));
    /* ...not a 90% one (0.055 < 0.10). */
    assert_false(audit_should_demote(&r, 2, 0.90, AUDIT_MIN_DEFAULT));
    /* 6/100: the rate is above 5% but the data cannot tell: kept. */
    audit_error_rate(100, 6, &r);
    assert_false(audit_should_demote(&r, 5, 0.95, AUDIT_MIN_DEFAULT));
    /* Every audit wrong: the first one would show it (lower end 0.21)... */
    audit_error_rate(1, 1, &r);
    assert_true(r.lo > 0.05);
    /* ...but one audit is fewer than the minimum, and one rater's. */
    assert_false(audit_should_demote(&r, 1, 0.95, AUDIT_MIN_DEFAULT));
    assert_false(audit_should_demote(&r, 1, 0.95, 1));
    audit_error_rate(1, 0, &r);
    assert_false(audit_should_demote(&r, 0, 0.95, 1));
}

/* The minimum of decided audits and of raters, each on its own. */
static void test_demotion_needs_audits_and_raters(void **state)
{
    (void)state;
    struct audit_rate r;
    /* 19 of 19 wrong, by many raters: one audit short of the default. */
    audit_error_rate(AUDIT_MIN_DEFAULT - 1, AUDIT_MIN_DEFAULT - 1, &r);
    assert_false(audit_should_demote(&r, 10, 0.95, AUDIT_MIN_DEFAULT));
    audit_error_rate(AUDIT_MIN_DEFAULT, AUDIT_MIN_DEFAULT - 1, &r);
    assert_true(audit_should_demote(&r, 10, 0.95, AUDIT_MIN_DEFAULT));
    /* All of it one rater's: never, however much. */
    audit_error_rate(1000, 900, &r);
    assert_false(audit_should_demote(&r, 1, 0.95, AUDIT_MIN_DEFAULT));
    assert_true(audit_should_demote(&r, AUDIT_RATERS_MIN, 0.95, AUDIT_MIN_DEFAULT));
    /* A minimum below 1 counts as 1. */
    audit_error_rate(2, 2, &r);
    assert_true(audit_should_demote(&r, 2, 0.95, 0));
}

static void test_drift(void **state)
{
    (void)state;
    struct audit_drift d = {0};
    json_t *o = audit_drift_json(&d);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "items")), 0);
    assert_true(json_is_null(json_object_get(o, "agreement")));
    json_decref(o);
    audit_drift_add(&d, 0.9, 0.8);  /* same side */
    audit_drift_add(&d, 0.6, 0.4);  /* flipped */
    audit_drift_add(&d, 0.2, 0.3);  /* same side */
    audit_drift_add(&d, 0.5, 0.45); /* 0.5 counts as a: flipped */
    o = audit_drift_json(&d);
    assert_int_equal(json_integer_value(json_object_get(o, "items")), 4);
    assert_float_equal(json_real_value(json_object_get(o, "agreement")), 0.5, 1e-12);
    assert_float_equal(json_real_value(json_object_get(o, "mean_abs_diff")), 0.1125, 1e-12);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_is_deterministic_and_fair),
        cmocka_unit_test(test_pick_bounds),
        cmocka_unit_test(test_blind_at_the_rate_of_audits),
        cmocka_unit_test(test_blind_draw_rules),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_error_rate),
        cmocka_unit_test(test_promise),
        cmocka_unit_test(test_demotion),
        cmocka_unit_test(test_demotion_needs_audits_and_raters),
        cmocka_unit_test(test_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
