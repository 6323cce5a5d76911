/* Sub-question plans with a stand-in layer, and their roll-up in a real
 * store: what the layer is sure of is answered at ingest, early stop and
 * the item's verdict follow without a human. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "layer.h"
#include "store.h"
#include "store_subq.h"
#include "subq.h"

#define RIGHT "48 / 2 = 24 clips in May.\n48 + 24 = 72 clips in all.\n#### 72"
#define WRONG "48 / 2 = 24 clips in May.\n48 + 24 = 62 clips in all.\n#### 62"

/* The stand-in: a step holding "62" is wrong, any other right; sure of
 * both, except of a "####" line. */
static int fake_step(const void *impl, const char *prompt, const char *const *prior, size_t nprior,
                     const char *step, struct layer_single *out)
{
    (void)impl;
    (void)prompt;
    for (size_t i = 0; i < nprior; i++)
        assert_non_null(prior[i]); /* the steps before it, as context */
    bool wrong = strstr(step, "62") != NULL;
    *out = (struct layer_single){.r = wrong ? -1.0 : 1.0,
                                 .has_point = true,
                                 .p_good = wrong ? 0.02 : 0.98,
                                 .confidence = strstr(step, "####") ? 0.6 : 0.97};
    return 0;
}

static void fake_describe(const void *impl, struct layer_info *out)
{
    (void)impl;
    *out = (struct layer_info){
        .kind = "fake", .threshold = INFINITY, .point_threshold = 0.9, .members = 1};
}

static void fake_free(void *impl)
{
    (void)impl;
}

static const struct layer_ops fake_ops = {
    .kind = "fake", .score_step = fake_step, .describe = fake_describe, .free = fake_free};

static int dummy;

static void easy_items_have_no_plan(void **state)
{
    (void)state;
    struct subq_domain d;
    struct subq_plan *p = (struct subq_plan *)&dummy;
    subq_domain_default("general", &d);
    assert_int_equal(subq_plan(&d, NULL, "q", RIGHT, WRONG, &p), 0);
    assert_null(p);
    subq_domain_default("math", &d);
    d.hard_tokens = 1000;
    assert_int_equal(subq_plan(&d, NULL, "q", RIGHT, WRONG, &p), 0);
    assert_null(p);
    d.hard_tokens = 0;
    assert_int_equal(subq_plan(&d, NULL, "q", "   ", NULL, &p), 0);
    assert_null(p);
}

static void steps_scored_and_answered(void **state)
{
    (void)state;
    struct layer *l = layer_new(&fake_ops, &dummy, 7);
    struct subq_domain d;
    struct subq_plan *p;
    subq_domain_default("math", &d);
    assert_int_equal(subq_plan(&d, l, "q", RIGHT, WRONG, &p), 0);
    assert_non_null(p);
    assert_int_equal(p->n, 6);
    assert_int_equal(p->order, ROLLUP_SEQUENTIAL);
    const char *want[] = {"yes", "yes", NULL, "yes", "no", NULL};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(p->q[i].side, i < 3 ? 'a' : 'b');
        assert_int_equal(p->q[i].ordinal, (int)(i % 3));
        assert_true(p->q[i].has_score && p->q[i].has_confidence && p->q[i].sinks);
        if (want[i])
            assert_string_equal(p->q[i].answer, want[i]);
        else
            assert_null(p->q[i].answer);
    }
    assert_int_equal(p->q[1].start, 26);
    assert_int_equal(p->q[1].end, 52);
    assert_non_null(strstr(p->q[0].question, "steps before it"));
    subq_plan_free(p);
    layer_free(l);
}

static void criteria_plan(void **state)
{
    (void)state;
    struct subq_domain d;
    struct subq_plan *p;
    subq_domain_default("support", &d);
    d.decomposer = DECOMPOSE_CRITERIA;
    assert_int_equal(subq_domain_set_criteria(&d, "[{\"text\": \"x\", \"veto\": 1}]"), -EINVAL);
    assert_int_equal(subq_domain_set_criteria(&d, "[{\"text\": \"Is polite.\"}, "
                                                  "{\"text\": \"Is brief\", \"veto\": false}]"),
                     0);
    assert_int_equal(d.ncriteria, 2);
    char *json = subq_domain_criteria_json(&d);
    assert_string_equal(json, "[{\"text\":\"Is polite.\",\"veto\":true},"
                              "{\"text\":\"Is brief\",\"veto\":false}]");
    free(json);
    assert_int_equal(subq_plan(&d, NULL, "q", "Thanks, done.", NULL, &p), 0);
    assert_int_equal(p->n, 2);
    assert_string_equal(p->q[0].question, "Does the response satisfy: Is polite?");
    assert_true(p->q[0].sinks);
    assert_false(p->q[1].sinks);
    assert_false(p->q[1].has_score);
    subq_plan_free(p);
    subq_domain_clear(&d);
}

/* Ingests one item of domain math with the stand-in's plan into a new
 * store; returns its status and the item (clear it). */
static void ingest(struct store *s, const char *a, const char *b, struct store_item *out)
{
    struct layer *l = layer_new(&fake_ops, &dummy, 7);
    struct subq_domain d;
    subq_domain_default("math", &d);
    struct store_item_in it = {.prompt = "q", .response_a = a, .response_b = b, .domain = "math"};
    assert_int_equal(subq_plan(&d, l, it.prompt, a, b, &it.subq), 0);
    struct store_item_ack ack;
    struct store_ingest req = {.items = &it, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(s, &req), 0);
    subq_plan_free(it.subq);
    layer_free(l);
    assert_int_equal(store_item_get(s, ack.id, 0, out), 0);
    assert_string_equal(out->status, ack.status);
}

static int count_cmp(void *cls, const struct store_comparison *c)
{
    assert_string_equal(c->source, "aggregate");
    (*(int *)cls)++;
    return 0;
}

static void layer_answers_roll_up_in_the_store(void **state)
{
    (void)state;
    char dir[] = "/tmp/rung-subq-XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.db", dir);
    struct store *s = store_open(path, 1, err, sizeof err);
    assert_non_null(s);
    struct store_item it;
    /* Every step sure: settled at ingest, no human asked. */
    ingest(s, "48 / 2 = 24.\n48 + 24 = 72.", NULL, &it);
    assert_string_equal(it.status, "resolved");
    assert_string_equal(it.verdict, "good");
    assert_string_equal(it.verdict_source, "aggregate");
    store_item_clear(&it);
    /* b's second step is surely wrong: b fails; a waits on its doubted
     * last step, which is the one open question; b's last is closed. */
    ingest(s, RIGHT, WRONG, &it);
    assert_string_equal(it.status, "decomposed");
    struct store_subqs *q;
    assert_int_equal(store_item_subqs(s, it.seq, &q), 0);
    const char *st[] = {"answered", "answered", "open", "answered", "answered", "closed"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(q->v[i].status, st[i]);
    assert_string_equal(q->v[4].source, "layer");
    assert_int_equal(q->side_a, RV_OPEN);
    assert_int_equal(q->side_b, RV_FAIL);
    store_subqs_free(q);
    store_item_clear(&it);
    int n = 0;
    assert_int_equal(store_comparisons_each(s, count_cmp, &n), 0);
    assert_int_equal(n, 1);
    store_close(s);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    assert_int_equal(rmdir(dir), 0);
}

/* A checker's no agrees with a settled verdict for the other response, a
 * yes with one for its own; unsettled answers count only as answered. */
static void checker_tally(void **state)
{
    (void)state;
    struct subq_checker_tally t = {0};
    subq_checker_tally_add(&t, 'b', "no", 'a', 3);  /* b failed, a won: agree */
    subq_checker_tally_add(&t, 'a', "no", 'a', 2);  /* a failed, yet won: disagree */
    subq_checker_tally_add(&t, 'a', "yes", 'a', 1); /* agree */
    subq_checker_tally_add(&t, 'b', "yes", 'a', 1); /* disagree */
    subq_checker_tally_add(&t, 'b', "no", 0, 5);    /* not settled */
    assert_int_equal(t.answered, 12);
    assert_int_equal(t.settled, 7);
    assert_int_equal(t.agreeing, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(easy_items_have_no_plan),
        cmocka_unit_test(steps_scored_and_answered),
        cmocka_unit_test(criteria_plan),
        cmocka_unit_test(layer_answers_roll_up_in_the_store),
        cmocka_unit_test(checker_tally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
