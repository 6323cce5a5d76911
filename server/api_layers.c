/* Reward layers over REST: training a layer in the daemon, registering an
 * external model as a candidate layer, one layer in detail, promoting a
 * candidate to active after the consistency check, rolling back. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_audit.h"
#include "app.h"
#include "layer.h"
#include "layer_http.h"
#include "layer_holder.h"
#include "lifecycle.h"
#include "limits.h"
#include "promote.h"
#include "train.h"

/* The http kind's parameters: the body without "kind", as compact JSON
 * (malloc'd), once layer_load accepts them. NULL with a 422 reply set. */
static char *http_params(struct req *r, json_t *body, double *threshold)
{
    json_t *params = json_deep_copy(body);
    char *text = NULL;
    if (params) {
        json_object_del(params, "kind");
        text = json_dumps(params, JSON_COMPACT);
    }
    json_t *tau = json_object_get(params, "threshold");
    *threshold = json_is_number(tau) ? json_number_value(tau) : INFINITY;
    json_decref(params);
    struct layer *probe = text ? layer_load("http", 0, text, strlen(text)) : NULL;
    if (!probe) {
        http_error(r, 422, "invalid_layer",
                   "These parameters do not make an http layer: it needs \"url\" (http or "
                   "https), \"protocol\" (vllm, tei or rung), \"model\" for vllm, and only the "
                   "documented fields.");
        free(text);
        return NULL;
    }
    layer_free(probe);
    return text;
}

/* {"kind": "http", ...}: an external model registered as a candidate. */
static void register_http(struct req *r, json_t *body)
{
    double tau;
    char *params = http_params(r, body, &tau);
    if (!params)
        return;
    struct store_layer_new nl = {.kind = "http",
                                 .params = params,
                                 .params_len = strlen(params),
                                 .threshold = tau,
                                 .event_actor = r->key.name};
    int64_t id = 0;
    int rc = store_layer_add(r->app->store, &nl, &id);
    free(params);
    if (rc)
        api_store_error(r, rc, "storing the layer");
    else
        http_reply_json(r, 201,
                        json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "status", "candidate",
                                  "kind", "http"));
}

/* {} or {"kind": "hashed-bt", ...}: a layer queued for the trainer (202). */
static void queue_training(struct req *r, json_t *body)
{
    struct lifecycle_request req;
    const char *field = NULL;
    if (lifecycle_request_read(body, r->app->auto_promote, &req, &field)) {
        http_error(r, 422, "invalid_body",
                   "Bad or unknown field '%s': a training request takes kind (\"hashed-bt\"), "
                   "seed, members (1-%u), bits (%d-%d), target (0.5 to 1), "
                   "include_layer_verdicts, max_rows (1-%d) and auto_promote.",
                   field && strlen(field) <= 64 && util_utf8_valid(field, strlen(field)) ? field
                                                                                         : "?",
                   REWARD_MEMBERS_MAX, TRAIN_BITS_MIN, TRAIN_BITS_MAX, TRAIN_ROWS_MAX);
        return;
    }
    json_t *stored = lifecycle_request_json(&req, r->key.name);
    char *text = stored ? json_dumps(stored, JSON_COMPACT) : NULL; /* reals exactly as given */
    json_decref(stored);
    int64_t id = 0;
    int rc = text ? store_layer_train_queue(r->app->store, text, r->key.name, &id) : -ENOMEM;
    free(text);
    if (rc) {
        api_store_error(r, rc, "queueing the training");
        return;
    }
    lifecycle_wake(r->app->lifecycle);
    http_reply_json(r, 202,
                    json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "status", "training", "kind",
                              LAYER_KIND_HASHED_BT));
}

void api_layers_post(struct req *r, const char *param)
{
    (void)param;
    json_t *body = api_json_body(r);
    if (!body)
        return;
    const char *kind = json_string_value(json_object_get(body, "kind"));
    if (kind && !strcmp(kind, "http"))
        register_http(r, body);
    else if (!json_object_get(body, "kind") || (kind && !strcmp(kind, LAYER_KIND_HASHED_BT)))
        queue_training(r, body);
    else
        http_error(r, 422, "unsupported_kind",
                   "A layer's kind is \"hashed-bt\" (trained here from the comparisons) or "
                   "\"http\" (an external reward model).");
    json_decref(body);
}

/* ---- one layer: GET /v1/layers/{id} ---- */

int layer_detail_json(struct app *app, const struct store_layer *l, json_t **out)
{
    json_t *o = json_pack(
        "{s:I,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)l->id, "kind",
        l->kind, "status", l->status, "parent", l->parent ? json_integer(l->parent) : json_null(),
        "created_ms", (json_int_t)l->created_ms, "train_size", (json_int_t)l->train_size,
        "threshold", l->has_threshold ? json_real(l->threshold) : json_null(), "request",
        api_json_text(l->request), "metrics", api_json_text(l->metrics), "sources",
        api_json_text(l->sources), "consistency", api_json_text(l->consistency), "activated_ms",
        l->activated_ms ? json_integer(l->activated_ms) : json_null());
    json_t *lineage = l->lineage ? api_json_text(l->lineage) : json_object();
    if (json_is_object(lineage)) {
        json_object_set_new(lineage, "parent", l->parent ? json_integer(l->parent) : json_null());
        json_object_set_new(lineage, "replaced",
                            l->prev_active ? json_integer(l->prev_active) : json_null());
    }
    json_object_set_new(o, "lineage", lineage);
    /* The trainer's word, as long as the stored status agrees with it: a
     * training (stages up to "training"), or an automatic promotion's
     * check of a candidate ("checking"). */
    json_t *progress = lifecycle_progress(app->lifecycle, l->id);
    const char *stage = json_string_value(json_object_get(progress, "stage"));
    bool checking = stage && !strcmp(stage, "checking");
    bool training = !strcmp(l->status, "training");
    if (!(training && !checking) && !(checking && !strcmp(l->status, "candidate"))) {
        json_decref(progress);
        progress = training ? json_pack("{s:s}", "stage", "queued") : json_null();
    }
    if (!progress)
        progress = training ? json_pack("{s:s}", "stage", "queued") : json_null();
    json_object_set_new(o, "progress", progress);
    /* Objects other parts measure about a layer are appended here, after
     * what the lifecycle keeps: what hidden audits found, its drift. */
    int rc = o ? api_layer_trust_json(app, l->id, o) : -ENOMEM;
    if (rc)
        json_decref(o);
    *out = rc ? NULL : o;
    return rc;
}

/* Parses a layer id path parameter; 404 reply and false when it is not. */
static bool layer_param(struct req *r, const char *param, int64_t *id)
{
    if (util_parse_i64(param, 1, INT64_MAX, id)) {
        http_error(r, 404, "not_found", "No such layer.");
        return false;
    }
    return true;
}

void api_layer_get(struct req *r, const char *param)
{
    int64_t id;
    if (!layer_param(r, param, &id))
        return;
    struct store_layer l;
    int rc = store_layer_get(r->app->store, id, &l);
    json_t *o = NULL;
    rc = rc ? rc : layer_detail_json(r->app, &l, &o);
    store_layer_clear(&l);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "No layer %lld.", (long long)id);
    else if (rc)
        api_store_error(r, rc, "reading the layer");
    else
        api_reply_rounded(r, 200, o);
}

/* POST /v1/layers/{id}/rollback: the active layer id retires and the one
 * it replaced is active again (or none). */
void api_layer_rollback(struct req *r, const char *param)
{
    int64_t id, to = 0;
    if (!layer_param(r, param, &id))
        return;
    int rc = store_layer_rollback(r->app->store, id, r->key.name, &to);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "No layer %lld.", (long long)id);
    else if (rc == -EALREADY)
        http_error(r, 409, "not_active",
                   "Layer %lld is not the active layer: only the active layer is rolled back.",
                   (long long)id);
    else if (rc)
        api_store_error(r, rc, "rolling back");
    if (rc)
        return;
    layer_holder_refresh(r->app->layers);
    http_reply_json(r, 200,
                    json_pack("{s:I,s:s,s:o}", "id", (json_int_t)id, "status", "retired", "active",
                              to ? json_integer(to) : json_null()));
}

/* ---- promotion: checked against the settled set on the layer worker ---- */

struct promote_state {
    struct layer_job job; /* for the worker */
    struct req *r;
    struct promote_run run;
    int rc;
};

static void promote_state_free(void *p)
{
    struct promote_state *st = p;
    json_decref(st->run.json);
    free(st);
}

static void promote_job(void *cls)
{
    struct promote_state *st = cls;
    st->rc = promote_layer(st->r->app->store, &st->run);
    if (!st->rc && st->run.promoted)
        layer_holder_refresh(st->r->app->layers); /* serve with it at once */
}

static void promote_done(void *cls)
{
    struct promote_state *st = cls;
    http_async_done(st->r);
}

static void promote_finish(struct req *r)
{
    struct promote_state *st = r->state;
    if (st->rc == -ENOENT || st->rc == -EINVAL)
        http_error(r, 404, "not_found", "No candidate layer %lld.", (long long)st->run.id);
    else if (st->rc == -EALREADY)
        http_error(r, 409, "already_active", "Layer %lld is the active layer.",
                   (long long)st->run.id);
    else if (st->rc == -ESTALE)
        http_error(r, 409, "active_changed",
                   "The active layer changed during each of %d checks of layer %lld (a rollback "
                   "or another promotion): nothing was recorded; promote it again.",
                   PROMOTE_TRIES, (long long)st->run.id);
    else if (st->rc == -ECANCELED)
        http_error(r, 503, "shutting_down",
                   "The daemon is stopping: the check of layer %lld was given up and nothing "
                   "was recorded.",
                   (long long)st->run.id);
    else if (st->rc == -ENOMEM || st->rc == -EIO || st->rc == -ESHUTDOWN)
        api_store_error(r, st->rc, st->run.stage ? st->run.stage : "promoting the layer");
    else if (st->rc)
        http_error(r, 503, "layer_unavailable",
                   "The check could not score the settled set (%s, %s); nothing changed.",
                   st->run.stage, strerror(-st->rc));
    else
        api_reply_rounded(r, 200,
                          json_pack("{s:I,s:s,s:O}", "id", (json_int_t)st->run.id, "status",
                                    st->run.promoted ? "active" : "rejected", "consistency",
                                    st->run.json));
}

/* Reads the check's settings from an optional body (no body: the
 * defaults). False with a 4xx reply set. */
static bool check_params(struct req *r, struct consistency_params *p)
{
    consistency_params_default(p);
    if (r->body_len == 0)
        return true; /* no body, or an empty one */
    json_t *body = api_json_body(r);
    if (!body)
        return false;
    static const struct {
        const char *key;
        double lo, hi; /* [lo, hi] */
        size_t off;
    } f[] = {{"margin", 0, 1, offsetof(struct consistency_params, margin)},
             {"ece_floor", 0, 1, offsetof(struct consistency_params, ece_floor)},
             {"contradict_p", 0.5, 1, offsetof(struct consistency_params, contradict_p)},
             {"contradict_share", 0, 1, offsetof(struct consistency_params, contradict_share)}};
    size_t known = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        json_t *v = json_object_get(body, f[i].key);
        double x = json_number_value(v);
        known += v != NULL;
        if (v && !(json_is_number(v) && x >= f[i].lo && x <= f[i].hi)) {
            http_error(r, 422, "invalid_body", "'%s' must be a number from %g to %g.", f[i].key,
                       f[i].lo, f[i].hi);
            json_decref(body);
            return false;
        }
        if (v)
            *(double *)((char *)p + f[i].off) = x;
    }
    bool ok = known == json_object_size(body);
    json_decref(body);
    if (!ok)
        http_error(r, 422, "invalid_body",
                   "The check takes margin, ece_floor, contradict_p and contradict_share only.");
    return ok;
}

/* POST /v1/layers/{id}/promote: the candidate replaces the active layer
 * only if it passes the consistency check (core/promote.h); scoring the
 * settled set may call an external model, so it runs on the layer worker
 * while the request waits suspended. */
void api_layer_promote(struct req *r, const char *param)
{
    int64_t id;
    if (util_parse_i64(param, 1, INT64_MAX, &id)) {
        http_error(r, 404, "not_found", "No such layer.");
        return;
    }
    struct consistency_params params;
    if (!check_params(r, &params))
        return;
    struct store_layer l;
    int rc = store_layer_get(r->app->store, id, &l);
    bool training = !rc && !strcmp(l.status, "training");
    store_layer_clear(&l);
    if (training) {
        http_error(r, 409, "training",
                   "Layer %lld is still training; promote it once it is a candidate.",
                   (long long)id);
        return;
    }
    struct promote_state *st = api_state_new(r, sizeof *st, promote_state_free);
    if (!st)
        return;
    st->r = r;
    st->run.id = id;
    st->run.actor = r->key.name;
    st->run.params = params;
    st->run.cancel = lifecycle_cancel_flag(r->app->lifecycle);
    st->job = (struct layer_job){.run = promote_job, .done = promote_done, .cls = st};
    http_go_async(r, promote_finish);
    if (lifecycle_submit_check(r->app->lifecycle, &st->job)) {
        st->rc = -ESHUTDOWN;
        http_async_done(r);
    }
}

/* ---- the active layer's health, for GET /v1/status ---- */

static json_t *http_health_json(const struct layer_http_health *h)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o}", "breaker",
                     layer_http_breaker_name(h->breaker), "requests", (json_int_t)h->requests,
                     "failures", (json_int_t)h->failures, "errors", (json_int_t)h->errors,
                     "fast_fails", (json_int_t)h->fast_fails, "cache_hits",
                     (json_int_t)h->cache_hits, "cache_misses", (json_int_t)h->cache_misses,
                     "consecutive_failures", (json_int_t)h->consecutive_failures, "last_latency_ms",
                     (double)h->last_latency_us / 1000.0, "last_error",
                     h->last_error ? json_string(strerror(-h->last_error)) : json_null());
}

json_t *api_layer_health_json(struct app *app)
{
    struct layer_ref *ref = layer_acquire(app->layers);
    if (!ref)
        return json_null();
    struct layer_info info;
    layer_describe(ref->model, &info);
    const void *impl = layer_impl_of(ref->model, &layer_http_ops);
    struct layer_http_health h;
    if (impl)
        layer_http_health(impl, &h);
    json_t *o = json_pack("{s:I,s:s,s:I}", "layer", (json_int_t)ref->id, "kind", info.kind,
                          "timeout_ms", (json_int_t)app->layer_timeout_ms);
    layer_release(app->layers, ref);
    if (o && impl)
        json_object_update_new(o, http_health_json(&h));
    return o ? o : json_null();
}
