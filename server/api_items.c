/* Items: ingest (POST /v1/items), scoring without storing (POST /v1/score),
 * read back, listing, status. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_audit.h"
#include "api_subq.h"
#include "app.h"
#include "body.h"
#include "log.h"
#include "route.h"

#define TEXT_FIELD_MAX BODY_EXTERNAL_ID_MAX /* external_id: bytes */

/* Parses the body of /v1/items or /v1/score into item objects (not yet
 * validated); the format follows Content-Type. Sets the error reply and
 * returns false on failure. */
static bool parse_items_body(struct req *r, struct body_items *b)
{
    memset(b, 0, sizeof *b);
    enum body_format fmt;
    if (api_content_type_is(r, "application/x-ndjson"))
        fmt = BODY_NDJSON;
    else if (api_content_type_is(r, "application/json"))
        fmt = BODY_JSON;
    else {
        http_error(r, 415, "unsupported_media_type",
                   "Send items as application/json or application/x-ndjson.");
        return false;
    }
    struct body_error err;
    if (body_items_parse(r->body, r->body_len, fmt, r->app->max_items, b, &err)) {
        api_body_error(r, &err);
        return false;
    }
    return true;
}

/* ---- scoring: inline, or on the layer worker for a layer that may block ---- */

/* The scoring of one request's items. It sits first in the handler's state,
 * so that scoring_finish finds it from r->state. */
struct scoring {
    struct layer_job job; /* for the worker */
    struct req *r;
    struct layer_holder *holder;
    struct layer_ref *ref; /* held from scoring until scoring_finish */
    struct store_item_in *items;
    size_t n;
    char **scores;     /* per item, malloc'd JSON text; NULL: not stored */
    json_t *decisions; /* /v1/score's answers, or NULL */
    int rc;
    uint64_t deadline_us; /* on the worker: --layer-timeout after submission */
    size_t failed;        /* items the layer could not score (they go to people) */
    req_finish_fn then;   /* builds the reply or stores, once all are scored */
    bool joined;          /* an item joined its group's samples: rescore the group */
};

static void scoring_clear(struct scoring *sc)
{
    if (sc->ref)
        layer_release(sc->holder, sc->ref);
    sc->ref = NULL;
}

static json_t *decision_json(const struct route_decision *d)
{
    json_t *o =
        json_pack("{s:s,s:O?}", "route", d->auto_route ? "auto" : "human", "scores", d->scores);
    json_object_set_new(o, "verdict",
                        d->auto_route && d->verdict ? json_string(d->verdict) : json_null());
    json_object_set_new(o, "confidence", d->scored ? json_real(d->confidence) : json_null());
    json_object_set_new(o, "layer_id", d->scored ? json_integer(d->layer_id) : json_null());
    return o;
}

/* An item the layer could not score (an external model that failed or
 * timed out) goes to people, unscored: never a lost or guessed verdict.
 * Only /v1/score, which stores nothing, reports the failure instead. */
static int unscored(struct scoring *sc, size_t i, int rc)
{
    if (sc->decisions || rc == -ENOMEM)
        return rc;
    if (!sc->failed++)
        log_json("warn", "the layer could not score; the items go to people", "{s:s}", "why",
                 strerror(-rc));
    route_unscored(&sc->items[i]);
    return 0;
}

/* Scores item i with l (and its group g, or NULL) and plans it. 0 or
 * negative errno. */
static int score_one(struct scoring *sc, const struct layer *l, size_t i, struct route_group *g)
{
    struct route_decision d;
    int rc = route_store_item_group(l, &sc->items[i], g ? &g->view : NULL,
                                    sc->scores ? &sc->scores[i] : NULL, &d);
    if (rc)
        rc = unscored(sc, i, rc);
    else if (sc->ref && atomic_load(&sc->ref->human_only))
        route_human_only(&sc->items[i], &d);
    /* An item the layer could not score is planned without it. */
    if (!rc && sc->scores)
        rc = api_subq_plan(sc->r->app->store, sc->items[i].layer_id ? l : NULL, &sc->items[i]);
    if (!rc && sc->decisions && json_array_set_new(sc->decisions, i, decision_json(&d)))
        rc = -ENOMEM;
    json_decref(d.scores);
    return rc;
}

/* An item of a request by its group, for sorting. */
struct by_group {
    const char *group;
    size_t i;
};

static int cmp_group(const void *x, const void *y)
{
    const struct by_group *a = x, *b = y;
    int c = strcmp(a->group, b->group);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* One group's items order[0..m) of the request, in request order: the
 * group as stored is read once, every item joins it, and each is scored
 * with the whole group (a request's best-of-n samples see each other).
 * 0 or negative errno. */
static int score_group_run(struct scoring *sc, const struct layer *l, const struct by_group *order,
                           size_t m)
{
    struct route_group g;
    int rc = route_group_read(sc->r->app->store, sc->r->key.id, order[0].group, &g);
    bool joined = false;
    for (size_t k = 0; k < m && !rc; k++) {
        struct store_item_in *it = &sc->items[order[k].i];
        it->group_seen = g.seen;
        route_group_join(&g, it->response_a, it->response_b);
        joined = joined || g.joined;
    }
    /* The first item's join marks the group's stored items: the others
     * come after it. */
    sc->items[order[0].i].group_joined = joined;
    sc->joined = sc->joined || joined;
    for (size_t k = 0; k < m && !rc; k++)
        rc = score_one(sc, l, order[k].i, &g);
    route_group_clear(&g);
    return rc;
}

/* Scores the items group by group (sorted by name, each group's items in
 * request order). 0 or negative errno. */
static int score_grouped(struct scoring *sc, const struct layer *l)
{
    struct by_group *order = malloc(sc->n * sizeof *order);
    if (!order)
        return -ENOMEM;
    for (size_t i = 0; i < sc->n; i++)
        order[i] = (struct by_group){sc->items[i].group, i};
    qsort(order, sc->n, sizeof *order, cmp_group);
    int rc = 0;
    for (size_t i = 0; i < sc->n && !rc;) {
        size_t j = i + 1;
        while (j < sc->n && !strcmp(order[j].group, order[i].group))
            j++;
        rc = score_group_run(sc, l, order + i, j - i);
        i = j;
    }
    free(order);
    return rc;
}

/* Scores every item with the held layer: with their sample groups when it
 * uses them. Any thread. 0 or negative errno. */
static int score_items(struct scoring *sc)
{
    const struct layer *l = sc->ref ? sc->ref->model : NULL;
    struct layer_info info = {0};
    if (l)
        layer_describe(l, &info);
    for (size_t i = 0; sc->decisions && i < sc->n; i++)
        if (json_array_append_new(sc->decisions, json_null()))
            return -ENOMEM;
    if (info.uses_groups)
        return score_grouped(sc, l);
    for (size_t i = 0; i < sc->n; i++) {
        int rc = score_one(sc, l, i, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

static void scoring_finish(struct req *r)
{
    struct scoring *sc = r->state;
    scoring_clear(sc);
    if (sc->rc == -ENOMEM)
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
    else if (sc->rc)
        http_error(r, 503, "layer_unavailable",
                   "The reward layer could not score the items (%s); retry later.",
                   strerror(-sc->rc));
    else
        sc->then(r);
}

static void scoring_run(void *cls)
{
    struct scoring *sc = cls;
    layer_deadline_set(sc->deadline_us);
    sc->rc = score_items(sc);
    layer_deadline_set(0);
}

static void scoring_done(void *cls)
{
    struct scoring *sc = cls;
    http_async_done(sc->r);
}

/* Scores sc's items with the active layer, then runs then(r). A layer that
 * may block scores on the worker while the request waits suspended, as it
 * does for the store's writer; hashed-bt scores inline. */
static void score_then(struct req *r, struct scoring *sc, req_finish_fn then)
{
    sc->r = r;
    sc->holder = r->app->layers;
    sc->then = then;
    sc->ref = layer_acquire(sc->holder);
    if (sc->ref && layer_may_block(sc->ref->model)) {
        sc->job = (struct layer_job){.run = scoring_run, .done = scoring_done, .cls = sc};
        /* Time queued behind other requests' scoring counts too. */
        sc->deadline_us = util_mono_us() + (uint64_t)r->app->layer_timeout_ms * 1000u;
        http_go_async(r, scoring_finish);
        if (layer_holder_submit(sc->holder, &sc->job)) {
            sc->rc = -ESHUTDOWN;
            http_async_done(r);
        }
        return;
    }
    sc->rc = score_items(sc);
    scoring_finish(r);
}

/* A field over its size cap: 413 field_too_large, with index and field. */
static bool too_large(struct req *r, size_t index, const char *field, size_t len, size_t max)
{
    char msg[256];
    snprintf(msg, sizeof msg, "Item %zu: '%s' is %zu bytes; the limit is %zu.", index, field, len,
             max);
    http_reply_json(r, 413,
                    json_pack("{s:{s:s,s:s,s:I,s:s}}", "error", "code", "field_too_large",
                              "message", msg, "index", (json_int_t)index, "field", field));
    return false;
}

/* Checks a validated item's texts against --max-text and its metadata
 * against --max-metadata (issue 15). */
static bool item_fits(struct req *r, size_t i, const struct store_item_in *it)
{
    size_t max = r->app->max_text;
    const char *const text[] = {it->prompt, it->response_a, it->response_b};
    const char *const name[] = {"prompt", it->response_b ? "responses" : "response", "responses"};
    for (size_t k = 0; k < 3; k++)
        if (text[k] && strlen(text[k]) > max)
            return too_large(r, i, name[k], strlen(text[k]), max);
    if (it->metadata && strlen(it->metadata) > r->app->max_metadata)
        return too_large(r, i, "metadata", strlen(it->metadata), r->app->max_metadata);
    return true;
}

/* Validates every item of b into items (metadata text into meta); an item
 * without a group gets its prompt's default group, written into dflt. */
static bool validate_items(struct req *r, struct body_items *b, struct store_item_in *items,
                           char **meta, char (*dflt)[GROUP_DEFAULT_LEN])
{
    struct body_error err;
    for (size_t i = 0; i < b->n; i++) {
        if (body_item_validate(b->objs[i], i, &items[i], &meta[i], &err)) {
            api_body_error(r, &err);
            return false;
        }
        if (!item_fits(r, i, &items[i]))
            return false;
        if (!items[i].group) {
            group_default_name(items[i].prompt, dflt[i]);
            items[i].group = dflt[i];
        }
    }
    return true;
}

/* ---- POST /v1/items ---- */

struct ingest_state {
    struct scoring sc; /* first: see struct scoring */
    struct body_items body;
    struct store_item_in *items;
    struct store_item_ack *acks;
    char **meta;                     /* per item, malloc'd JSON text or NULL */
    char **scores;                   /* per item, malloc'd JSON text or NULL */
    char (*dflt)[GROUP_DEFAULT_LEN]; /* per item, its default group name */
    struct store_ingest req;
};

static void ingest_state_free(void *p)
{
    struct ingest_state *s = p;
    if (!s)
        return;
    scoring_clear(&s->sc);
    for (size_t i = 0; i < s->body.n; i++) {
        if (s->meta)
            free(s->meta[i]);
        if (s->scores)
            free(s->scores[i]);
        if (s->items)
            subq_plan_free(s->items[i].subq);
    }
    free(s->meta);
    free(s->scores);
    free(s->dflt);
    free(s->items);
    free(s->acks);
    body_items_clear(&s->body);
    free(s);
}

static json_t *ack_json(const struct store_item_ack *a, const char *external_id)
{
    json_t *o = json_pack("{s:s,s:s}", "id", a->id, "status", a->status);
    json_object_set_new(o, "batch", a->has_batch ? json_string(a->batch) : json_null());
    if (external_id)
        json_object_set_new(o, "external_id", json_string(external_id));
    if (a->existed)
        json_object_set_new(o, "duplicate", json_true());
    return o;
}

static void ingest_finish(struct req *r)
{
    struct ingest_state *s = r->state;
    if (s->req.rc) {
        api_store_error(r, s->req.rc, "storing the items");
        return;
    }
    bool all_existed = true;
    size_t fresh = 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < s->body.n; i++) {
        all_existed = all_existed && s->acks[i].existed;
        fresh += !s->acks[i].existed;
        json_array_append_new(arr, ack_json(&s->acks[i], s->items[i].external_id));
    }
    atomic_fetch_add(&r->app->items_ingested, fresh);
    if (s->sc.joined) /* the group's earlier items wait to be scored again */
        layer_holder_kick(r->app->layers);
    unsigned status = all_existed ? 200 : 201;
    if (s->body.bare) {
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        http_reply_json(r, status, one);
    } else {
        http_reply_json(r, status, json_pack("{s:o}", "items", arr));
    }
}

/* Once scored: hands the items to the store's writer. */
static void ingest_submit(struct req *r)
{
    struct ingest_state *s = r->state;
    s->req = (struct store_ingest){
        .key_id = r->key.id, .items = s->items, .n = s->body.n, .acks = s->acks};
    http_go_async(r, ingest_finish);
    int rc = store_ingest_submit(r->app->store, &s->req, http_async_done, r);
    if (rc) {
        s->req.rc = rc;
        http_async_done(r);
    }
}

void api_items_post(struct req *r, const char *param)
{
    (void)param;
    struct ingest_state *s = api_state_new(r, sizeof *s, ingest_state_free);
    if (!s) {
        return;
    }
    if (!parse_items_body(r, &s->body))
        return;
    size_t n = s->body.n;
    s->items = calloc(n, sizeof *s->items);
    s->acks = calloc(n, sizeof *s->acks);
    s->meta = calloc(n, sizeof *s->meta);
    s->scores = calloc(n, sizeof *s->scores);
    s->dflt = calloc(n, sizeof *s->dflt);
    if (!s->items || !s->acks || !s->meta || !s->scores || !s->dflt) {
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return;
    }
    if (!validate_items(r, &s->body, s->items, s->meta, s->dflt))
        return;
    s->sc = (struct scoring){.items = s->items, .n = n, .scores = s->scores};
    score_then(r, &s->sc, ingest_submit);
}

/* ---- POST /v1/score ---- */

struct score_state {
    struct scoring sc; /* first: see struct scoring */
    struct body_items body;
    struct store_item_in *items;
    char **meta;
    char (*dflt)[GROUP_DEFAULT_LEN];
    json_t *decisions;
};

static void score_state_free(void *p)
{
    struct score_state *s = p;
    if (!s)
        return;
    scoring_clear(&s->sc);
    for (size_t i = 0; s->meta && i < s->body.n; i++)
        free(s->meta[i]);
    free(s->meta);
    free(s->dflt);
    free(s->items);
    json_decref(s->decisions);
    body_items_clear(&s->body);
    free(s);
}

static void score_reply(struct req *r)
{
    struct score_state *s = r->state;
    if (s->body.bare)
        api_reply_rounded(r, 200, json_incref(json_array_get(s->decisions, 0)));
    else
        api_reply_rounded(r, 200, json_pack("{s:O}", "items", s->decisions));
}

void api_score(struct req *r, const char *param)
{
    (void)param;
    struct score_state *s = api_state_new(r, sizeof *s, score_state_free);
    if (!s)
        return;
    if (!parse_items_body(r, &s->body))
        return;
    s->items = calloc(s->body.n, sizeof *s->items);
    s->meta = calloc(s->body.n, sizeof *s->meta);
    s->dflt = calloc(s->body.n, sizeof *s->dflt);
    s->decisions = json_array();
    if (!s->items || !s->meta || !s->dflt || !s->decisions) {
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return;
    }
    if (!validate_items(r, &s->body, s->items, s->meta, s->dflt))
        return;
    s->sc = (struct scoring){.items = s->items, .n = s->body.n, .decisions = s->decisions};
    score_then(r, &s->sc, score_reply);
}

/* ---- reads ---- */

static int64_t owner_filter(struct req *r)
{
    /* A pipeline sees what it posted; admins see everything. */
    return strcmp(r->key.role, "admin") == 0 ? 0 : r->key.id;
}

/* The public JSON object of an item. Returns a new reference. */
static json_t *item_json(const struct store_item *it)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(it->id));
    json_object_set_new(o, "external_id", api_string_or_null(it->external_id));
    json_object_set_new(o, "batch", api_string_or_null(it->batch));
    json_object_set_new(o, "kind", json_string(it->kind));
    json_object_set_new(o, "prompt", json_string(it->prompt));
    api_set_responses(o, it->response_a, it->response_b);
    json_object_set_new(o, "domain", api_string_or_null(it->domain));
    json_object_set_new(o, "group", api_string_or_null(it->group));
    json_object_set_new(o, "metadata", api_json_text(it->metadata));
    json_object_set_new(o, "priority", json_integer(it->priority));
    json_object_set_new(o, "status", json_string(it->status));
    json_object_set_new(o, "route", api_string_or_null(it->route));
    json_object_set_new(o, "verdict", api_string_or_null(it->verdict));
    json_object_set_new(o, "verdict_source", api_string_or_null(it->verdict_source));
    json_object_set_new(o, "confidence",
                        it->has_confidence ? json_real(it->confidence) : json_null());
    json_object_set_new(o, "layer_id", it->layer_id ? json_integer(it->layer_id) : json_null());
    json_object_set_new(o, "scores", api_json_text(it->scores));
    json_object_set_new(o, "gold", json_boolean(it->gold));
    json_object_set_new(o, "created_ms", json_integer(it->created_ms));
    json_object_set_new(o, "updated_ms", json_integer(it->updated_ms));
    return o;
}

/* Replies with the item and its sub-questions. */
static void api_item_reply(struct req *r, const struct store_item *it)
{
    json_t *o = item_json(it);
    int rc = api_subq_item(r->app->store, it, o);
    if (rc) {
        json_decref(o);
        api_store_error(r, rc, "reading the sub-questions");
        return;
    }
    api_reply_rounded(r, 200, o);
}

void api_items_get(struct req *r, const char *param)
{
    struct store_item it;
    int rc = store_item_get(r->app->store, param, owner_filter(r), &it);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "There is no item %s.", param);
    else if (rc)
        api_store_error(r, rc, "reading the item");
    else
        api_item_reply(r, &it);
    store_item_clear(&it);
}

void api_items_list(struct req *r, const char *param)
{
    (void)param;
    static const char *const statuses[] = {"queued", "auto", "decomposed", "awaiting_human",
                                           "resolved"};
    struct store_item_filter f = {.batch = http_query(r, "batch"),
                                  .external_id = http_query(r, "external_id"),
                                  .status = http_query(r, "status"),
                                  .key_id = owner_filter(r),
                                  .after = http_query(r, "after"),
                                  .limit = LIST_LIMIT_DEFAULT,
                                  .max_bytes = r->app->page_bytes};
    if (!api_query_limit(r, &f.limit))
        return;
    if (f.status) {
        bool ok = false;
        for (size_t i = 0; i < sizeof statuses / sizeof statuses[0] && !ok; i++)
            ok = !strcmp(f.status, statuses[i]);
        if (!ok) {
            http_error(r, 400, "invalid_query",
                       "'status' must be queued, auto, decomposed, awaiting_human or resolved.");
            return;
        }
    }
    if (f.batch && !*f.batch)
        f.batch = NULL;
    if (f.external_id && (!*f.external_id || strlen(f.external_id) > TEXT_FIELD_MAX)) {
        http_error(r, 400, "invalid_query", "'external_id' must be 1 to %d bytes.", TEXT_FIELD_MAX);
        return;
    }
    struct store_item *items;
    size_t n;
    char next[STORE_CURSOR_MAX];
    int rc = store_items_list(r->app->store, &f, &items, &n, next);
    if (rc == -EINVAL) {
        http_error(r, 400, "invalid_query", "'after' is not a cursor this server gave out.");
        return;
    }
    if (rc) {
        api_store_error(r, rc, "listing the items");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, item_json(&items[i]));
    store_items_free(items, n);
    api_reply_rounded(
        r, 200,
        json_pack("{s:o,s:o}", "items", arr, "next", next[0] ? json_string(next) : json_null()));
}

json_t *api_counts_json(const struct store_counts *c)
{
    json_t *o = json_object();
    for (size_t i = 0; i < c->n; i++)
        json_object_set_new(o, c->v[i].value, json_integer(c->v[i].n));
    return o;
}

void api_status(struct req *r, const char *param)
{
    (void)param;
    struct store_status st;
    int rc = store_status(r->app->store, &st);
    if (rc) {
        api_store_error(r, rc, "counting the items");
        return;
    }
    json_t *o =
        json_pack("{s:I,s:o,s:o,s:o,s:I}", "items", (json_int_t)st.items, "by_status",
                  api_counts_json(&st.by_status), "by_domain", api_counts_json(&st.by_domain),
                  "by_batch", api_counts_json(&st.by_batch), "db_bytes", (json_int_t)st.db_bytes);
    json_object_set_new(o, "by_domain_truncated", json_boolean(st.by_domain_more));
    json_object_set_new(o, "by_batch_truncated", json_boolean(st.by_batch_more));
    store_status_clear(&st);
    struct layer_ref *l = layer_acquire(r->app->layers);
    json_object_set_new(o, "active_layer", l ? json_integer(l->id) : json_null());
    layer_release(r->app->layers, l);
    json_object_set_new(o, "layer_health", api_layer_health_json(r->app));
    api_reply_rounded(r, 200, o);
}

void api_layers_list(struct req *r, const char *param)
{
    (void)param;
    struct store_layer *v;
    size_t n;
    int rc = store_layer_list(r->app->store, &v, &n);
    if (rc) {
        api_store_error(r, rc, "listing the layers");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && !rc; i++) {
        const struct store_layer *l = &v[i];
        json_t *o = json_pack(
            "{s:I,s:o,s:s,s:s,s:I,s:o,s:o,s:o,s:o,s:I}", "id", (json_int_t)l->id, "parent",
            l->parent ? json_integer(l->parent) : json_null(), "status", l->status, "kind", l->kind,
            "train_size", (json_int_t)l->train_size, "sources", api_json_text(l->sources),
            "metrics", api_json_text(l->metrics), "threshold",
            l->has_threshold ? json_real(l->threshold) : json_null(), "consistency",
            api_json_text(l->consistency), "created_ms", (json_int_t)l->created_ms);
        /* What hidden audits measured of it, and its drift (api_audit.c). */
        rc = o ? api_layer_trust_json(r->app, l->id, o) : -ENOMEM;
        json_array_append_new(arr, o);
    }
    store_layers_free(v, n);
    if (rc) {
        json_decref(arr);
        api_store_error(r, rc, "reading the layers' audits");
        return;
    }
    api_reply_rounded(r, 200, json_pack("{s:o}", "layers", arr));
}

/* ---- DELETE /v1/items/{id}, DELETE /v1/batches/{batch} ---- */

/* Retracts what x names and replies; a retracted item reads as absent
 * from then on, so a repeat (or another key's item) is 404. */
static void retract_reply(struct req *r, struct store_retract *x)
{
    x->actor = r->key.name;
    int rc = store_retract(r->app->store, x);
    if (rc == -ENOENT && x->item_id)
        http_error(r, 404, "not_found", "There is no item %s.", x->item_id);
    else if (rc == -ENOENT)
        http_error(r, 404, "not_found", "The batch has no items left to retract.");
    else if (rc)
        api_store_error(r, rc, "retracting");
    if (rc)
        return;
    layer_holder_kick(r->app->layers); /* groups that lost a sample: scored again */
    if (x->item_id)
        http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", x->item_id, "deleted", 1));
    else
        http_reply_json(
            r, 200, json_pack("{s:s,s:I}", "batch", x->batch, "deleted", (json_int_t)x->retracted));
}

void api_item_delete(struct req *r, const char *param)
{
    struct store_retract x = {.item_id = param, .key_id = owner_filter(r)};
    retract_reply(r, &x);
}

void api_batch_delete(struct req *r, const char *param)
{
    if (strlen(param) > STORE_LABEL_MAX) {
        http_error(r, 404, "not_found", "The batch has no items left to retract.");
        return;
    }
    struct store_retract x = {.batch = param};
    retract_reply(r, &x);
}
