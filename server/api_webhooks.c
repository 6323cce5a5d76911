/* Webhooks over REST: POST /v1/webhooks registers a URL for the caller's
 * key (its secret shown once), GET /v1/webhooks lists the key's hooks,
 * DELETE /v1/webhooks/{id} deletes one. A key sees and deletes only its
 * own hooks (another key's is 404, as for none); the rules are
 * core/webhook.c's, the rows core/store_webhooks.c's. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "store_webhooks.h"
#include "webhook.h"

/* Checks the body's shape: only "url", a string. On failure sets 422
 * and returns NULL; else returns the URL (borrowed from body). */
static const char *hook_body_url(struct req *r, json_t *body)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "url") != 0) {
            http_error(r, 422, "invalid_body", "Unknown field '%.64s': a webhook takes only 'url'.",
                       k);
            return NULL;
        }
    }
    const char *url = json_string_value(json_object_get(body, "url"));
    if (!url || strlen(url) != json_string_length(json_object_get(body, "url"))) {
        http_error(r, 422, "invalid_body", "'url' is required: a string, the URL to post to.");
        return NULL;
    }
    return url;
}

/* Registers url for the caller's key and replies 201 with the secret. */
static void hook_create(struct req *r, const char *url)
{
    char secret[WEBHOOK_SECRET_LEN + 1];
    webhook_secret_new(secret);
    int64_t id, created;
    int rc = store_webhook_create(r->app->store, r->key.id, url, secret, &id, &created);
    if (rc == -EMLINK)
        http_error(r, 409, "too_many_webhooks", "A key may have at most %d webhooks.",
                   WEBHOOKS_PER_KEY_MAX);
    else if (rc)
        api_store_error(r, rc, "registering the webhook");
    else
        http_reply_json(r, 201,
                        json_pack("{s:I,s:s,s:s,s:I}", "id", (json_int_t)id, "url", url, "secret",
                                  secret, "created_ms", (json_int_t)created));
    sodium_memzero(secret, sizeof secret);
}

void api_webhooks_post(struct req *r, const char *param)
{
    (void)param;
    json_t *body = api_json_body(r);
    if (!body)
        return;
    const char *url = hook_body_url(r, body);
    char why[WEBHOOK_WHY_MAX];
    int rc = url ? webhook_url_check(url, r->app->hook_allow_private, why) : -EINVAL;
    if (url && rc == -EINVAL)
        http_error(r, 422, "invalid_url", "%s", why);
    else if (url && rc)
        api_store_error(r, rc, "checking the URL");
    else if (url)
        hook_create(r, url);
    json_decref(body);
}

/* A JSON integer, or null for 0. Returns a new reference. */
static json_t *int_or_null(int64_t v)
{
    return v ? json_integer(v) : json_null();
}

static json_t *hook_json(const struct store_webhook *w)
{
    return json_pack("{s:I,s:s,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "id", (json_int_t)w->id, "url",
                     w->url, "created_ms", (json_int_t)w->created_ms, "pending",
                     (json_int_t)w->pending, "delivered", (json_int_t)w->delivered, "failures",
                     (json_int_t)w->failures, "last_status", int_or_null(w->last_status),
                     "last_error", api_string_or_null(w->last_error), "last_attempt_ms",
                     int_or_null(w->last_attempt_ms));
}

void api_webhooks_list(struct req *r, const char *param)
{
    (void)param;
    struct store_webhook *v;
    size_t n;
    int rc = store_webhook_list(r->app->store, r->key.id, &v, &n);
    if (rc) {
        api_store_error(r, rc, "listing the webhooks");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, hook_json(&v[i]));
    store_webhooks_free(v, n);
    http_reply_json(r, 200, json_pack("{s:o}", "webhooks", arr));
}

void api_webhook_delete(struct req *r, const char *param)
{
    int64_t id, dropped = 0;
    int rc = util_parse_i64(param, 1, INT64_MAX, &id) ? -ENOENT : 0;
    rc = rc ? rc : store_webhook_delete(r->app->store, r->key.id, id, &dropped);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "This key has no webhook with that id.");
    else if (rc)
        api_store_error(r, rc, "deleting the webhook");
    else
        http_reply_json(r, 200,
                        json_pack("{s:I,s:b,s:I}", "id", (json_int_t)id, "deleted", 1, "dropped",
                                  (json_int_t)dropped));
}
