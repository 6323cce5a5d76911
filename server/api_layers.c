/* Reward layers over REST: registering an external model as a candidate
 * layer, and promoting a candidate to active. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "layer.h"
#include "layer_holder.h"
#include "promote.h"

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

void api_layers_post(struct req *r, const char *param)
{
    (void)param;
    json_t *body = api_json_body(r);
    if (!body)
        return;
    const char *kind = json_string_value(json_object_get(body, "kind"));
    if (!kind || strcmp(kind, "http")) {
        http_error(r, 422, "unsupported_kind",
                   "Over REST a layer of kind \"http\" (an external reward model) can be "
                   "registered; train hashed-bt layers with rungd train.");
        json_decref(body);
        return;
    }
    double tau;
    char *params = http_params(r, body, &tau);
    json_decref(body);
    if (!params)
        return;
    struct store_layer_new nl = {
        .kind = "http", .params = params, .params_len = strlen(params), .threshold = tau};
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
    struct promote_state *st = api_state_new(r, sizeof *st, promote_state_free);
    if (!st)
        return;
    st->r = r;
    st->run.id = id;
    st->run.actor = r->key.name;
    consistency_params_default(&st->run.params);
    st->job = (struct layer_job){.run = promote_job, .done = promote_done, .cls = st};
    http_go_async(r, promote_finish);
    if (layer_holder_submit(r->app->layers, &st->job)) {
        st->rc = -ESHUTDOWN;
        http_async_done(r);
    }
}
