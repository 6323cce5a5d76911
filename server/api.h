/* The REST API: routing, authentication and the handlers. */
#ifndef RUNG_API_H
#define RUNG_API_H

#include <jansson.h>
#include <stdbool.h>

#include "http.h"

/* Runs on the request headers: finds the route and authenticates the
 * caller. Sets r->handler, or an error reply (404, 405, 401, 403), so a
 * request that will be refused is refused before its body is read. */
void api_prepare(struct req *r);

/* Runs the chosen handler on the fully received request; it either sets the
 * reply or goes async. */
void api_dispatch(struct req *r);

/* Called for every request as it completes (aborted or not): drops it from
 * any wait list. */
void api_request_done(struct req *r);

/* Wakes every long-polling request (shutdown, or new tasks). */
void api_wake_all_waiters(struct app *app);

/* Resumes long-polls whose deadline passed. Called periodically. */
void api_wake_expired_waiters(struct app *app);

/* store_done_fn for the store's task hook: wakes long-polls (cls: app). */
void api_tasks_hook(void *app);

/* Shared helpers for the handler files. */
enum role_bits { ROLE_PUBLIC = 0, ROLE_ADMIN = 1, ROLE_PIPELINE = 2, ROLE_RATER = 4 };

/* True when the request's Content-Type is want (parameters such as
 * charset ignored, case-insensitive). */
bool api_content_type_is(struct req *r, const char *want);

/* Parses the body as a JSON object. On failure sets a 400/415/422 reply and
 * returns NULL. Returns a new reference. */
json_t *api_json_body(struct req *r);

struct body_error;

/* Sets the JSON error reply for a body core/body.c refused: code and
 * message, and index and field for an invalid item. */
void api_body_error(struct req *r, const struct body_error *e);

/* Allocates zeroed per-request handler state of size bytes and hands it
 * to the request (freed with state_free when it completes). Returns NULL
 * with a 503 reply set when memory is short. */
void *api_state_new(struct req *r, size_t size, void (*state_free)(void *));

/* Replies with the right status for a negative errno from the store:
 * -ENOENT 404, -EEXIST 409, -ESHUTDOWN and -ENOMEM 503, others 500. what
 * names what was being done ("reading the item"), for the message. */
void api_store_error(struct req *r, int rc, const char *what);

/* A new JSON string of text, or JSON null when text is NULL. */
json_t *api_string_or_null(const char *text);

/* The value of JSON text stored by the store (metadata, scores, reports):
 * parsed, else the text as a string, else null when text is NULL. Returns
 * a new reference. */
json_t *api_json_text(const char *text);

/* Sets "response": a, or "responses": [a, b] when b is not NULL. */
void api_set_responses(json_t *o, const char *a, const char *b);

/* Reads ?limit= (1..LIST_LIMIT_MAX) into *limit, which keeps its value
 * when the parameter is absent. On a bad value sets 400 invalid_query and
 * returns false. */
bool api_query_limit(struct req *r, unsigned *limit);

/* {value: count, ...} of one column's counts. Returns a new reference. */
json_t *api_counts_json(const struct store_counts *c);

#define API_REAL_DIGITS 6 /* significant digits of every real number in a reply */

/* As http_reply_json (body stolen), with real numbers printed to
 * API_REAL_DIGITS significant digits: 0.55, never 0.55000000000000004. */
void api_reply_rounded(struct req *r, unsigned status, json_t *body);

/* Handlers in api_items.c, api_tasks.c, api_overlap.c, static.c. */
void api_items_post(struct req *r, const char *param);
void api_items_get(struct req *r, const char *param);
void api_items_list(struct req *r, const char *param);
/* Retraction (api_items.c): DELETE /v1/items/{id} (a pipeline its own
 * items, an admin any) and DELETE /v1/batches/{batch} (admin). */
void api_item_delete(struct req *r, const char *param);
void api_batch_delete(struct req *r, const char *param);
void api_score(struct req *r, const char *param);
void api_status(struct req *r, const char *param);
void api_layers_list(struct req *r, const char *param);
void api_tasks_next(struct req *r, const char *param);
void api_task_label(struct req *r, const char *param);
void api_task_release(struct req *r, const char *param);
void api_item_gold(struct req *r, const char *param);
void api_raters(struct req *r, const char *param);
void api_overlap_put(struct req *r, const char *param);
void api_overlap_list(struct req *r, const char *param);
void api_layers_post(struct req *r, const char *param);
void api_layer_promote(struct req *r, const char *param);
/* The layer lifecycle (api_layers.c): one layer in detail, rollback. */
struct store_layer;
/* GET /v1/layers/{id}'s object for layer l into *out (a new reference):
 * what the lifecycle keeps (status, parent, request, training metrics,
 * consistency report, lineage, progress while training), then what other
 * modules measure about a layer (audits and drift, api_audit.h): the one
 * place where they are added. Returns 0, -ENOENT, -ENOMEM, -EIO. */
int layer_detail_json(struct app *app, const struct store_layer *l, json_t **out);
/* GET /v1/status's "layer_health": the active layer's id, kind and the
 * ingest wait (--layer-timeout); for an external (http) layer also its
 * client's breaker, counters, last latency and error. null without an
 * active layer. A new reference. */
json_t *api_layer_health_json(struct app *app);
void api_layer_get(struct req *r, const char *param);
void api_layer_rollback(struct req *r, const char *param);
void api_static(struct req *r, const char *path);

/* What raters meet (api_tasks.c): a task as shown, the rater's progress,
 * per-batch settings. */
void api_task_get(struct req *r, const char *param);
void api_me(struct req *r, const char *param);
void api_batch_put(struct req *r, const char *param);

/* The routes table (api.c): how many routes, and route i's method and
 * pattern (static strings), for the metrics. */
size_t api_route_count(void);
void api_route(size_t i, const char **method, const char **pattern);

/* The admin's view (api_admin.c): batches, raters in detail, agreement,
 * keys over REST. */
void api_batches_list(struct req *r, const char *param);
void api_batch_get(struct req *r, const char *param);
void api_rater_get(struct req *r, const char *param);
void api_keys_post(struct req *r, const char *param);
void api_keys_list(struct req *r, const char *param);
void api_key_delete(struct req *r, const char *param);

/* The "agreement" object of GET /v1/raters and GET /v1/batches/{batch}:
 * Cohen's kappa per pair of raters sharing AGREE_SET_MIN_SHARED tasks,
 * Fleiss' kappa and Krippendorff's alpha over the batch's labels (batch
 * NULL: all labels). Returns a new reference, or NULL with the error reply
 * set. */
json_t *api_agreement(struct req *r, const char *batch);

/* Listings that page (api_lists.c): GET /v1/flags, GET /v1/events, and
 * the paging parameters every listing by id shares. */
void api_flags_list(struct req *r, const char *param);
void api_events_list(struct req *r, const char *param);

/* The query of a listing paged by id (the router has refused any parameter
 * but limit and after): reads ?limit= as api_query_limit does and
 * ?after= (a cursor this server gave out: a row id) into *after, which is 0
 * without one. On a bad value sets 400 invalid_query and returns false. */
bool api_query_page(struct req *r, unsigned *limit, int64_t *after);

/* The query of a listing paged by name: as api_query_page, but ?after= is
 * a name (what, e.g. "batch") of 1 to max bytes, into *after (NULL without
 * one; borrowed from the request). */
bool api_query_name_page(struct req *r, unsigned *limit, const char **after, size_t max,
                         const char *what);

/* The "next" cursor of a page by id: the last id as a string when more
 * follows, else null. Returns a new reference. */
json_t *api_next_id(bool more, int64_t last);

/* Webhooks (api_webhooks.c): a key's hooks, registered, listed, deleted. */
void api_webhooks_post(struct req *r, const char *param);
void api_webhooks_list(struct req *r, const char *param);
void api_webhook_delete(struct req *r, const char *param);

/* The export and the API's description (api_export.c). */
void api_export(struct req *r, const char *param);
void api_openapi(struct req *r, const char *param);

#endif
