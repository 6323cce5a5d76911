#include "layer_holder.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "drift.h"
#include "limits.h"
#include "log.h"
#include "route.h"

struct layer_holder {
    struct store *store;
    pthread_mutex_t mu;    /* guards cur and every ref's refs */
    struct layer_ref *cur; /* the holder's own reference counts as one */
    pthread_t thread;
    pthread_cond_t cv;
    struct layer_worker *worker; /* scores for layers that may block */
    bool stop;
    bool kicked; /* layer_holder_kick since the watcher last looked */
    unsigned poll_ms;
    int64_t rescored_for;     /* the layer whose rescoring pass ran last (watcher's own) */
    _Atomic unsigned drift_s; /* the active layer's drift is measured this often, seconds */
    int64_t drift_for;        /* the layer measured last (watcher's own) */
    int64_t drift_at_ms;      /* and when */
};

static void ref_put_locked(struct layer_ref *r)
{
    if (r && --r->refs == 0) {
        layer_free(r->model);
        free(r);
    }
}

/* Reads whether the active layer is demoted (a demotion is written by
 * the label that proved it, on the writer; an admin may reinstate it). */
static void demoted_refresh(struct layer_holder *h)
{
    struct layer_ref *ref = layer_acquire(h);
    bool demoted = false;
    if (ref && !store_layer_demoted(h->store, ref->id, &demoted))
        ref->human_only = demoted;
    layer_release(h, ref);
}

int64_t layer_holder_refresh(struct layer_holder *h)
{
    int64_t id = store_layer_active_id(h->store);
    if (id < 0)
        return id;
    pthread_mutex_lock(&h->mu);
    int64_t have = h->cur ? h->cur->id : 0;
    pthread_mutex_unlock(&h->mu);
    if (id == have) {
        demoted_refresh(h);
        return id;
    }

    struct layer_ref *next = NULL;
    if (id) {
        struct layer *m = NULL;
        int rc = layer_open(h->store, id, &m);
        if (rc) {
            log_json("error", "cannot load layer", "{s:I,s:i}", "layer", (json_int_t)id, "errno",
                     -rc);
            return rc;
        }
        next = calloc(1, sizeof *next);
        if (!next) {
            layer_free(m);
            return -ENOMEM;
        }
        next->model = m;
        next->id = id;
        next->refs = 1;
        bool demoted = false;
        store_layer_demoted(h->store, id, &demoted);
        next->human_only = demoted;
    }
    pthread_mutex_lock(&h->mu);
    struct layer_ref *old = h->cur;
    h->cur = next;
    ref_put_locked(old);
    pthread_mutex_unlock(&h->mu);
    log_json("info", "active layer", "{s:I}", "layer", (json_int_t)id);
    return id;
}

struct rescore_watch {
    struct layer_holder *h;
    int64_t layer; /* the layer rescoring */
};

/* Between batches: shutdown, or another layer became active (the watcher
 * then loads it and starts over with it). */
static bool rescore_should_stop(void *cls)
{
    struct rescore_watch *w = cls;
    pthread_mutex_lock(&w->h->mu);
    bool stop = w->h->stop;
    pthread_mutex_unlock(&w->h->mu);
    return stop || store_layer_active_id(w->h->store) != w->layer;
}

/* Once per newly active layer (and once at start): the items still waiting
 * for their first human label get its scores and route, in bounded batches
 * on the writer, on the watcher thread (never an HTTP thread). A pass cut
 * short by shutdown resumes at the next start. */
static void rescore_if_new(struct layer_holder *h)
{
    struct layer_ref *ref = layer_acquire(h);
    if (ref && ref->id != h->rescored_for) {
        struct rescore_watch w = {h, ref->id};
        struct route_rescore run = {.stop = rescore_should_stop, .cls = &w};
        int rc = route_rescore(h->store, ref->model, &run);
        if (rc)
            log_json("error", "rescoring queued items failed", "{s:I,s:i}", "layer",
                     (json_int_t)ref->id, "errno", -rc);
        if (run.rescored)
            log_json("info", "rescored queued items", "{s:I,s:I,s:I,s:I}", "layer",
                     (json_int_t)ref->id, "rescored", (json_int_t)run.rescored, "auto",
                     (json_int_t)run.settled, "still_human", (json_int_t)run.still_human);
        h->rescored_for = ref->id;
    }
    layer_release(h, ref);
}

/* Every poll (and when kicked): the items whose sample group grew since
 * they were scored are scored again with the group as it is now, on the
 * watcher thread, in bounded batches on the writer. Marks left by a
 * crash are found at the next start. */
static void rescore_groups(struct layer_holder *h)
{
    struct layer_ref *ref = layer_acquire(h);
    if (ref) {
        struct rescore_watch w = {h, ref->id};
        struct route_rescore run = {.stop = rescore_should_stop, .cls = &w};
        int rc = route_group_rescore(h->store, ref->model, &run);
        if (rc)
            log_json("error", "rescoring grown groups failed", "{s:I,s:i}", "layer",
                     (json_int_t)ref->id, "errno", -rc);
        if (run.rescored)
            log_json("info", "rescored items of grown groups", "{s:I,s:I,s:I,s:I}", "layer",
                     (json_int_t)ref->id, "rescored", (json_int_t)run.rescored, "auto",
                     (json_int_t)run.settled, "still_human", (json_int_t)run.still_human);
    }
    layer_release(h, ref);
}

/* Between the pairs of a drift pass: shutdown, or another layer became
 * active (rescore_should_stop's rule). A pass may take a while with an
 * external model, so it also keeps the demotion it may have missed
 * fresh. */
static bool drift_should_stop(void *cls)
{
    struct rescore_watch *w = cls;
    if (rescore_should_stop(cls))
        return true;
    demoted_refresh(w->h);
    return false;
}

/* When the layer's drift was last measured (0: never), so that a restart
 * does not measure it again before it is due. */
static int64_t drift_last_ms(struct layer_holder *h, int64_t id)
{
    int64_t at = 0;
    return store_drift_last(h->store, id, &at) ? 0 : at;
}

/* Measures the active layer's drift from its parent when it became
 * active (unless measured within drift_s, e.g. before a restart) and
 * every drift_s seconds after a pass ends (drift.h), on the watcher
 * thread: scoring may call an external model. A pass stops between pairs
 * on shutdown or when another layer becomes active (then it is measured
 * again when due), and lasts DRIFT_BUDGET_MS at most. */
static void drift_if_due(struct layer_holder *h)
{
    struct layer_ref *ref = layer_acquire(h);
    if (ref && ref->id != h->drift_for) {
        h->drift_for = ref->id;
        h->drift_at_ms = drift_last_ms(h, ref->id);
    }
    if (ref && util_now_ms() - h->drift_at_ms >= (int64_t)h->drift_s * 1000) {
        struct rescore_watch w = {h, ref->id};
        struct drift_run run = {.stop = drift_should_stop, .cls = &w, .budget_ms = DRIFT_BUDGET_MS};
        int rc = drift_measure(h->store, ref->model, DRIFT_ITEMS, &run);
        if (rc && rc != -ECANCELED)
            log_json("error", "measuring drift failed", "{s:I,s:i}", "layer", (json_int_t)ref->id,
                     "errno", -rc);
        if (!rc && !run.complete)
            log_json("info", "drift pass cut by its time budget", "{s:I,s:I}", "layer",
                     (json_int_t)ref->id, "budget_ms", (json_int_t)DRIFT_BUDGET_MS);
        if (rc != -ECANCELED)
            h->drift_at_ms = util_now_ms();
    }
    layer_release(h, ref);
}

void layer_holder_kick(struct layer_holder *h)
{
    pthread_mutex_lock(&h->mu);
    h->kicked = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void layer_holder_set_drift(struct layer_holder *h, unsigned seconds)
{
    h->drift_s = seconds ? seconds : DRIFT_SECONDS_DEFAULT;
}

static void *watch(void *arg)
{
    struct layer_holder *h = arg;
    pthread_setname_np(pthread_self(), "rung-layers");
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(h->poll_ms % 1000) * 1000000L;
        ts.tv_sec += h->poll_ms / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!h->kicked)
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->stop)
            break;
        h->kicked = false;
        pthread_mutex_unlock(&h->mu);
        layer_holder_refresh(h);
        rescore_if_new(h);
        rescore_groups(h);
        drift_if_due(h);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

struct layer_holder *layer_holder_new(struct store *s, unsigned poll_ms)
{
    struct layer_holder *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->store = s;
    h->poll_ms = poll_ms ? poll_ms : LAYER_POLL_MS;
    h->drift_s = DRIFT_SECONDS_DEFAULT;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    layer_holder_refresh(h);
    h->worker = layer_worker_new();
    if (!h->worker || pthread_create(&h->thread, NULL, watch, h)) {
        layer_worker_free(h->worker);
        ref_put_locked(h->cur);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h);
        return NULL;
    }
    return h;
}

void layer_holder_free(struct layer_holder *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    layer_worker_free(h->worker);
    ref_put_locked(h->cur);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

struct layer_ref *layer_acquire(struct layer_holder *h)
{
    pthread_mutex_lock(&h->mu);
    struct layer_ref *r = h->cur;
    if (r)
        r->refs++;
    pthread_mutex_unlock(&h->mu);
    return r;
}

void layer_release(struct layer_holder *h, struct layer_ref *ref)
{
    if (!ref)
        return;
    pthread_mutex_lock(&h->mu);
    ref_put_locked(ref);
    pthread_mutex_unlock(&h->mu);
}

int layer_holder_submit(struct layer_holder *h, struct layer_job *job)
{
    return layer_worker_submit(h->worker, job);
}
