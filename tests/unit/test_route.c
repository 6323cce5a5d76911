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

#include "fixture.h"
#include "route.h"

/* The clear fixture layer behind the ops table, as stored layer 7. */
static struct layer *train_clear(void)
{
    struct reward_layer *l = fixture_clear_layer(false);
    return l ? layer_new(&layer_bt_ops, l, 7) : NULL;
}

static void no_layer_goes_to_humans(void **state)
{
    (void)state;
    struct route_decision d;
    assert_int_equal(route_item(NULL, "p", "a", "b", &d), 0);
    assert_false(d.scored);
    assert_false(d.auto_route);
    assert_null(d.scores);
    assert_null(d.verdict);
    assert_int_equal(d.layer_id, 0);
}

/* route_store_item fills an item's routing fields and its scores text. */
static void store_item_gets_the_decision(void **state)
{
    (void)state;
    struct layer *l = train_clear();
    assert_non_null(l);
    struct store_item_in it = {.prompt = "question 3",
                               .response_a = "wrong guess nonsense",
                               .response_b = "correct careful verified"};
    char *scores = NULL;
    assert_int_equal(route_store_item(l, &it, &scores, NULL), 0);
    assert_int_equal(it.layer_id, 7);
    assert_true(it.route_auto);
    assert_string_equal(it.verdict, "b");
    assert_non_null(scores);
    assert_ptr_equal(it.scores, scores);
    json_t *o = json_loads(scores, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "preference")), "b");
    json_decref(o);
    free(scores);

    struct store_item_in none = {.prompt = "p", .response_a = "a"};
    struct route_decision d;
    assert_int_equal(route_store_item(NULL, &none, &scores, &d), 0);
    assert_null(scores);
    assert_null(none.scores);
    assert_int_equal(none.layer_id, 0);
    assert_false(d.scored);
    layer_free(l);
}

static void clear_pair_is_auto_twin_is_human(void **state)
{
    (void)state;
    struct layer *l = train_clear();
    assert_non_null(l);
    struct layer_info info;
    layer_describe(l, &info);
    double tau = info.threshold;
    assert_true(isfinite(tau));

    struct route_decision d;
    assert_int_equal(
        route_item(l, "question 3", "wrong guess nonsense", "correct careful verified", &d), 0);
    assert_true(d.scored);
    assert_true(d.auto_route);
    assert_string_equal(d.verdict, "b");
    assert_true(d.confidence >= tau && d.confidence <= 1.0);
    assert_int_equal(json_integer_value(json_object_get(d.scores, "layer")), 7);
    assert_string_equal(json_string_value(json_object_get(d.scores, "preference")), "b");
    assert_true(json_real_value(json_object_get(d.scores, "p_a")) < 0.5);
    json_decref(d.scores);

    /* Identical sides: no preference the layer can stand behind. */
    assert_int_equal(route_item(l, "question 3", "same text", "same text", &d), 0);
    assert_false(d.auto_route);
    assert_true(d.confidence < tau);
    json_decref(d.scores);

    /* A single response with no pointwise head: scored, but humans judge. */
    assert_int_equal(route_item(l, "question 3", "correct careful", NULL, &d), 0);
    assert_true(d.scored);
    assert_false(d.auto_route);
    assert_non_null(json_object_get(d.scores, "mean"));
    json_decref(d.scores);
    layer_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_layer_goes_to_humans),
        cmocka_unit_test(clear_pair_is_auto_twin_is_human),
        cmocka_unit_test(store_item_gets_the_decision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
