/* The judging rules without a database: labels in, verdicts out. jansson
 * allocates through cmocka here, so a leaked provenance fails the test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "aggregate.h"
#include "util.h"

static void *test_json_malloc(size_t n)
{
    return test_malloc(n);
}

static void test_json_free(void *p)
{
    test_free(p);
}

/* Aggregates answers given by raters 1, 2, 3, ... */
static int decide(bool pair, const char *const *answers, size_t n, bool split_extra,
                  bool extra_used, struct agg_outcome *o)
{
    struct agg_label labels[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        labels[i].rater_id = (int64_t)i + 1;
        util_strlcpy(labels[i].answer, answers[i], sizeof labels[i].answer);
    }
    return aggregate_labels(pair, labels, n, split_extra, extra_used, o);
}

#define DECIDE(pair, extra, used, o, ...)                                                          \
    decide(pair, (const char *const[]){__VA_ARGS__},                                               \
           sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *), extra, used, o)

static void pair_majority(void **state)
{
    (void)state;
    struct agg_outcome o;
    assert_int_equal(DECIDE(true, false, false, &o, "a", "a", "b"), 0);
    assert_int_equal(o.action, AGG_RESOLVE);
    assert_string_equal(o.verdict, "a");
    assert_float_equal(o.agreement, 2.0 / 3.0, 1e-12);
    assert_true(o.comparison);
    assert_false(o.b_won);
    assert_false(o.tie);

    assert_int_equal(DECIDE(true, true, false, &o, "b", "b"), 0);
    assert_int_equal(o.action, AGG_RESOLVE); /* a majority never asks for more */
    assert_string_equal(o.verdict, "b");
    assert_float_equal(o.agreement, 1.0, 1e-12);
    assert_true(o.b_won);
    assert_false(o.tie);

    /* "tie" can win a majority of its own. */
    assert_int_equal(DECIDE(true, false, false, &o, "tie", "a", "tie"), 0);
    assert_string_equal(o.verdict, "tie");
    assert_float_equal(o.agreement, 2.0 / 3.0, 1e-12);
    assert_true(o.tie);
    assert_false(o.b_won);
    assert_true(o.comparison);
}

static void pair_split_is_a_tie(void **state)
{
    (void)state;
    struct agg_outcome o;
    assert_int_equal(DECIDE(true, false, false, &o, "a", "b"), 0);
    assert_int_equal(o.action, AGG_RESOLVE);
    assert_string_equal(o.verdict, "tie");
    assert_float_equal(o.agreement, 0.5, 1e-12);
    assert_true(o.tie);
    assert_true(o.comparison);

    assert_int_equal(DECIDE(true, false, false, &o, "a", "b", "tie"), 0);
    assert_string_equal(o.verdict, "tie");
    assert_float_equal(o.agreement, 1.0 / 3.0, 1e-12);

    /* Two a, two b, one tie: still no answer above every other. */
    assert_int_equal(DECIDE(true, false, false, &o, "a", "b", "b", "a", "tie"), 0);
    assert_string_equal(o.verdict, "tie");
    assert_float_equal(o.agreement, 0.4, 1e-12);
}

static void split_asks_for_one_extra_label(void **state)
{
    (void)state;
    struct agg_outcome o;
    assert_int_equal(DECIDE(true, true, false, &o, "a", "b"), 0);
    assert_int_equal(o.action, AGG_EXTRA_LABEL);
    assert_null(o.verdict);
    /* Once only: the second split resolves as a tie. */
    assert_int_equal(DECIDE(true, true, true, &o, "a", "b", "tie"), 0);
    assert_int_equal(o.action, AGG_RESOLVE);
    assert_string_equal(o.verdict, "tie");
    /* The extra label broke the split. */
    assert_int_equal(DECIDE(true, true, true, &o, "a", "b", "b"), 0);
    assert_string_equal(o.verdict, "b");
    /* Singles too. */
    assert_int_equal(DECIDE(false, true, false, &o, "good", "bad"), 0);
    assert_int_equal(o.action, AGG_EXTRA_LABEL);
}

static void single_responses(void **state)
{
    (void)state;
    struct agg_outcome o;
    assert_int_equal(DECIDE(false, false, false, &o, "good"), 0);
    assert_string_equal(o.verdict, "good");
    assert_float_equal(o.agreement, 1.0, 1e-12);
    assert_true(o.comparison);
    assert_false(o.tie);

    assert_int_equal(DECIDE(false, false, false, &o, "bad", "good", "bad"), 0);
    assert_string_equal(o.verdict, "bad");
    assert_float_equal(o.agreement, 2.0 / 3.0, 1e-12);

    /* A split on a single response is unsure, and trains nothing. */
    assert_int_equal(DECIDE(false, false, false, &o, "good", "bad"), 0);
    assert_int_equal(o.action, AGG_RESOLVE);
    assert_string_equal(o.verdict, "unsure");
    assert_float_equal(o.agreement, 0.5, 1e-12);
    assert_false(o.comparison);
    assert_false(o.tie);
}

static void bad_input_refused(void **state)
{
    (void)state;
    struct agg_outcome o;
    assert_int_equal(aggregate_labels(true, NULL, 0, false, false, &o), -EINVAL);
    assert_int_equal(DECIDE(true, false, false, &o, "a", "maybe"), -EINVAL);
}

static void provenance_json(void **state)
{
    (void)state;
    struct agg_label labels[2] = {{.rater_id = 7, .answer = "a"}, {.rater_id = 9, .answer = "b"}};
    char *text = aggregate_provenance(labels, 2, 0.5, "{\"preference\":\"a\",\"layer\":3}");
    assert_non_null(text);
    assert_string_equal(text, "{\"raters\":[7,9],\"answers\":[\"a\",\"b\"],\"agreement\":0.5,"
                              "\"assistance\":{\"preference\":\"a\",\"layer\":3}}");
    test_free(text);
    /* Without scores, or with scores that do not parse, assistance is null. */
    text = aggregate_provenance(labels, 1, 1.0, NULL);
    assert_string_equal(
        text, "{\"raters\":[7],\"answers\":[\"a\"],\"agreement\":1.0,\"assistance\":null}");
    test_free(text);
    text = aggregate_provenance(labels, 1, 1.0, "{not json");
    assert_non_null(strstr(text, "\"assistance\":null"));
    test_free(text);
}

static void gold_rules(void **state)
{
    (void)state;
    assert_true(aggregate_gold_right("a", "a"));
    assert_false(aggregate_gold_right("a", "b"));
    assert_false(aggregate_gold_right(NULL, "a"));
    /* Over the 100 equally likely draws, exactly rate of them are gold. */
    unsigned rates[] = {0, 5, 37, 100};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        unsigned hits = 0;
        for (uint32_t d = 0; d < 100; d++)
            hits += aggregate_gold_turn(rates[r], d);
        assert_int_equal(hits, rates[r]);
    }
    assert_true(aggregate_gold_turn(5, 4));
    assert_false(aggregate_gold_turn(5, 5));
    /* The admin's answer settles the item, and trains nothing. */
    struct agg_outcome o;
    aggregate_gold("b", &o);
    assert_int_equal(o.action, AGG_RESOLVE);
    assert_string_equal(o.verdict, "b");
    assert_float_equal(o.agreement, 1.0, 1e-12);
    assert_false(o.comparison);
}

static void answers_fit_kinds(void **state)
{
    (void)state;
    assert_true(aggregate_answer_fits("pair", "a"));
    assert_true(aggregate_answer_fits("pair", "tie"));
    assert_false(aggregate_answer_fits("pair", "good"));
    assert_true(aggregate_answer_fits("single", "bad"));
    assert_false(aggregate_answer_fits("single", "b"));
    assert_true(aggregate_complete(2, 2));
    assert_false(aggregate_complete(1, 2));
}

/* An open pair wanting 2 labels with none yet, served to this rater under
 * a live lease: the base case each admissibility test changes one fact
 * of. */
static struct label_facts served_pair(void)
{
    return (struct label_facts){.kind = "pair",
                                .answer = "a",
                                .open = true,
                                .served = true,
                                .lease_live = true,
                                .overlap = 2};
}

static void admissibility(void **state)
{
    (void)state;
    struct label_facts f = served_pair();
    assert_int_equal(label_admissible(&f), LABEL_RECORDED);

    f.answer = "good";
    assert_int_equal(label_admissible(&f), LABEL_BAD_ANSWER);
    f.previous = "a"; /* a bad answer is refused before anything else */
    assert_int_equal(label_admissible(&f), LABEL_BAD_ANSWER);

    f = served_pair();
    f.previous = "a";
    assert_int_equal(label_admissible(&f), LABEL_REPEAT);
    f.previous = "b";
    assert_int_equal(label_admissible(&f), LABEL_CONFLICT);
    f.open = false; /* a repeat on a finished task is still a repeat */
    f.previous = "a";
    assert_int_equal(label_admissible(&f), LABEL_REPEAT);

    f = served_pair();
    f.served = f.lease_live = false;
    assert_int_equal(label_admissible(&f), LABEL_NOT_SERVED);
    f.open = false; /* a finished task drops its leases */
    assert_int_equal(label_admissible(&f), LABEL_TASK_COMPLETE);
    f.gold = true; /* gold is never finished */
    assert_int_equal(label_admissible(&f), LABEL_NOT_SERVED);

    f = served_pair();
    f.open = false;
    assert_int_equal(label_admissible(&f), LABEL_TASK_COMPLETE);
}

static void late_labels(void **state)
{
    (void)state;
    /* Expired lease, and the other slot is free: it still counts. */
    struct label_facts f = served_pair();
    f.lease_live = false;
    f.labels_done = 1;
    assert_int_equal(label_admissible(&f), LABEL_RECORDED);
    /* Expired, and another rater leased the freed slot. */
    f.leased = 1;
    assert_int_equal(label_admissible(&f), LABEL_LEASE_LOST);
    /* A live lease holds its slot whatever the counts say. */
    f.lease_live = true;
    assert_int_equal(label_admissible(&f), LABEL_RECORDED);
    /* Gold has no slots to lose. */
    f.lease_live = false;
    f.gold = true;
    f.overlap = 1;
    assert_int_equal(label_admissible(&f), LABEL_RECORDED);
}

/* The undo rule: a different answer replaces the rater's latest label
 * within the grace period, and nothing else. */
static void undo_rule(void **state)
{
    (void)state;
    struct label_facts f = served_pair();
    f.previous = "a";
    f.answer = "b";
    f.previous_last = true;
    f.previous_age_ms = 60000;
    f.undo_ms = 60000;
    assert_int_equal(label_admissible(&f), LABEL_REPLACED);
    f.open = false; /* a resolved task is resolved again */
    assert_int_equal(label_admissible(&f), LABEL_REPLACED);
    f.previous_age_ms = 60001; /* past the grace period */
    assert_int_equal(label_admissible(&f), LABEL_CONFLICT);
    f.previous_age_ms = 10;
    f.previous_last = false; /* a later label came since */
    assert_int_equal(label_admissible(&f), LABEL_CONFLICT);
    f.previous_last = true;
    f.undo_ms = 0; /* undo off */
    assert_int_equal(label_admissible(&f), LABEL_CONFLICT);
    f.undo_ms = 60000;
    f.answer = "a"; /* the same answer stays a repeat */
    assert_int_equal(label_admissible(&f), LABEL_REPEAT);
    f.answer = "good"; /* a bad answer is refused first */
    assert_int_equal(label_admissible(&f), LABEL_BAD_ANSWER);
}

/* Display order to item order. */
static void answer_unswap(void **state)
{
    (void)state;
    assert_string_equal(aggregate_answer_unswap("a", true), "b");
    assert_string_equal(aggregate_answer_unswap("b", true), "a");
    assert_string_equal(aggregate_answer_unswap("tie", true), "tie");
    assert_string_equal(aggregate_answer_unswap("good", true), "good");
    assert_string_equal(aggregate_answer_unswap("a", false), "a");
    assert_string_equal(aggregate_answer_unswap("b", false), "b");
}

static const char report[] = "{\"calibration\": {\"items\": 200, \"curve\": ["
                             "{\"confidence\": 0.5, \"coverage\": 1.0, \"accuracy\": 0.6},"
                             "{\"confidence\": 0.6, \"coverage\": 0.5, \"accuracy\": 0.8},"
                             "{\"confidence\": 0.8, \"coverage\": 0.1, \"accuracy\": 0.9},"
                             "{\"confidence\": 0.95, \"coverage\": 0.0, \"accuracy\": null}]},"
                             "\"pointwise\": null}";

/* The calibration table from a report's cumulative curve, and the rule
 * that shows assistance only where the layer beat a coin. */
static void calibrated_assistance(void **state)
{
    (void)state;
    struct agg_calibration cal;
    assert_int_equal(aggregate_calibration_read(report, true, &cal), 0);
    assert_int_equal(cal.n, 4);
    assert_int_equal(cal.total[0], 100);
    assert_int_equal(cal.right[0], 40);
    assert_int_equal(cal.total[1], 80);
    assert_int_equal(cal.right[1], 62);
    assert_int_equal(cal.total[2], 20);
    assert_int_equal(cal.right[2], 18);
    assert_int_equal(cal.total[3], 0);
    double share = 0;
    int64_t n = 0;
    assert_false(aggregate_assist_shown(&cal, 0.52, &share, &n)); /* under 0.55 */
    assert_false(aggregate_assist_shown(&cal, 0.58, &share, &n)); /* 40%: worse than a coin */
    assert_true(aggregate_assist_shown(&cal, 0.6, &share, &n));
    assert_true(share > 0.7749 && share < 0.7751);
    assert_int_equal(n, 80);
    assert_true(aggregate_assist_shown(&cal, 0.85, &share, &n));
    assert_int_equal(n, 20);
    assert_false(aggregate_assist_shown(&cal, 0.97, &share, &n)); /* an empty bin */
    assert_false(aggregate_assist_shown(NULL, 0.9, &share, &n));
    /* Three right out of three is not enough to beat a coin at 95%; four is. */
    cal = (struct agg_calibration){.n = 1, .lo = {0.5}, .total = {3}, .right = {3}};
    assert_false(aggregate_assist_shown(&cal, 0.9, &share, &n));
    cal.total[0] = cal.right[0] = 4;
    assert_true(aggregate_assist_shown(&cal, 0.9, &share, &n));
    /* Single responses read the pointwise head's curve. */
    assert_int_equal(aggregate_calibration_read(
                         "{\"pointwise\": {\"calibration\": {\"items\": 50, \"curve\": ["
                         "{\"confidence\": 0.5, \"coverage\": 1.0, \"accuracy\": 0.9}]}}}",
                         false, &cal),
                     0);
    assert_int_equal(cal.n, 1);
    assert_int_equal(cal.total[0], 50);
    assert_int_equal(cal.right[0], 45);
    /* No curve: nothing to read, for pairs or single responses. */
    assert_int_equal(aggregate_calibration_read(report, false, &cal), -EINVAL);
    assert_int_equal(aggregate_calibration_read("{}", true, &cal), -EINVAL);
    assert_int_equal(aggregate_calibration_read("not json", true, &cal), -EINVAL);
    assert_int_equal(aggregate_calibration_read(NULL, true, &cal), -EINVAL);
    assert_int_equal(
        aggregate_calibration_read("{\"calibration\": {\"items\": 10, \"curve\": ["
                                   "{\"confidence\": 0.6, \"coverage\": 1, \"accuracy\": 1},"
                                   "{\"confidence\": 0.5, \"coverage\": 1, \"accuracy\": 1}]}}",
                                   true, &cal),
        -EINVAL); /* not ascending */
}

int main(void)
{
    json_set_alloc_funcs(test_json_malloc, test_json_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pair_majority),
        cmocka_unit_test(pair_split_is_a_tie),
        cmocka_unit_test(split_asks_for_one_extra_label),
        cmocka_unit_test(single_responses),
        cmocka_unit_test(bad_input_refused),
        cmocka_unit_test(provenance_json),
        cmocka_unit_test(gold_rules),
        cmocka_unit_test(answers_fit_kinds),
        cmocka_unit_test(admissibility),
        cmocka_unit_test(late_labels),
        cmocka_unit_test(undo_rule),
        cmocka_unit_test(answer_unswap),
        cmocka_unit_test(calibrated_assistance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
