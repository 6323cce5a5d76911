/* lifecycle.c - the daemon's trainer and check worker (see lifecycle.h). */
#include "lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"
#include "promote.h"
#include "util.h"

/* ---- the request ---- */

/* Reads integer field key of body into *v when present: 0, -EINVAL. */
static int req_int(const json_t *body, const char *key, int64_t min, int64_t max, int64_t *v)
{
    json_t *x = json_object_get(body, key);
    if (!x)
        return 0;
    if (!json_is_integer(x) || json_integer_value(x) < min || json_integer_value(x) > max)
        return -EINVAL;
    *v = json_integer_value(x);
    return 0;
}

static int req_bool(const json_t *body, const char *key, bool *v)
{
    json_t *x = json_object_get(body, key);
    if (!x)
        return 0;
    if (!json_is_boolean(x))
        return -EINVAL;
    *v = json_is_true(x);
    return 0;
}

/* Every field is known and kind, when given, is hashed-bt. */
static int req_fields(const json_t *body, const char **field)
{
    static const char *const known[] = {"kind",     "seed",         "members",
                                        "bits",     "target",       "include_layer_verdicts",
                                        "max_rows", "auto_promote", NULL};
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = !strcmp(key, known[i]);
        if (!ok) {
            *field = key;
            return -EINVAL;
        }
    }
    const char *kind = json_string_value(json_object_get(body, "kind"));
    if (json_object_get(body, "kind") && (!kind || strcmp(kind, LAYER_KIND_HASHED_BT))) {
        *field = "kind";
        return -EINVAL;
    }
    return 0;
}

int lifecycle_request_read(const json_t *body, bool auto_default, struct lifecycle_request *out,
                           const char **field)
{
    memset(out, 0, sizeof *out);
    reward_params_default(&out->run.params);
    out->run.params.threads = 1; /* the daemon keeps the other cores */
    out->run.max_rows = TRAIN_ROWS_DEFAULT;
    out->auto_promote = auto_default;
    int64_t seed = (int64_t)out->run.params.seed, members = out->run.params.members;
    int64_t bits = out->run.params.bits, rows = (int64_t)out->run.max_rows;
    int rc = req_fields(body, field);
    if (!rc && (rc = req_int(body, "seed", 0, INT64_MAX, &seed)))
        *field = "seed";
    if (!rc && (rc = req_int(body, "members", 1, REWARD_MEMBERS_MAX, &members)))
        *field = "members";
    if (!rc && (rc = req_int(body, "bits", TRAIN_BITS_MIN, TRAIN_BITS_MAX, &bits)))
        *field = "bits";
    if (!rc && (rc = req_int(body, "max_rows", 1, TRAIN_ROWS_MAX, &rows)))
        *field = "max_rows";
    if (!rc && (rc = req_bool(body, "include_layer_verdicts", &out->run.include_layer)))
        *field = "include_layer_verdicts";
    if (!rc && (rc = req_bool(body, "auto_promote", &out->auto_promote)))
        *field = "auto_promote";
    json_t *t = json_object_get(body, "target");
    if (!rc && t) {
        double v = json_number_value(t);
        rc = json_is_number(t) && v > 0.5 && v < 1.0 ? 0 : -EINVAL;
        *field = rc ? "target" : *field;
        out->run.params.target = v;
    }
    out->run.params.seed = (uint64_t)seed;
    out->run.params.members = (unsigned)members;
    out->run.params.bits = (unsigned)bits;
    out->run.max_rows = (size_t)rows;
    return rc;
}

json_t *lifecycle_request_json(const struct lifecycle_request *req, const char *requested_by)
{
    const struct train_run *r = &req->run;
    return json_pack("{s:s,s:I,s:I,s:I,s:f,s:b,s:I,s:b,s:s?}", "kind", LAYER_KIND_HASHED_BT, "seed",
                     (json_int_t)r->params.seed, "members", (json_int_t)r->params.members, "bits",
                     (json_int_t)r->params.bits, "target", r->params.target,
                     "include_layer_verdicts", r->include_layer, "max_rows",
                     (json_int_t)r->max_rows, "auto_promote", req->auto_promote, "requested_by",
                     requested_by);
}

/* ---- the trainer ---- */

struct lifecycle {
    struct store *store;
    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    bool stop, woken;
    atomic_bool cancel; /* stopping: a training or check under way gives up (not under mu) */
    int64_t current;    /* the layer training, 0 none */
    const char *stage;  /* its stage (static text) */
    size_t pairs, points;
    int64_t started_ms;
    struct layer_worker *checks;
    void (*activated)(void *cls); /* after an automatic promotion; may be NULL */
    void *activated_cls;
};

static void set_stage(struct lifecycle *lc, int64_t id, const char *stage)
{
    pthread_mutex_lock(&lc->mu);
    if (lc->current != id) {
        lc->pairs = lc->points = 0;
        lc->started_ms = util_now_ms();
    }
    lc->current = id;
    lc->stage = stage;
    pthread_mutex_unlock(&lc->mu);
}

static void on_read(void *cls, size_t npairs, size_t npoints)
{
    struct lifecycle *lc = cls;
    pthread_mutex_lock(&lc->mu);
    lc->pairs = npairs;
    lc->points = npoints;
    lc->stage = "training";
    pthread_mutex_unlock(&lc->mu);
}

static const char *stage_name(enum train_stage st)
{
    static const char *const names[] = {"reading", "empty", "training", "storing", "checking"};
    return names[st];
}

/* A training that failed leaves the layer rejected, with why. Returns 0
 * or the store's error when even that cannot be written. */
static int train_failed(struct lifecycle *lc, int64_t id, const struct train_run *run, int rc)
{
    const char *why = rc == -ENODATA ? "there is nothing to train on: no comparison that people "
                                       "decided (see include_layer_verdicts)"
                                     : strerror(-rc);
    json_t *m = json_pack("{s:s,s:s}", "error", why, "stage", stage_name(run->stage));
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    struct store_layer_done d = {.id = id, .actor = run->actor, .metrics = text};
    int src = store_layer_train_done(lc->store, &d);
    if (src)
        log_json("error", "cannot record a failed training", "{s:I,s:i}", "layer", (json_int_t)id,
                 "errno", -src);
    free(text);
    return src;
}

/* Records that the daemon's stop cut a training or check of layer id
 * short (event kind, detail {"note"}). */
static void interrupted(struct lifecycle *lc, int64_t id, const char *actor, const char *kind,
                        const char *note)
{
    char subject[32];
    snprintf(subject, sizeof subject, "layer:%lld", (long long)id);
    json_t *d = json_pack("{s:s}", "note", note);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    int rc = text ? store_event_add(lc->store, actor, kind, subject, text) : -ENOMEM;
    log_json(rc ? "error" : "info", note, "{s:I,s:s,s:i}", "layer", (json_int_t)id, "event", kind,
             "errno", -rc);
    free(text);
}

/* An automatic promotion, run on the check worker like every promotion
 * (so two checks never race for the active layer) while the trainer
 * waits for it. */
struct auto_check {
    struct layer_job job;
    struct lifecycle *lc;
    int64_t id;
    const char *actor;
    bool finished;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void auto_check_run(void *cls)
{
    struct auto_check *ac = cls;
    struct lifecycle *lc = ac->lc;
    struct promote_run pr = {.id = ac->id, .actor = ac->actor, .cancel = &lc->cancel};
    consistency_params_default(&pr.params);
    int rc = promote_layer(lc->store, &pr);
    if (rc == -ECANCELED)
        interrupted(lc, ac->id, ac->actor, "layer_check_interrupted",
                    "the daemon stopped during the automatic promotion check: the layer stays a "
                    "candidate; promote it with POST /v1/layers/{id}/promote");
    else if (rc)
        log_json("error", "the automatic promotion check failed", "{s:I,s:s,s:i}", "layer",
                 (json_int_t)ac->id, "stage", pr.stage, "errno", -rc);
    else
        log_json("info", pr.promoted ? "layer promoted" : "layer rejected", "{s:I}", "layer",
                 (json_int_t)ac->id);
    if (!rc && pr.promoted && lc->activated)
        lc->activated(lc->activated_cls);
    json_decref(pr.json);
}

static void auto_check_done(void *cls)
{
    struct auto_check *ac = cls;
    pthread_mutex_lock(&ac->mu);
    ac->finished = true;
    pthread_cond_signal(&ac->cv);
    pthread_mutex_unlock(&ac->mu);
}

/* Promotes freshly trained layer id when its request asks for it. */
static void auto_promote(struct lifecycle *lc, int64_t id, const char *actor)
{
    set_stage(lc, id, "checking");
    struct auto_check ac = {
        .job = {auto_check_run, auto_check_done, NULL, NULL}, .lc = lc, .id = id, .actor = actor};
    ac.job.cls = &ac;
    pthread_mutex_init(&ac.mu, NULL);
    pthread_cond_init(&ac.cv, NULL);
    if (lifecycle_submit_check(lc, &ac.job) == 0) {
        pthread_mutex_lock(&ac.mu);
        while (!ac.finished)
            pthread_cond_wait(&ac.cv, &ac.mu);
        pthread_mutex_unlock(&ac.mu);
    } else {
        log_json("error", "the automatic promotion check was not run: stopping", "{s:I}", "layer",
                 (json_int_t)id);
    }
    pthread_mutex_destroy(&ac.mu);
    pthread_cond_destroy(&ac.cv);
}

/* Trains queued layer id as its stored request says. Returns 0 once the
 * outcome (the layer, or its rejection) is stored, else the store's error:
 * the layer is still queued, and the trainer waits before trying again. */
static int train_one(struct lifecycle *lc, int64_t id, const char *request)
{
    json_t *body = request ? json_loads(request, 0, NULL) : json_object();
    const char *actor = json_string_value(json_object_get(body, "requested_by"));
    json_t *fields = json_deep_copy(body);
    json_object_del(fields, "requested_by");
    struct lifecycle_request req = {0};
    const char *bad = NULL;
    int rc = !body ? -EINVAL : fields ? lifecycle_request_read(fields, false, &req, &bad) : -ENOMEM;
    req.run.layer_id = id;
    req.run.actor = actor;
    req.run.progress = on_read;
    req.run.cls = lc;
    req.run.params.cancel = &lc->cancel;
    set_stage(lc, id, "reading");
    log_json("info", "training a layer", "{s:I}", "layer", (json_int_t)id);
    rc = rc ? rc : train_layer(lc->store, &req.run);
    if (rc == -ECANCELED) /* stopping: the layer stays queued and trains at the next start */
        interrupted(lc, id, actor, "layer_training_interrupted",
                    "the daemon stopped during training: the layer stays queued (status training) "
                    "and trains again from the start when the daemon next starts");
    int stored = rc == -ECANCELED ? rc : rc ? train_failed(lc, id, &req.run, rc) : 0;
    if (!rc)
        log_json("info", "layer trained", "{s:I}", "layer", (json_int_t)id);
    if (!rc && req.auto_promote)
        auto_promote(lc, id, actor);
    json_decref(req.run.report);
    json_decref(fields);
    json_decref(body);
    set_stage(lc, 0, NULL);
    return stored;
}

/* Waits until woken, stopping, or a few seconds passed (another process
 * may queue a layer). True when stopping. */
static bool trainer_wait(struct lifecycle *lc)
{
    pthread_mutex_lock(&lc->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    while (!lc->stop && !lc->woken)
        if (pthread_cond_timedwait(&lc->cv, &lc->mu, &ts))
            break;
    lc->woken = false;
    bool stop = lc->stop;
    pthread_mutex_unlock(&lc->mu);
    return stop;
}

static void *trainer_main(void *arg)
{
    struct lifecycle *lc = arg;
    pthread_setname_np(pthread_self(), "rung-train");
    /* Linux: the nice value is the thread's; threads it starts inherit it. */
    setpriority(PRIO_PROCESS, (id_t)gettid(), LIFECYCLE_NICE);
    for (;;) {
        pthread_mutex_lock(&lc->mu);
        bool stop = lc->stop;
        pthread_mutex_unlock(&lc->mu);
        if (stop)
            break;
        int64_t id = 0;
        char *request = NULL;
        int rc = store_layer_train_next(lc->store, &id, &request);
        if (!rc)
            rc = train_one(lc, id, request);
        else if (rc != -ENOENT)
            log_json("error", "cannot read the training queue", "{s:i}", "errno", -rc);
        free(request);
        if (rc && trainer_wait(lc))
            break;
    }
    return NULL;
}

struct lifecycle *lifecycle_new(struct store *s, void (*activated)(void *cls), void *cls)
{
    struct lifecycle *lc = calloc(1, sizeof *lc);
    if (!lc)
        return NULL;
    lc->store = s;
    lc->activated = activated;
    lc->activated_cls = cls;
    pthread_mutex_init(&lc->mu, NULL);
    pthread_cond_init(&lc->cv, NULL);
    lc->checks = layer_worker_new();
    if (!lc->checks || pthread_create(&lc->thread, NULL, trainer_main, lc)) {
        layer_worker_free(lc->checks);
        pthread_mutex_destroy(&lc->mu);
        pthread_cond_destroy(&lc->cv);
        free(lc);
        return NULL;
    }
    return lc;
}

void lifecycle_wake(struct lifecycle *lc)
{
    pthread_mutex_lock(&lc->mu);
    lc->woken = true;
    pthread_cond_signal(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
}

json_t *lifecycle_progress(struct lifecycle *lc, int64_t id)
{
    pthread_mutex_lock(&lc->mu);
    json_t *o = NULL;
    if (lc->current == id && lc->stage) {
        o = json_pack("{s:s,s:I,s:I,s:I,s:I}", "stage", lc->stage, "pairs", (json_int_t)lc->pairs,
                      "points", (json_int_t)lc->points, "started_ms", (json_int_t)lc->started_ms,
                      "elapsed_ms", (json_int_t)(util_now_ms() - lc->started_ms));
    }
    pthread_mutex_unlock(&lc->mu);
    return o;
}

void lifecycle_cancel(struct lifecycle *lc)
{
    atomic_store(&lc->cancel, true);
}

const atomic_bool *lifecycle_cancel_flag(struct lifecycle *lc)
{
    return &lc->cancel;
}

int lifecycle_submit_check(struct lifecycle *lc, struct layer_job *job)
{
    return layer_worker_submit(lc->checks, job);
}

void lifecycle_free(struct lifecycle *lc)
{
    if (!lc)
        return;
    atomic_store(&lc->cancel, true); /* a training or check under way gives up */
    pthread_mutex_lock(&lc->mu);
    lc->stop = true;
    pthread_cond_signal(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
    pthread_join(lc->thread, NULL);
    layer_worker_free(lc->checks);
    pthread_mutex_destroy(&lc->mu);
    pthread_cond_destroy(&lc->cv);
    free(lc);
}
