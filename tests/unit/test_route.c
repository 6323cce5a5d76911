/* Routing decisions from a small trained layer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

#define N 600

static char prompts[N][32], goods[N][96], bads[N][96];

static struct reward_layer *train_clear(void)
{
    static const char *const good[] = {"correct", "careful", "verified", "precise"};
    static const char *const bad[] = {"wrong", "guess", "nonsense", "rude"};
    struct reward_pair_ex *ex = calloc(N, sizeof *ex);
    for (int i = 0; i < N; i++) {
        snprintf(prompts[i], sizeof prompts[i], "question %d", i % 13);
        snprintf(goods[i], sizeof goods[i], "%s and %s answer %d", good[i % 4], good[(i / 4) % 4],
                 i);
        snprintf(bads[i], sizeof bads[i], "%s and %s answer %d", bad[i % 4], bad[(i / 4) % 4], i);
        bool swap = i % 2;
        ex[i] = (struct reward_pair_ex){.prompt = prompts[i],
                                        .a = swap ? bads[i] : goods[i],
                                        .b = swap ? goods[i] : bads[i],
                                        .y = swap ? 0.0 : 1.0,
                                        .weight = 1.0};
    }
    struct reward_params p;
    reward_params_default(&p);
    p.members = 3;
    p.bits = 14;
    p.target = 0.9;
    json_t *report = NULL;
    struct reward_layer *l = reward_train(&p, ex, N, NULL, 0, &report);
    json_decref(report);
    free(ex);
    return l;
}

static void no_layer_goes_to_humans(void **state)
{
    (void)state;
    struct route_decision d;
    assert_int_equal(route_item(NULL, 0, "p", "a", "b", &d), 0);
    assert_false(d.scored);
    assert_false(d.auto_route);
    assert_null(d.scores);
    assert_null(d.verdict);
}

static void clear_pair_is_auto_twin_is_human(void **state)
{
    (void)state;
    struct reward_layer *l = train_clear();
    assert_non_null(l);
    double tau = reward_threshold(l);
    assert_true(isfinite(tau));

    struct route_decision d;
    assert_int_equal(
        route_item(l, 7, "question 3", "wrong guess nonsense", "correct careful verified", &d), 0);
    assert_true(d.scored);
    assert_true(d.auto_route);
    assert_string_equal(d.verdict, "b");
    assert_true(d.confidence >= tau && d.confidence <= 1.0);
    assert_int_equal(json_integer_value(json_object_get(d.scores, "layer")), 7);
    assert_string_equal(json_string_value(json_object_get(d.scores, "preference")), "b");
    assert_true(json_real_value(json_object_get(d.scores, "p_a")) < 0.5);
    json_decref(d.scores);

    /* Identical sides: no preference the layer can stand behind. */
    assert_int_equal(route_item(l, 7, "question 3", "same text", "same text", &d), 0);
    assert_false(d.auto_route);
    assert_true(d.confidence < tau);
    json_decref(d.scores);

    /* A single response with no pointwise head: scored, but humans judge. */
    assert_int_equal(route_item(l, 7, "question 3", "correct careful", NULL, &d), 0);
    assert_true(d.scored);
    assert_false(d.auto_route);
    assert_non_null(json_object_get(d.scores, "mean"));
    json_decref(d.scores);
    reward_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_layer_goes_to_humans),
        cmocka_unit_test(clear_pair_is_auto_twin_is_human),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
