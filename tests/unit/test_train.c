/* Training orchestration on a real store: read comparisons, train, store,
 * the activation decision; and the owned pair list. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "store.h"
#include "train.h"

#define N 300

static int setup(void **state)
{
    struct fixture_db *f = calloc(1, sizeof *f);
    *state = f;
    return f ? fixture_db_open(f, 1) : -1;
}

static int teardown(void **state)
{
    struct fixture_db *f = *state;
    int rc = fixture_db_close(f);
    free(f);
    return rc;
}

/* N imported pairs and one free slot after them (the caller frees). */
static struct store_comparison *pairs_new(void)
{
    static char p[N][32], good[N][64], bad[N][64];
    struct store_comparison *c = calloc(N + 1, sizeof *c);
    assert_non_null(c);
    for (int i = 0; i < N; i++) {
        snprintf(p[i], sizeof p[i], "question %d", i % 7);
        snprintf(good[i], sizeof good[i], "correct careful answer %d", i);
        snprintf(bad[i], sizeof bad[i], "wrong guess answer %d", i);
        c[i] = (struct store_comparison){
            .prompt = p[i], .chosen = good[i], .rejected = bad[i], .source = "import", .weight = 1};
    }
    return c;
}

static void add_comparisons(struct store *s)
{
    struct store_comparison *c = pairs_new();
    c[N] = (struct store_comparison){
        .prompt = "q", .chosen = "fine", .label = "good", .source = "human", .weight = 1};
    assert_int_equal(store_comparisons_add(s, c, N + 1), 0);
    free(c);
}

static void progress(void *cls, size_t npairs, size_t npoints)
{
    size_t *seen = cls;
    seen[0] = npairs;
    seen[1] = npoints;
}

/* Trains a small layer from s into *run (the caller decrefs the report);
 * seen receives the training set's pairs and points. */
static void train_small(struct store *s, struct train_run *run, size_t seen[2])
{
    *run = (struct train_run){.progress = progress, .cls = seen};
    reward_params_default(&run->params);
    run->params.members = 2;
    run->params.bits = 12;
    assert_int_equal(train_layer(s, run), 0);
    assert_int_equal(seen[0], N);
}

/* Issue 9: the same comparisons imported five times are stored, and so
 * trained on, once: the training set (and its calibration split) sees one
 * copy of each, as after a single import. */
static void repeated_imports_train_on_one_copy(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s);
    struct store_comparison *c = pairs_new();
    for (int k = 0; k < 4; k++) {
        size_t skipped = 0;
        assert_int_equal(store_comparisons_add_ex(f->s, c, N, &skipped), 0);
        assert_int_equal(skipped, N);
    }
    free(c);
    size_t seen[2] = {0, 0};
    struct train_run run;
    train_small(f->s, &run, seen);
    json_t *src = json_object_get(run.report, "sources");
    assert_int_equal(json_integer_value(json_object_get(src, "import")), N);
    json_decref(run.report);
}

static void empty_store_says_so(void **state)
{
    struct fixture_db *f = *state;
    struct train_run run = {0};
    reward_params_default(&run.params);
    assert_int_equal(train_layer(f->s, &run), -ENODATA);
    assert_int_equal(run.stage, TRAIN_EMPTY);
    assert_null(run.report);
}

static void trains_stores_and_activates_first(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s);
    size_t seen[2] = {0, 0};
    struct train_run run;
    train_small(f->s, &run, seen);
    assert_int_equal(seen[1], 1);
    int64_t first = json_integer_value(json_object_get(run.report, "layer_id"));
    assert_true(first > 0);
    assert_string_equal(json_string_value(json_object_get(run.report, "status")), "active");
    json_t *src = json_object_get(run.report, "sources");
    assert_int_equal(json_integer_value(json_object_get(src, "import")), N);
    assert_int_equal(json_integer_value(json_object_get(src, "human")), 1);
    assert_int_equal(store_layer_active_id(f->s), first);
    json_decref(run.report);

    /* A second layer stays a candidate unless asked to activate. */
    assert_int_equal(train_layer(f->s, &run), 0);
    assert_string_equal(json_string_value(json_object_get(run.report, "status")), "candidate");
    assert_int_equal(store_layer_active_id(f->s), first);
    json_decref(run.report);
    run.activate = true;
    assert_int_equal(train_layer(f->s, &run), 0);
    assert_string_equal(json_string_value(json_object_get(run.report, "status")), "active");
    assert_int_equal(store_layer_active_id(f->s),
                     json_integer_value(json_object_get(run.report, "layer_id")));
    json_decref(run.report);
}

static void bad_params_fail_at_fit(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s);
    struct train_run run = {0};
    reward_params_default(&run.params);
    run.params.members = 0;
    assert_int_equal(train_layer(f->s, &run), -EINVAL);
    assert_int_equal(run.stage, TRAIN_FIT);
    assert_null(run.report);
}

static void raise_flag(void *cls, size_t npairs, size_t npoints)
{
    (void)npairs;
    (void)npoints;
    atomic_store((atomic_bool *)cls, true);
}

/* A stopping daemon's flag: raised before, training gives up while
 * reading; raised once the rows are read (the progress callback), it
 * gives up in the SGD loop. Either way -ECANCELED and nothing stored. */
static void cancel_gives_up_and_stores_nothing(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s);
    atomic_bool cancel = true;
    struct train_run run = {0};
    reward_params_default(&run.params);
    run.params.members = 2;
    run.params.bits = 12;
    run.params.cancel = &cancel;
    assert_int_equal(train_layer(f->s, &run), -ECANCELED);
    assert_int_equal(run.stage, TRAIN_READ);
    atomic_store(&cancel, false);
    run.progress = raise_flag;
    run.cls = &cancel;
    assert_int_equal(train_layer(f->s, &run), -ECANCELED);
    assert_int_equal(run.stage, TRAIN_FIT);
    assert_null(run.report);
    struct store_layer *layers;
    size_t n;
    assert_int_equal(store_layer_list(f->s, &layers, &n), 0);
    assert_int_equal(n, 0);
    store_layers_free(layers, n);
}

/* Eval pairs that are stored comparisons are found, whichever side each
 * reply is on and however the prompt's spaces or case differ. */
static void seen_pairs_are_found(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s);
    struct train_pairs t = {0};
    assert_int_equal(train_pairs_add(&t, "question 3", "correct careful answer 3",
                                     "wrong guess answer 3", 1.0, 1.0),
                     0);
    assert_int_equal(train_pairs_add(&t, " Question  3", "wrong guess answer 10",
                                     "correct careful answer 10", 0.0, 1.0),
                     0);
    assert_int_equal(train_pairs_add(&t, "question 3", "correct careful answer 4",
                                     "wrong guess answer 4", 1.0, 1.0),
                     0); /* answer 4 is stored under question 4 */
    assert_int_equal(train_pairs_add(&t, "question 5", "correct careful answer 5",
                                     "wrong guess answer 5 ", 1.0, 1.0),
                     0);
    bool seen[4];
    size_t n = 99;
    assert_int_equal(train_pairs_seen(f->s, &t, seen, &n), 0);
    assert_int_equal(n, 2);
    assert_true(seen[0] && seen[1] && !seen[2] && !seen[3]);
    train_pairs_clear(&t);
}

static void pairs_are_copied(void **state)
{
    (void)state;
    struct train_pairs t = {0};
    char text[8] = "abc";
    for (int i = 0; i < 3000; i++)
        assert_int_equal(train_pairs_add(&t, "p", text, NULL, 1.0, 2.0), 0);
    text[0] = 'x';
    assert_int_equal(t.n, 3000);
    assert_string_equal(t.v[2999].a, "abc");
    assert_string_equal(t.v[0].b, "");
    assert_true(t.v[5].weight == 2.0);
    train_pairs_clear(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.v);
}

/* What people decided trains the next layer; what a layer's verdicts
 * helped decide does not, unless asked for. */
static void human_derived_rule(void **state)
{
    (void)state;
    struct store_comparison x = {.source = "human"};
    assert_true(train_human_derived(&x));
    x.source = "import";
    assert_true(train_human_derived(&x));
    x.source = "audit"; /* people's verdict on a hidden audit */
    assert_true(train_human_derived(&x));
    x.source = "layer";
    assert_false(train_human_derived(&x));
    x.source = "aggregate";
    assert_false(train_human_derived(&x)); /* no provenance: cannot tell */
    x.provenance = "{\"decided_by\":[{\"source\":\"human\"},{\"source\":\"human\"}]}";
    assert_true(train_human_derived(&x));
    x.provenance = "{\"decided_by\":[{\"source\":\"human\"},{\"source\":\"layer\"}]}";
    assert_false(train_human_derived(&x));
    x.provenance = "{\"decided_by\":[]}";
    assert_false(train_human_derived(&x));
    x.provenance = "not json";
    assert_false(train_human_derived(&x));
    x.source = NULL;
    assert_false(train_human_derived(&x));
}

/* Roll-ups a layer helped decide are left out (and counted in the
 * lineage) unless include_layer is set; max_rows keeps the newest rows. */
static void lineage_counts_what_trained(void **state)
{
    struct fixture_db *f = *state;
    add_comparisons(f->s); /* ids 1..N import, N+1 human point */
    struct store_comparison extra[2] = {
        {.prompt = "q1",
         .chosen = "by a layer",
         .rejected = "other",
         .source = "aggregate",
         .weight = 0.9,
         .provenance = "{\"decided_by\":[{\"source\":\"layer\"}]}"},
        {.prompt = "q2",
         .chosen = "by people",
         .rejected = "other",
         .source = "aggregate",
         .weight = 1,
         .provenance = "{\"decided_by\":[{\"source\":\"human\"}]}"}};
    assert_int_equal(store_comparisons_add(f->s, extra, 2), 0);
    size_t seen[2];
    struct train_run run = {.progress = progress, .cls = seen};
    reward_params_default(&run.params);
    run.params.members = 1;
    run.params.bits = 12;
    assert_int_equal(train_layer(f->s, &run), 0);
    assert_int_equal(seen[0], N + 1); /* the imports and the roll-up people decided */
    assert_int_equal(seen[1], 1);
    json_t *c = json_object_get(json_object_get(run.report, "lineage"), "comparisons");
    assert_int_equal(json_integer_value(json_object_get(c, "count")), N + 2);
    assert_int_equal(json_integer_value(json_object_get(c, "first_id")), 1);
    assert_int_equal(json_integer_value(json_object_get(c, "last_id")), N + 3);
    assert_int_equal(json_integer_value(json_object_get(c, "excluded")), 1);
    json_t *by = json_object_get(c, "by_source");
    assert_int_equal(json_integer_value(json_object_get(by, "aggregate")), 1);
    assert_int_equal(json_integer_value(json_object_get(by, "import")), N);
    assert_int_equal(strlen(json_string_value(json_object_get(c, "digest"))), 64);
    json_decref(run.report);

    /* The newest 10 rows, the layer's roll-up included when asked. */
    run = (struct train_run){.max_rows = 10, .include_layer = true};
    reward_params_default(&run.params);
    run.params.members = 1;
    run.params.bits = 12;
    assert_int_equal(train_layer(f->s, &run), 0);
    c = json_object_get(json_object_get(run.report, "lineage"), "comparisons");
    assert_int_equal(json_integer_value(json_object_get(c, "count")), 10);
    assert_int_equal(json_integer_value(json_object_get(c, "first_id")), N + 3 - 9);
    assert_int_equal(json_integer_value(json_object_get(c, "excluded")), 0);
    assert_true(json_is_true(json_object_get(c, "truncated")));
    json_decref(run.report);

    /* The newest row alone: the layer's roll-up just below it is outside
     * the range, so not counted as left out of it. */
    run = (struct train_run){.max_rows = 1};
    reward_params_default(&run.params);
    run.params.members = 1;
    run.params.bits = 12;
    assert_int_equal(train_layer(f->s, &run), 0);
    c = json_object_get(json_object_get(run.report, "lineage"), "comparisons");
    assert_int_equal(json_integer_value(json_object_get(c, "first_id")), N + 3);
    assert_int_equal(json_integer_value(json_object_get(c, "excluded")), 0);
    json_decref(run.report);
    /* Two rows: the roll-up between them is. */
    run = (struct train_run){.max_rows = 2};
    reward_params_default(&run.params);
    run.params.members = 1;
    run.params.bits = 12;
    assert_int_equal(train_layer(f->s, &run), 0);
    c = json_object_get(json_object_get(run.report, "lineage"), "comparisons");
    assert_int_equal(json_integer_value(json_object_get(c, "first_id")), N + 1);
    assert_int_equal(json_integer_value(json_object_get(c, "excluded")), 1);
    json_decref(run.report);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_store_says_so, setup, teardown),
        cmocka_unit_test_setup_teardown(repeated_imports_train_on_one_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(trains_stores_and_activates_first, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_gives_up_and_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_params_fail_at_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(seen_pairs_are_found, setup, teardown),
        cmocka_unit_test(pairs_are_copied),
        cmocka_unit_test(human_derived_rule),
        cmocka_unit_test_setup_teardown(lineage_counts_what_trained, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
