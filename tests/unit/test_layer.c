/* The layer ops table on the built-in hashed-bt kind: every operation
 * agrees with reward.c; loading, describing, freeing; the scoring worker. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "layer.h"
#include "reward.h"

static int setup(void **state)
{
    struct reward_layer *r = fixture_clear_layer(true);
    *state = r;
    return r ? 0 : -1;
}

static int teardown(void **state)
{
    reward_free(*state);
    return 0;
}

/* The same model twice: once as reward.c, once behind the ops table. */
static struct layer *wrap(const struct reward_layer *r, int64_t id)
{
    void *blob = NULL;
    size_t len = 0;
    assert_int_equal(reward_save(r, &blob, &len), 0);
    struct layer *l = layer_load(LAYER_KIND_HASHED_BT, id, blob, len);
    free(blob);
    assert_non_null(l);
    return l;
}

static void pair_and_single_agree_with_reward(void **state)
{
    const struct reward_layer *r = *state;
    struct layer *l = wrap(r, 9);
    assert_int_equal(layer_id(l), 9);
    assert_false(layer_may_block(l));
    struct reward_pair rp;
    struct layer_pair lp;
    assert_int_equal(reward_score_pair(r, "question 2", "wrong guess", "correct careful", &rp), 0);
    assert_int_equal(layer_score_pair(l, "question 2", "wrong guess", "correct careful", &lp), 0);
    assert_true(lp.p_a == rp.p_a && lp.p_sd == rp.p_sd && lp.confidence == rp.confidence);
    assert_true(lp.ra == rp.ra && lp.rb == rp.rb && lp.ra_sd == rp.ra_sd && lp.rb_sd == rp.rb_sd);
    struct reward_single rs;
    struct layer_single ls;
    assert_int_equal(reward_score_single(r, "question 2", "precise answer", &rs), 0);
    assert_int_equal(layer_score_single(l, "question 2", "precise answer", &ls), 0);
    assert_true(ls.r == rs.r && ls.r_sd == rs.r_sd && ls.p_good == rs.p_good);
    assert_true(ls.has_point && rs.has_point && ls.confidence == rs.confidence);
    assert_int_equal(layer_score_pair(l, NULL, "a", "b", &lp), -EINVAL);
    layer_free(l);
}

/* A step is the single score of the step with the prompt and the steps
 * before it, one per line, as its context. */
static void step_is_single_in_context(void **state)
{
    const struct reward_layer *r = *state;
    struct layer *l = wrap(r, 1);
    const char *prior[] = {"first we guess", "then careful"};
    struct reward_single rs;
    struct layer_single ls;
    assert_int_equal(
        reward_score_single(r, "question 4\nfirst we guess\nthen careful", "verified", &rs), 0);
    assert_int_equal(layer_score_step(l, "question 4", prior, 2, "verified", &ls), 0);
    assert_true(ls.r == rs.r && ls.p_good == rs.p_good && ls.confidence == rs.confidence);
    assert_int_equal(reward_score_single(r, "question 4", "verified", &rs), 0);
    assert_int_equal(layer_score_step(l, "question 4", NULL, 0, "verified", &ls), 0);
    assert_true(ls.r == rs.r);
    assert_int_equal(layer_score_step(l, "question 4", prior, 2, NULL, &ls), -EINVAL);
    assert_int_equal(layer_score_step(l, "question 4", NULL, 1, "x", &ls), -EINVAL);
    layer_free(l);
}

static void describe_and_evaluate(void **state)
{
    const struct reward_layer *r = *state;
    struct layer *l = wrap(r, 3);
    struct layer_info info;
    layer_describe(l, &info);
    assert_string_equal(info.kind, "hashed-bt");
    assert_int_equal(info.members, 3);
    assert_true(info.threshold == reward_threshold(r) ||
                (isinf(info.threshold) && isinf(reward_threshold(r))));
    assert_true(info.point_threshold == reward_point_threshold(r) ||
                (isinf(info.point_threshold) && isinf(reward_point_threshold(r))));
    struct reward_pair_ex ex[] = {
        {"question 1", "correct precise", "wrong rude", 1.0, 1.0, 0},
        {"question 2", "guess nonsense", "careful verified", 0.0, 1.0, 0}};
    json_t *want = reward_evaluate(r, ex, 2), *got = NULL;
    assert_int_equal(layer_evaluate(l, ex, 2, &got), 0);
    assert_int_equal(json_integer_value(json_object_get(got, "layer_id")), 3);
    json_object_del(got, "layer_id");
    assert_true(json_equal(want, got));
    json_decref(want);
    json_decref(got);
    layer_free(l);
}

static void load_refuses_and_free_null(void **state)
{
    (void)state;
    static const char junk[] = "not a layer blob at all";
    assert_null(layer_load("hashed-bt", 1, junk, sizeof junk));
    assert_null(layer_load("no-such-kind", 1, junk, sizeof junk));
    assert_null(layer_load(NULL, 1, junk, sizeof junk));
    layer_free(NULL);
    layer_worker_free(NULL);
}

/* ---- a kind that may block, scored on the worker ---- */

static int slow_pair(const void *impl, const char *prompt, const char *a, const char *b,
                     struct layer_pair *out)
{
    (void)impl;
    (void)prompt;
    memset(out, 0, sizeof *out);
    out->p_a = strlen(a) > strlen(b) ? 0.9 : 0.1;
    return 0;
}

static void slow_free(void *impl)
{
    free(impl);
}

static const struct layer_ops slow_ops = {
    .kind = "slow", .may_block = true, .score_pair = slow_pair, .free = slow_free};

struct slow_job {
    struct layer_job job;
    const struct layer *l;
    double p_a;
    bool ran, done;
    pthread_t runner;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
};

static void slow_run(void *cls)
{
    struct slow_job *j = cls;
    struct layer_pair p;
    layer_score_pair(j->l, "q", "longer text", "short", &p);
    j->p_a = p.p_a;
    j->runner = pthread_self();
    j->ran = true;
}

static void slow_done(void *cls)
{
    struct slow_job *j = cls;
    pthread_mutex_lock(j->mu);
    j->done = true;
    pthread_cond_signal(j->cv);
    pthread_mutex_unlock(j->mu);
}

static pthread_mutex_t jobs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cv = PTHREAD_COND_INITIALIZER;

/* Submits n jobs scoring with l to a new worker, which it returns. */
static struct layer_worker *submit_jobs(const struct layer *l, struct slow_job *jobs, int n)
{
    struct layer_worker *w = layer_worker_new();
    assert_non_null(w);
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct slow_job){.l = l, .mu = &jobs_mu, .cv = &jobs_cv};
        jobs[i].job = (struct layer_job){.run = slow_run, .done = slow_done, .cls = &jobs[i]};
        assert_int_equal(layer_worker_submit(w, &jobs[i].job), 0);
    }
    return w;
}

static void worker_scores_off_thread(void **state)
{
    (void)state;
    struct layer *l = layer_new(&slow_ops, malloc(1), 0);
    assert_non_null(l);
    assert_true(layer_may_block(l));
    struct slow_job jobs[4];
    struct layer_worker *w = submit_jobs(l, jobs, 4);
    pthread_mutex_lock(&jobs_mu);
    while (!jobs[3].done)
        pthread_cond_wait(&jobs_cv, &jobs_mu);
    pthread_mutex_unlock(&jobs_mu);
    for (int i = 0; i < 4; i++) {
        assert_true(jobs[i].ran && jobs[i].done);
        assert_true(jobs[i].p_a == 0.9);
        assert_false(pthread_equal(jobs[i].runner, pthread_self()));
    }
    /* An evaluation the kind does not offer is refused, not faked. */
    json_t *res = NULL;
    assert_int_equal(layer_evaluate(l, NULL, 0, &res), -EOPNOTSUPP);
    assert_null(res);
    layer_worker_free(w);
    layer_free(l);
}

/* Freeing the worker runs what is queued first: no request is left
 * suspended at shutdown. */
static void worker_drains_on_free(void **state)
{
    (void)state;
    struct layer *l = layer_new(&slow_ops, malloc(1), 0);
    struct slow_job jobs[16];
    layer_worker_free(submit_jobs(l, jobs, 16));
    for (int i = 0; i < 16; i++)
        assert_true(jobs[i].ran && jobs[i].done);
    layer_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pair_and_single_agree_with_reward),
        cmocka_unit_test(step_is_single_in_context),
        cmocka_unit_test(describe_and_evaluate),
        cmocka_unit_test(load_refuses_and_free_null),
        cmocka_unit_test(worker_scores_off_thread),
        cmocka_unit_test(worker_drains_on_free),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
