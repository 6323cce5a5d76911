/* Items in the store: ingest (through the writer), read back, counts. */
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int bind_text_or_null(sqlite3_stmt *st, int idx, const char *text)
{
    if (!text)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

void json_set_column(json_t *obj, const char *key, sqlite3_stmt *st, int col, bool parse_json)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        json_object_set_new(obj, key, json_integer(sqlite3_column_int64(st, col)));
        break;
    case SQLITE_FLOAT:
        json_object_set_new(obj, key, json_real(sqlite3_column_double(st, col)));
        break;
    case SQLITE_TEXT: {
        const char *text = (const char *)sqlite3_column_text(st, col);
        size_t len = (size_t)sqlite3_column_bytes(st, col);
        json_t *v = NULL;
        if (parse_json)
            v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
        if (!v)
            v = json_stringn(text, len);
        json_object_set_new(obj, key, v ? v : json_null());
        break;
    }
    default:
        json_object_set_new(obj, key, json_null());
    }
}

json_t *store_item_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    json_set_column(o, "id", st, 1, false);
    json_set_column(o, "external_id", st, 3, false);
    json_set_column(o, "batch", st, 4, false);
    json_set_column(o, "kind", st, 5, false);
    json_set_column(o, "prompt", st, 6, false);
    if (sqlite3_column_type(st, 8) == SQLITE_NULL) {
        json_set_column(o, "response", st, 7, false);
    } else {
        json_t *pair = json_array();
        json_array_append_new(pair, json_string((const char *)sqlite3_column_text(st, 7)));
        json_array_append_new(pair, json_string((const char *)sqlite3_column_text(st, 8)));
        json_object_set_new(o, "responses", pair);
    }
    json_set_column(o, "domain", st, 9, false);
    json_set_column(o, "metadata", st, 10, true);
    json_set_column(o, "priority", st, 11, false);
    json_set_column(o, "status", st, 12, false);
    json_set_column(o, "route", st, 13, false);
    json_set_column(o, "verdict", st, 14, false);
    json_set_column(o, "verdict_source", st, 15, false);
    json_set_column(o, "confidence", st, 16, false);
    json_set_column(o, "layer_id", st, 17, false);
    json_set_column(o, "scores", st, 18, true);
    json_object_set_new(o, "gold", json_boolean(sqlite3_column_type(st, 19) != SQLITE_NULL));
    json_set_column(o, "created_ms", st, 20, false);
    json_set_column(o, "updated_ms", st, 21, false);
    return o;
}

/* Labels a new task wants: the batch's rule, else the domain's, else the
 * store default. */
static int overlap_for(struct store *s, struct conn *c, const char *batch, const char *domain)
{
    int overlap = s->default_overlap;
    if (!batch && !domain)
        return overlap;
    sqlite3_stmt *st = conn_stmt(c, ST_OVERLAP_FOR);
    if (!st)
        return overlap;
    bind_text_or_null(st, 1, batch);
    bind_text_or_null(st, 2, domain);
    if (sqlite3_step(st) == SQLITE_ROW)
        overlap = sqlite3_column_int(st, 0);
    conn_done(st);
    return overlap;
}

static int find_existing(struct conn *c, int64_t key_id, const char *external_id,
                         struct store_item_ack *ack)
{
    sqlite3_stmt *st = conn_stmt(c, ST_ITEM_FIND_EXT);
    if (!st)
        return -EIO;
    if (key_id)
        sqlite3_bind_int64(st, 1, key_id);
    sqlite3_bind_text(st, 2, external_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        util_strlcpy(ack->id, (const char *)sqlite3_column_text(st, 0), sizeof ack->id);
        util_strlcpy(ack->status, (const char *)sqlite3_column_text(st, 1), sizeof ack->status);
        ack->has_batch = sqlite3_column_type(st, 2) != SQLITE_NULL;
        util_strlcpy(ack->batch, ack->has_batch ? (const char *)sqlite3_column_text(st, 2) : "",
                     sizeof ack->batch);
        ack->existed = true;
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : -EIO;
    }
    conn_done(st);
    return rc;
}

static int insert_item(struct store *s, struct conn *c, int64_t key_id,
                       const struct store_item_in *it, struct store_item_ack *ack, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, ST_ITEM_INSERT);
    if (!st)
        return -EIO;
    bool scored = it->layer_id != 0;
    bool is_auto = scored && it->route_auto && it->verdict;
    const char *status = is_auto ? "auto" : "awaiting_human";
    util_uuid(ack->id);
    util_strlcpy(ack->status, status, sizeof ack->status);
    ack->has_batch = it->batch != NULL;
    util_strlcpy(ack->batch, it->batch ? it->batch : "", sizeof ack->batch);
    ack->existed = false;
    sqlite3_bind_text(st, 1, ack->id, -1, SQLITE_STATIC);
    if (key_id)
        sqlite3_bind_int64(st, 2, key_id);
    bind_text_or_null(st, 3, it->external_id);
    bind_text_or_null(st, 4, it->batch);
    sqlite3_bind_text(st, 5, it->response_b ? "pair" : "single", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, it->prompt, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, it->response_a, -1, SQLITE_STATIC);
    bind_text_or_null(st, 8, it->response_b);
    bind_text_or_null(st, 9, it->domain);
    bind_text_or_null(st, 10, it->metadata);
    sqlite3_bind_int64(st, 11, it->priority);
    sqlite3_bind_text(st, 12, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, is_auto ? "auto" : "human", -1, SQLITE_STATIC);
    bind_text_or_null(st, 14, is_auto ? it->verdict : NULL);
    bind_text_or_null(st, 15, is_auto ? "layer" : NULL);
    if (scored)
        sqlite3_bind_double(st, 16, it->confidence);
    if (scored)
        sqlite3_bind_int64(st, 17, it->layer_id);
    bind_text_or_null(st, 18, it->scores);
    sqlite3_bind_int64(st, 19, now);
    int rc = sqlite3_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
    if (is_auto)
        return 0;

    int64_t seq = sqlite3_last_insert_rowid(c->db);
    st = conn_stmt(c, ST_TASK_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, it->response_b ? "pair" : "single", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, it->priority);
    sqlite3_bind_int(st, 4, overlap_for(s, c, it->batch, it->domain));
    sqlite3_bind_int64(st, 5, now);
    rc = sqlite3_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    s->open_tasks++;
    s->tasks_changed = true;
    return 0;
}

static int ingest_job(struct store *s, struct conn *c, void *arg)
{
    struct store_ingest *r = arg;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < r->n; i++) {
        const struct store_item_in *it = &r->items[i];
        int rc = 0;
        if (it->external_id) {
            rc = find_existing(c, r->key_id, it->external_id, &r->acks[i]);
            if (rc < 0)
                return rc;
            if (rc == 1)
                continue;
        }
        rc = insert_item(s, c, r->key_id, it, &r->acks[i], now);
        if (rc)
            return rc;
    }
    return 0;
}

int store_ingest_submit(struct store *s, struct store_ingest *req, store_done_fn done, void *cls)
{
    return store_submit(s, ingest_job, req, &req->rc, done, cls);
}

int store_ingest(struct store *s, struct store_ingest *req)
{
    req->rc = store_run(s, ingest_job, req);
    return req->rc;
}

json_t *store_item_get(struct store *s, const char *id, int64_t key_id)
{
    struct conn *c = store_reader(s);
    json_t *o = NULL;
    sqlite3_stmt *st = conn_stmt(c, ST_ITEM_GET);
    if (!st)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && (key_id == 0 || sqlite3_column_int64(st, 2) == key_id))
        o = store_item_json(st);
out:
    conn_done(st);
    store_reader_put(s, c);
    return o;
}

int store_items_list(struct store *s, const struct store_item_filter *f, json_t **items,
                     char next[STORE_CURSOR_MAX])
{
    int64_t after = 0;
    next[0] = '\0';
    if (f->after && *f->after && util_parse_i64(f->after, 0, INT64_MAX, &after))
        return -EINVAL;
    enum stmt_id id = f->batch ? ST_ITEMS_BATCH : f->status ? ST_ITEMS_STATUS : ST_ITEMS_ALL;
    struct conn *c = store_reader(s);
    int rc = -EIO;
    json_t *arr = json_array();
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        goto out;
    sqlite3_bind_int64(st, 1, after);
    bind_text_or_null(st, 2, f->status);
    sqlite3_bind_int64(st, 3, f->key_id);
    /* One row more than asked tells whether a next page exists. */
    sqlite3_bind_int64(st, 4, (int64_t)f->limit + 1);
    if (f->batch)
        sqlite3_bind_text(st, 5, f->batch, -1, SQLITE_STATIC);
    int step;
    int64_t last = 0;
    unsigned n = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit) {
            snprintf(next, STORE_CURSOR_MAX, "%lld", (long long)last);
            continue;
        }
        last = sqlite3_column_int64(st, 0);
        json_array_append_new(arr, store_item_json(st));
        n++;
    }
    if (step == SQLITE_DONE)
        rc = 0;
out:
    conn_done(st);
    store_reader_put(s, c);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *items = arr;
    return 0;
}

/* A JSON object of counts from a two-column query, or NULL on error. */
static json_t *count_by(struct conn *c, enum stmt_id id)
{
    json_t *o = json_object();
    sqlite3_stmt *st = conn_stmt(c, id);
    int rc = st ? SQLITE_ROW : SQLITE_ERROR;
    while (st && (rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    conn_done(st);
    if (rc != SQLITE_DONE) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *store_status(struct store *s)
{
    struct conn *c = store_reader(s);
    json_t *o = NULL;
    /* One read transaction so the counts agree with each other. */
    if (conn_run(c, ST_BEGIN_READ))
        goto out;
    json_t *by_status = count_by(c, ST_COUNT_STATUS);
    json_t *by_domain = count_by(c, ST_COUNT_DOMAIN);
    json_t *by_batch = count_by(c, ST_COUNT_BATCH);
    sqlite3_stmt *st = conn_stmt(c, ST_DB_SIZE);
    bool size_ok = st && sqlite3_step(st) == SQLITE_ROW;
    int64_t bytes = size_ok ? sqlite3_column_int64(st, 0) : 0;
    conn_done(st);
    conn_run(c, ST_COMMIT);
    if (!by_status || !by_domain || !by_batch || !size_ok) {
        json_decref(by_status);
        json_decref(by_domain);
        json_decref(by_batch);
        goto out;
    }
    int64_t total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(by_status, k, v) total += json_integer_value(v);
    o = json_pack("{s:I,s:o,s:o,s:o,s:I}", "items", (json_int_t)total, "by_status", by_status,
                  "by_domain", by_domain, "by_batch", by_batch, "db_bytes", (json_int_t)bytes);
out:
    store_reader_put(s, c);
    return o;
}
