/* The layer lifecycle: training requests, the trainer thread on a real
 * store, and rollback through the chain of layers each one replaced. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include "lifecycle.h"
#include "store.h"

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

static int read_text(const char *text, bool auto_default, struct lifecycle_request *req,
                     const char **field)
{
    static char copy[64];
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    *field = NULL;
    int rc = lifecycle_request_read(body, auto_default, req, field);
    if (rc) { /* the field may be the body's own key: copy it before the body goes */
        snprintf(copy, sizeof copy, "%s", *field);
        *field = copy;
    }
    json_decref(body);
    return rc;
}

static void requests_are_read_strictly(void **state)
{
    (void)state;
    struct lifecycle_request req;
    const char *field;
    assert_int_equal(read_text("{}", true, &req, &field), 0);
    assert_true(req.auto_promote);
    assert_int_equal(req.run.params.members, 5);
    assert_int_equal(req.run.params.threads, 1); /* the daemon keeps its other cores */
    assert_int_equal(req.run.max_rows, TRAIN_ROWS_DEFAULT);
    assert_false(req.run.include_layer);
    assert_int_equal(read_text("{\"kind\":\"hashed-bt\",\"members\":2,\"bits\":12,\"seed\":9,"
                               "\"target\":0.9,\"max_rows\":50,\"auto_promote\":false,"
                               "\"include_layer_verdicts\":true}",
                               true, &req, &field),
                     0);
    assert_int_equal(req.run.params.members, 2);
    assert_int_equal(req.run.params.bits, 12);
    assert_int_equal(req.run.params.seed, 9);
    assert_true(req.run.params.target == 0.9);
    assert_int_equal(req.run.max_rows, 50);
    assert_false(req.auto_promote);
    assert_true(req.run.include_layer);
    json_t *stored = lifecycle_request_json(&req, "boss");
    assert_string_equal(json_string_value(json_object_get(stored, "requested_by")), "boss");
    assert_int_equal(json_integer_value(json_object_get(stored, "max_rows")), 50);
    json_decref(stored);

    static const struct {
        const char *body, *field;
    } bad[] = {{"{\"members\":0}", "members"},
               {"{\"bits\":9}", "bits"},
               {"{\"target\":0.5}", "target"},
               {"{\"target\":\"x\"}", "target"},
               {"{\"seed\":-1}", "seed"},
               {"{\"max_rows\":0}", "max_rows"},
               {"{\"auto_promote\":1}", "auto_promote"},
               {"{\"kind\":\"http\"}", "kind"},
               {"{\"bogus\":true}", "bogus"},
               {"{\"include_layer_verdicts\":null}", "include_layer_verdicts"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(read_text(bad[i].body, false, &req, &field), -EINVAL);
        assert_string_equal(field, bad[i].field);
    }
}

/* A layer row that the store may activate (its parameters are not loaded). */
static int64_t add_layer(struct store *s)
{
    struct store_layer_new nl = {.params = "x", .params_len = 1, .threshold = 0.9};
    int64_t id = 0;
    assert_int_equal(store_layer_add(s, &nl, &id), 0);
    return id;
}

static void status_is(struct store *s, int64_t id, const char *want)
{
    struct store_layer l;
    assert_int_equal(store_layer_get(s, id, &l), 0);
    assert_string_equal(l.status, want);
    store_layer_clear(&l);
}

/* A check's outcome is a compare-and-set on the active layer: written
 * only while the layer it compared against is still active. */
static void check_outcome_needs_the_same_active_layer(void **state)
{
    struct fixture_db *f = *state;
    int64_t a = add_layer(f->s), b = add_layer(f->s), c = add_layer(f->s), to = 0, none = 0;
    assert_int_equal(store_layer_activate(f->s, a), 0);
    /* b was checked against a; a was rolled back meanwhile: nothing written. */
    assert_int_equal(store_layer_rollback(f->s, a, "boss", &to), 0);
    assert_int_equal(store_layer_checked(f->s, b, "{}", true, &none, 0, "r", "boss", a), -ESTALE);
    assert_int_equal(store_layer_checked(f->s, b, "{}", false, &none, 0, "r", "boss", a), -ESTALE);
    status_is(f->s, b, "candidate");
    assert_int_equal(store_layer_active_id(f->s), 0);
    /* Against none, which is what is active: it passes and is active. */
    assert_int_equal(store_layer_checked(f->s, b, "{}", true, &none, 0, "r", "boss", 0), 0);
    status_is(f->s, b, "active");
    /* c checked against none while b became active: stale; against b: kept. */
    assert_int_equal(store_layer_checked(f->s, c, "{}", false, &none, 0, "r", "boss", 0), -ESTALE);
    status_is(f->s, c, "candidate");
    assert_int_equal(store_layer_checked(f->s, c, "{}", false, &none, 0, "r", "boss", b), 0);
    status_is(f->s, c, "rejected");
    status_is(f->s, b, "active");
}

static void rollback_follows_what_each_replaced(void **state)
{
    struct fixture_db *f = *state;
    int64_t a = add_layer(f->s), b = add_layer(f->s), c = add_layer(f->s), to = -1;
    assert_int_equal(store_layer_activate(f->s, a), 0);
    assert_int_equal(store_layer_activate(f->s, b), 0);
    assert_int_equal(store_layer_activate(f->s, c), 0);
    assert_int_equal(store_layer_rollback(f->s, b, "boss", &to), -EALREADY); /* not active */
    assert_int_equal(store_layer_rollback(f->s, 99, "boss", &to), -ENOENT);
    assert_int_equal(store_layer_rollback(f->s, c, "boss", &to), 0);
    assert_int_equal(to, b);
    status_is(f->s, c, "retired");
    assert_int_equal(store_layer_active_id(f->s), b);
    /* b goes back to what it replaced, not to c, which replaced it. */
    assert_int_equal(store_layer_rollback(f->s, b, "boss", &to), 0);
    assert_int_equal(to, a);
    /* Past a layer rejected since it was replaced. */
    assert_int_equal(store_layer_activate(f->s, b), 0);
    assert_int_equal(store_layer_activate(f->s, c), 0);
    int64_t none = 0;
    assert_int_equal(store_layer_checked(f->s, b, "{}", false, &none, 0, "r", "boss", -1), 0);
    status_is(f->s, b, "rejected");
    assert_int_equal(store_layer_rollback(f->s, c, "boss", &to), 0);
    assert_int_equal(to, a);
    /* The first layer rolls back to none: every item to people. */
    assert_int_equal(store_layer_rollback(f->s, a, NULL, &to), 0);
    assert_int_equal(to, 0);
    assert_int_equal(store_layer_active_id(f->s), 0);
}

/* Polls layer id until it leaves status training (at most ~60 s). */
static void wait_trained(struct store *s, int64_t id, struct store_layer *out)
{
    for (int i = 0; i < 6000; i++) {
        assert_int_equal(store_layer_get(s, id, out), 0);
        if (strcmp(out->status, "training"))
            return;
        store_layer_clear(out);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("layer %lld never finished training", (long long)id);
}

static void the_trainer_trains_queued_layers(void **state)
{
    struct fixture_db *f = *state;
    struct store_comparison c[40];
    char good[40][32], bad[40][32];
    for (int i = 0; i < 40; i++) {
        snprintf(good[i], sizeof good[i], "correct careful %d", i);
        snprintf(bad[i], sizeof bad[i], "wrong guess %d", i);
        c[i] = (struct store_comparison){
            .prompt = "q", .chosen = good[i], .rejected = bad[i], .source = "human", .weight = 1};
    }
    assert_int_equal(store_comparisons_add(f->s, c, 40), 0);
    int64_t one, two;
    assert_int_equal(
        store_layer_train_queue(f->s, "{\"members\":1,\"bits\":12,\"requested_by\":\"boss\"}",
                                "boss", &one),
        0);
    assert_int_equal(store_layer_train_queue(f->s, "{\"members\":0}", "boss", &two), 0);
    struct lifecycle *lc = lifecycle_new(f->s, NULL, NULL);
    assert_non_null(lc);
    lifecycle_wake(lc);
    struct store_layer l;
    wait_trained(f->s, one, &l);
    assert_string_equal(l.status, "candidate");
    assert_int_equal(l.train_size, 40);
    assert_non_null(strstr(l.lineage, "\"count\":40"));
    store_layer_clear(&l);
    wait_trained(f->s, two, &l); /* a request that does not read: rejected, with why */
    assert_string_equal(l.status, "rejected");
    assert_non_null(strstr(l.metrics, "\"error\""));
    store_layer_clear(&l);
    assert_null(lifecycle_progress(lc, one)); /* done: the trainer is not on it */
    lifecycle_free(lc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(requests_are_read_strictly),
        cmocka_unit_test_setup_teardown(rollback_follows_what_each_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(check_outcome_needs_the_same_active_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(the_trainer_trains_queued_layers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
