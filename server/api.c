/* Routing and authentication; the small endpoints (health, metrics). */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_audit.h"
#include "api_subq.h"
#include "app.h"
#include "body.h"
#include "metrics.h"

typedef void (*handler_fn)(struct req *r, const char *param);

struct route {
    const char *method;
    const char *pattern; /* '*' stands for one path segment, passed as param */
    unsigned roles;      /* ROLE_PUBLIC, or the roles allowed (admin always is) */
    handler_fn fn;
    bool body;                /* takes a body; others refuse one before reading it */
    const char *const *query; /* the query parameters it takes (NULL: none); any
                                 other is refused before the handler runs */
};

/* The query parameters of the routes that take any. */
static const char *const Q_PAGE[] = {"limit", "after", NULL};
static const char *const Q_ITEMS[] = {"batch", "status", "limit", "after", "external_id", NULL};
static const char *const Q_NEXT[] = {"wait", NULL};
static const char *const Q_EXPORT[] = {"format", "since", "batch", "source", "min_agreement", NULL};

static void healthz(struct req *r, const char *param);

static const struct route routes[] = {
    {"GET", "/healthz", ROLE_PUBLIC, healthz, false, NULL},
    {"GET", "/metrics", ROLE_ADMIN, metrics_reply, false, NULL},
    {"POST", "/v1/items", ROLE_PIPELINE, api_items_post, true, NULL},
    {"GET", "/v1/items", ROLE_PIPELINE, api_items_list, false, Q_ITEMS},
    {"GET", "/v1/items/*", ROLE_PIPELINE, api_items_get, false, NULL},
    {"DELETE", "/v1/items/*", ROLE_PIPELINE, api_item_delete, false, NULL},
    {"POST", "/v1/items/*/gold", ROLE_ADMIN, api_item_gold, true, NULL},
    {"POST", "/v1/score", ROLE_PIPELINE, api_score, true, NULL},
    {"GET", "/v1/status", ROLE_ADMIN, api_status, false, NULL},
    {"GET", "/v1/layers", ROLE_ADMIN, api_layers_list, false, NULL},
    {"POST", "/v1/layers", ROLE_ADMIN, api_layers_post, true, NULL},
    {"POST", "/v1/layers/*/promote", ROLE_ADMIN, api_layer_promote, true, NULL},
    {"GET", "/v1/layers/*", ROLE_ADMIN, api_layer_get, false, NULL},
    {"POST", "/v1/layers/*/rollback", ROLE_ADMIN, api_layer_rollback, false, NULL},
    {"POST", "/v1/layers/*/reinstate", ROLE_ADMIN, api_layer_reinstate, false, NULL},
    {"GET", "/v1/tasks/next", ROLE_RATER, api_tasks_next, false, Q_NEXT},
    {"POST", "/v1/tasks/*/labels", ROLE_RATER, api_task_label, true, NULL},
    {"POST", "/v1/tasks/*/release", ROLE_RATER, api_task_release, false, NULL},
    {"GET", "/v1/raters", ROLE_ADMIN, api_raters, false, Q_PAGE},
    {"PUT", "/v1/overlap", ROLE_ADMIN, api_overlap_put, true, NULL},
    {"GET", "/v1/overlap", ROLE_ADMIN, api_overlap_list, false, NULL},
    {"GET", "/v1/tasks/*", ROLE_RATER, api_task_get, false, NULL},
    {"GET", "/v1/me", ROLE_RATER, api_me, false, NULL},
    {"PUT", "/v1/batches/*", ROLE_ADMIN, api_batch_put, true, NULL},
    {"GET", "/v1/batches/*", ROLE_ADMIN, api_batch_get, false, NULL},
    {"DELETE", "/v1/batches/*", ROLE_ADMIN, api_batch_delete, false, NULL},
    {"PUT", "/v1/domains/*", ROLE_ADMIN, api_domain_put, true, NULL},
    {"GET", "/v1/domains", ROLE_ADMIN, api_domains_list, false, NULL},
    {"GET", "/v1/checker-answers", ROLE_ADMIN, api_checker_answers, false, NULL},
    {"GET", "/v1/export", ROLE_ADMIN, api_export, false, Q_EXPORT},
    {"GET", "/v1/openapi.json", ROLE_PUBLIC, api_openapi, false, NULL},
    /* the admin's view (api_admin.c) */
    {"GET", "/v1/batches", ROLE_ADMIN, api_batches_list, false, Q_PAGE},
    {"GET", "/v1/raters/*", ROLE_ADMIN, api_rater_get, false, NULL},
    {"POST", "/v1/keys", ROLE_ADMIN, api_keys_post, true, NULL},
    {"GET", "/v1/keys", ROLE_ADMIN, api_keys_list, false, Q_PAGE},
    {"DELETE", "/v1/keys/*", ROLE_ADMIN, api_key_delete, false, NULL},
    /* listings that page (api_lists.c) */
    {"GET", "/v1/flags", ROLE_ADMIN, api_flags_list, false, Q_PAGE},
    {"GET", "/v1/events", ROLE_ADMIN, api_events_list, false, Q_PAGE},
    /* webhooks (api_webhooks.c) */
    {"POST", "/v1/webhooks", ROLE_PIPELINE, api_webhooks_post, true, NULL},
    {"GET", "/v1/webhooks", ROLE_PIPELINE, api_webhooks_list, false, NULL},
    {"DELETE", "/v1/webhooks/*", ROLE_PIPELINE, api_webhook_delete, false, NULL},
};

#define ROUTE_COUNT (sizeof routes / sizeof routes[0])
_Static_assert(ROUTE_COUNT <= METRICS_ROUTES_MAX, "the latency histogram keeps too few routes");

size_t api_route_count(void)
{
    return ROUTE_COUNT;
}

void api_route(size_t i, const char **method, const char **pattern)
{
    *method = routes[i].method;
    *pattern = routes[i].pattern;
}

#define PARAM_MAX 64 /* bytes of a path parameter: struct req's param holds it */

/* Matches path against pattern; copies the '*' segment into param. */
static bool match(const char *pattern, const char *path, char param[PARAM_MAX + 1])
{
    param[0] = '\0';
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n > PARAM_MAX)
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return !*pattern && !*path;
}

static unsigned role_bit(const char *role)
{
    if (!strcmp(role, "admin"))
        return ROLE_ADMIN;
    if (!strcmp(role, "pipeline"))
        return ROLE_PIPELINE;
    if (!strcmp(role, "rater"))
        return ROLE_RATER;
    return 0;
}

/* Authenticates the caller for a route. Returns true when the request may
 * proceed; otherwise the 401/403 reply is set. */
static bool authorize(struct req *r, unsigned roles)
{
    const char *h = http_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7]) {
        http_error(r, 401, "unauthorized",
                   "This endpoint needs an 'Authorization: Bearer TOKEN' header.");
        http_reply_header(r, "WWW-Authenticate", "Bearer");
        return false;
    }
    int rc = store_key_auth(r->app->store, h + 7, &r->key);
    if (rc == -EACCES) {
        http_error(r, 401, "unauthorized", "The token is not valid (unknown or revoked).");
        http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        return false;
    }
    if (rc) {
        api_store_error(r, rc, "checking the token");
        return false;
    }
    r->authed = true;
    unsigned have = role_bit(r->key.role);
    if (have == ROLE_ADMIN || (have & roles))
        return true;
    http_error(r, 403, "forbidden", "A key with role '%s' may not use this endpoint.", r->key.role);
    return false;
}

/* The key's request rate (--rate-limit): true when this request may run,
 * else 429 with Retry-After is set. */
static bool rate_ok(struct req *r)
{
    unsigned retry = 0;
    if (!r->app->guard || guard_rate_take(r->app->guard, r->key.id, &retry))
        return true;
    char secs[16];
    snprintf(secs, sizeof secs, "%u", retry);
    http_error(r, 429, "rate_limited",
               "This key is over its limit of %g requests a second; retry in %u s.",
               r->app->net.rate, retry);
    http_reply_header(r, "Retry-After", secs);
    return false;
}

#define QUERY_NAME_SHOWN 64 /* bytes of an unknown parameter's name quoted back */

struct query_check {
    const char *const *known;
    const char *unknown; /* the first argument not in known */
};

static enum MHD_Result query_check_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    (void)value;
    struct query_check *q = cls;
    for (size_t i = 0; q->known[i]; i++)
        if (!strcmp(key, q->known[i]))
            return MHD_YES;
    q->unknown = key;
    return MHD_NO;
}

/* True when every query argument of the request is named in known (a
 * NULL-terminated list; a route without parameters passes {NULL});
 * otherwise sets 400 unknown_parameter naming the first other one (an
 * unknown parameter is refused, never ignored) and returns false. */
static bool query_known(struct req *r, const char *const *known)
{
    struct query_check q = {.known = known};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_check_one, &q);
    if (!q.unknown)
        return true;
    char names[256] = "";
    for (size_t i = 0, len = 0; known[i] && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", known[i]);
    size_t n = strlen(q.unknown);
    bool show = n <= QUERY_NAME_SHOWN && util_utf8_valid(q.unknown, n);
    http_error(r, 400, "unknown_parameter", "Unknown query parameter '%s'; %s takes %s.",
               show ? q.unknown : "?", r->path, known[0] ? names : "none");
    return false;
}

/* Endpoints without a body refuse one on the headers: nobody, signed in or
 * not, can make the server hold megabytes it has no use for. */
static void no_body(struct req *r)
{
    http_error(r, 413, "body_not_allowed", "%s %s takes no request body.", r->method, r->path);
}

void api_prepare(struct req *r)
{
    store_unavailable_take(); /* a flag left by an earlier request is not this one's */
    char param[PARAM_MAX + 1];
    char allow[64] = "";
    bool path_known = false;
    /* HEAD is a GET whose body libmicrohttpd leaves out, on the public
     * routes and the page's files only: a GET that changes something
     * (GET /v1/tasks/next leases) must not run for a HEAD. */
    bool head = !strcmp(r->method, "HEAD");
    const char *method = head ? "GET" : r->method;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        const struct route *rt = &routes[i];
        if (!match(rt->pattern, r->path, param))
            continue;
        path_known = true;
        if (strcmp(rt->method, method) != 0 || (head && rt->roles != ROLE_PUBLIC)) {
            if (!strstr(allow, rt->method)) {
                size_t n = strlen(allow);
                snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", rt->method);
            }
            continue;
        }
        r->route = (unsigned)i + 1;
        if (!rt->body && r->has_body) {
            no_body(r);
            return;
        }
        if (rt->roles != ROLE_PUBLIC && (!authorize(r, rt->roles) || !rate_ok(r)))
            return;
        /* Every name stored is UTF-8 (bodies are checked): bytes that are
         * not name nothing, on either backend. */
        if (!util_utf8_valid(param, strlen(param))) {
            http_error(r, 404, "not_found", "No such resource: %s.", r->path);
            return;
        }
        static const char *const none[] = {NULL};
        if (!query_known(r, rt->query ? rt->query : none))
            return;
        r->handler = rt->fn;
        memcpy(r->param, param, sizeof r->param);
        return;
    }
    if (path_known) {
        http_error(r, 405, "method_not_allowed", "%s is not allowed on %s.", r->method, r->path);
        http_reply_header(r, "Allow", allow);
        return;
    }
    if (strncmp(r->path, "/v1/", 4) != 0 && strcmp(r->path, "/v1") != 0 && !strcmp(method, "GET")) {
        if (r->has_body) {
            no_body(r);
            return;
        }
        r->handler = api_static;
        util_strlcpy(r->param, "", sizeof r->param);
        return;
    }
    http_error(r, 404, "not_found", "There is no endpoint at %s.", r->path);
}

void api_dispatch(struct req *r)
{
    if (r->handler == api_static)
        api_static(r, r->path);
    else if (r->handler)
        r->handler(r, r->param);
    else
        http_error(r, 500, "internal", "No handler was chosen for this request.");
}

bool api_content_type_is(struct req *r, const char *want)
{
    const char *ct = http_header(r, "Content-Type");
    if (!ct)
        return false;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

json_t *api_json_body(struct req *r)
{
    if (!api_content_type_is(r, "application/json")) {
        http_error(r, 415, "unsupported_media_type", "Send the body as application/json.");
        return NULL;
    }
    if (r->body_len == 0) {
        http_error(r, 400, "empty_body", "The request needs a JSON body.");
        return NULL;
    }
    json_error_t err;
    json_t *v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        if (json_error_code(&err) == json_error_invalid_utf8)
            http_error(r, 400, "invalid_utf8", "The body is not valid UTF-8 (at byte %d).",
                       err.position);
        else
            http_error(r, 400, "malformed_json", "Malformed JSON at line %d, column %d: %s.",
                       err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_error(r, 422, "invalid_body", "The body must be a JSON object.");
        return NULL;
    }
    return v;
}

void *api_state_new(struct req *r, size_t size, void (*state_free)(void *))
{
    void *s = calloc(1, size);
    if (!s) {
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return NULL;
    }
    r->state = s;
    r->state_free = state_free;
    return s;
}

void api_store_error(struct req *r, int rc, const char *what)
{
    /* A store call that failed because PostgreSQL could not be reached
     * (whatever errno it made of it) is 503, as are its writer's. */
    if (rc == -EIO && store_unavailable_take())
        rc = -EAGAIN;
    switch (rc) {
    case -ENOENT:
        http_error(r, 404, "not_found", "No such resource.");
        break;
    case -EEXIST:
        http_error(r, 409, "conflict", "It exists already.");
        break;
    case -ESHUTDOWN:
        http_error(r, 503, "shutting_down", "The server is shutting down; retry elsewhere.");
        break;
    case -ENOMEM:
        http_error(r, 503, "out_of_memory", "The server ran out of memory %s; retry later.", what);
        break;
    case -EFBIG: /* SQLITE_TOOBIG: a value over SQLite's length limit */
        http_error(r, 413, "too_large", "A value is too large to store %s; nothing was changed.",
                   what);
        break;
    case -ENOSPC: { /* SQLITE_FULL: the disk, or --max-db-bytes */
        char secs[16];
        snprintf(secs, sizeof secs, "%d", RETRY_AFTER_FULL_S);
        http_error(r, 507, "storage_full",
                   "The database is full %s; nothing was changed. Retry once space is freed.",
                   what);
        http_reply_header(r, "Retry-After", secs);
        break;
    }
    case -EILSEQ: /* PostgreSQL: text that is not UTF-8 */
        http_error(r, 400, "invalid_utf8", "A value is not valid UTF-8 %s; nothing was changed.",
                   what);
        break;
    case -EAGAIN: /* PostgreSQL: a lost connection, a timeout, a conflict */
        http_error(r, 503, "storage_unavailable",
                   "The database is unavailable %s; nothing was changed. Retry shortly.", what);
        http_reply_header(r, "Retry-After", "1");
        break;
    default:
        http_error(r, 500, "storage_error", "The database failed %s (%s); nothing was changed.",
                   what, strerror(-rc));
    }
}

json_t *api_string_or_null(const char *text)
{
    return text ? json_string(text) : json_null();
}

json_t *api_json_text(const char *text)
{
    if (!text)
        return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}

void api_set_responses(json_t *o, const char *a, const char *b)
{
    if (!b) {
        json_object_set_new(o, "response", json_string(a));
        return;
    }
    json_object_set_new(o, "responses", json_pack("[s,s]", a, b));
}

static void healthz(struct req *r, const char *param)
{
    (void)param;
    http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- query parameters and rounded numbers (issue 9) ---- */

bool api_query_limit(struct req *r, unsigned *limit)
{
    const char *text = http_query(r, "limit");
    int64_t v;
    if (!text)
        return true;
    if (util_parse_i64(text, 1, LIST_LIMIT_MAX, &v)) {
        http_error(r, 400, "invalid_query", "'limit' must be an integer from 1 to %d.",
                   LIST_LIMIT_MAX);
        return false;
    }
    *limit = (unsigned)v;
    return true;
}

void api_reply_rounded(struct req *r, unsigned status, json_t *body)
{
    char *text =
        body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(API_REAL_DIGITS)) : NULL;
    json_decref(body);
    if (!text) {
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return;
    }
    http_reply_owned(r, status, "application/json", text, strlen(text));
}

void api_body_error(struct req *r, const struct body_error *e)
{
    char msg[sizeof e->message];
    util_strlcpy(msg, e->message, sizeof msg);
    util_utf8_sanitize(msg, strlen(msg));
    json_t *err = json_pack("{s:s,s:s}", "code", e->code, "message", msg);
    if (err && e->index >= 0) {
        json_object_set_new(err, "index", json_integer((json_int_t)e->index));
        json_object_set_new(err, "field", json_string(e->field));
    }
    http_reply_json(r, e->status, err ? json_pack("{s:o}", "error", err) : NULL);
}
