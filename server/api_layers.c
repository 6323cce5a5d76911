/* Reward layers over REST: registering an external model as a candidate
 * layer, and promoting a candidate to active. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "layer.h"

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

void api_layer_promote(struct req *r, const char *param)
{
    int64_t id;
    if (util_parse_i64(param, 1, INT64_MAX, &id)) {
        http_error(r, 404, "not_found", "No such layer.");
        return;
    }
    int rc = store_layer_activate(r->app->store, id);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "No candidate or retired layer %lld.", (long long)id);
    else if (rc)
        api_store_error(r, rc, "promoting the layer");
    else
        http_reply_json(r, 200, json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", "active"));
}
