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
#include <errno.h>

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

static bool stop_after_two(void *cls)
{
    int *calls = cls;
    return ++*calls > 2;
}

/* route_rescore: batches, a stop between them, and the next run resuming
 * where the last one stopped; the clear pair is settled. */
static void rescore_in_batches_and_resume(void **state)
{
    (void)state;
    struct fixture_db f;
    assert_int_equal(fixture_db_open(&f, 1), 0);
    const char blob[] = "p";
    struct store_layer_new nl = {.params = blob, .params_len = 1, .threshold = 0.9};
    int64_t id = 0;
    assert_int_equal(store_layer_add(f.s, &nl, &id), 0);
    struct reward_layer *rl = fixture_clear_layer(false);
    struct layer *l = rl ? layer_new(&layer_bt_ops, rl, id) : NULL;
    assert_non_null(l);
    struct store_item_in in[3] = {
        {.prompt = "question 3",
         .response_a = "wrong guess nonsense",
         .response_b = "correct careful verified"},
        {.prompt = "question 3", .response_a = "same text", .response_b = "same text"},
        {.prompt = "question 4", .response_a = "a reply", .response_b = "another reply"},
    };
    struct store_item_ack acks[3];
    struct store_ingest req = {.items = in, .n = 3, .acks = acks};
    assert_int_equal(store_ingest(f.s, &req), 0);
    int calls = 0;
    struct route_rescore run = {.batch = 1, .stop = stop_after_two, .cls = &calls};
    assert_int_equal(route_rescore(f.s, l, &run), 0);
    assert_int_equal(run.rescored, 2); /* stopped after two batches of one */
    assert_int_equal(run.settled, 1);
    assert_int_equal(run.still_human, 1);
    run = (struct route_rescore){0};
    assert_int_equal(route_rescore(f.s, l, &run), 0);
    assert_int_equal(run.rescored, 1); /* the rest */
    assert_int_equal(run.settled, 0);
    assert_int_equal(route_rescore(f.s, l, &run), 0);
    assert_int_equal(run.rescored, 0);
    assert_int_equal(route_rescore(f.s, NULL, &run), -EINVAL);
    struct store_item it;
    assert_int_equal(store_item_get(f.s, acks[0].id, 0, &it), 0);
    assert_string_equal(it.status, "auto");
    assert_int_equal(it.layer_id, id);
    store_item_clear(&it);
    layer_free(l);
    assert_int_equal(fixture_db_close(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_layer_goes_to_humans),
        cmocka_unit_test(clear_pair_is_auto_twin_is_human),
        cmocka_unit_test(store_item_gets_the_decision),
        cmocka_unit_test(rescore_in_batches_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
