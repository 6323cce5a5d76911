/* Overlap rules over HTTP: how many labels the tasks of a batch or a
 * domain want (PUT /v1/overlap), and the rules in force (GET). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "limits.h"

/* Reads {"batch"|"domain": NAME, "overlap": N, "future"?: bool} into its
 * parts. Returns false with the 422 reply set when the body has another
 * shape. */
static bool overlap_body(struct req *r, json_t *body, const char **scope, json_t **name, int *n,
                         bool *future)
{
    json_t *batch = json_object_get(body, "batch"), *domain = json_object_get(body, "domain");
    json_t *ov = json_object_get(body, "overlap"), *fut = json_object_get(body, "future");
    *name = batch ? batch : domain;
    *scope = batch ? "batch" : "domain";
    *future = json_is_true(fut);
    if ((batch && domain) || !json_is_string(*name) || json_string_length(*name) == 0 ||
        json_string_length(*name) > STORE_LABEL_MAX || !json_is_integer(ov) ||
        json_integer_value(ov) < 1 || json_integer_value(ov) > OVERLAP_MAX ||
        (fut && !json_is_boolean(fut)) || json_object_size(body) != 2u + (fut != NULL)) {
        http_error(r, 422, "invalid_body",
                   "Send {\"batch\": NAME, \"overlap\": N} or {\"domain\": NAME, \"overlap\": N} "
                   "with N from 1 to %d (NAME 1-%d bytes), and \"future\": true to set a rule "
                   "for a batch or domain that has no items yet.",
                   OVERLAP_MAX, STORE_LABEL_MAX);
        return false;
    }
    *n = (int)json_integer_value(ov);
    return true;
}

void api_overlap_put(struct req *r, const char *param)
{
    (void)param;
    json_t *body = api_json_body(r);
    const char *scope;
    json_t *name;
    int n;
    bool future, any = false;
    if (!body || !overlap_body(r, body, &scope, &name, &n, &future))
        goto out;
    const char *value = json_string_value(name);
    /* A misspelt name would make a rule nothing ever matches: one for items
     * yet to come has to say so. */
    int rc = future ? 0 : store_scope_has_items(r->app->store, scope, value, &any);
    if (!rc && !future && !any) {
        bool batch = !strcmp(scope, "batch");
        http_error(r, 404, batch ? "unknown_batch" : "unknown_domain",
                   "No item is in %s '%s'; send \"future\": true to set the rule for items "
                   "to come.",
                   scope, value);
        goto out;
    }
    rc = rc ? rc : store_overlap_set(r->app->store, scope, value, n);
    if (rc)
        api_store_error(r, rc, "setting the overlap");
    else
        http_reply_json(r, 200,
                        json_pack("{s:s,s:O,s:i}", "scope", scope, "value", name, "overlap", n));
out:
    json_decref(body);
}

void api_overlap_list(struct req *r, const char *param)
{
    (void)param;
    struct store_overlap_rule *v;
    size_t n;
    int rc = store_overlap_list(r->app->store, &v, &n);
    if (rc) {
        api_store_error(r, rc, "listing the overlap rules");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:s,s:i}", "scope", v[i].scope, "name",
                                             v[i].value, "overlap", v[i].overlap));
    free(v);
    http_reply_json(r, 200, json_pack("{s:o}", "rules", arr));
}
