/* Webhooks in the store: hooks and the outbox the triggers of
 * schema/010_webhooks.sql fill. See store_webhooks.h. */
#include "store_webhooks.h"
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- registering and deleting ---- */

struct hook_create {
    int64_t key_id;
    const char *url, *secret;
    int64_t id, created_ms; /* out */
};

static int hook_create_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct hook_create *h = arg;
    struct dbst *st = conn_stmt(c, ST_WEBHOOK_COUNT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, h->key_id);
    int step = store_step(st);
    int64_t have = step == SQLITE_ROW ? col_int64(st, 0) : -1;
    conn_done(st);
    if (have < 0)
        return -EIO;
    /* Counted on the writer, so two racing requests cannot both pass. */
    if (have >= WEBHOOKS_PER_KEY_MAX)
        return -EMLINK;
    st = conn_stmt(c, ST_WEBHOOK_INSERT);
    if (!st)
        return -EIO;
    h->created_ms = util_now_ms();
    bind_int64(st, 1, h->key_id);
    bind_text(st, 2, h->url, -1, SQLITE_STATIC);
    bind_text(st, 3, h->secret, -1, SQLITE_STATIC);
    bind_int64(st, 4, h->created_ms);
    if (conn_step_done(st))
        return -EIO;
    h->id = conn_last_id(c);
    return 0;
}

int store_webhook_create(struct store *s, int64_t key_id, const char *url, const char *secret,
                         int64_t *id, int64_t *created_ms)
{
    struct hook_create h = {.key_id = key_id, .url = url, .secret = secret};
    int rc = store_run(s, hook_create_job, &h);
    if (!rc) {
        *id = h.id;
        *created_ms = h.created_ms;
    }
    return rc;
}

struct hook_delete {
    int64_t key_id, id;
    int64_t dropped; /* out */
};

static int hook_delete_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct hook_delete *h = arg;
    struct dbst *st = conn_stmt(c, ST_WEBHOOK_DELETE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, h->id);
    bind_int64(st, 2, h->key_id);
    if (conn_step_done(st))
        return -EIO;
    if (conn_changes(c) == 0)
        return -ENOENT; /* none, or another key's: the same answer */
    if (conn_run_id(c, ST_WEBHOOK_DROP_OUTBOX, h->id))
        return -EIO;
    h->dropped = conn_changes(c);
    return 0;
}

int store_webhook_delete(struct store *s, int64_t key_id, int64_t id, int64_t *dropped)
{
    struct hook_delete h = {.key_id = key_id, .id = id};
    int rc = store_run(s, hook_delete_job, &h);
    if (!rc)
        *dropped = h.dropped;
    return rc;
}

/* ---- listing ---- */

void store_webhooks_free(struct store_webhook *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].url);
        free(v[i].last_error);
    }
    free(v);
}

static void hooks_undo(void *v, size_t n)
{
    store_webhooks_free(v, n);
}

/* Reads a row of ST_WEBHOOK_LIST into a zeroed struct store_webhook. */
static int hook_read(struct dbst *st, void *elem)
{
    struct store_webhook *w = elem;
    w->id = col_int64(st, 0);
    w->created_ms = col_int64(st, 2);
    w->pending = col_int64(st, 3);
    w->delivered = col_int64(st, 4);
    w->failures = col_int64(st, 5);
    w->last_status = col_int64(st, 6);
    w->last_attempt_ms = col_int64(st, 8);
    int rc = col_dup(st, 1, &w->url);
    return rc ? rc : col_dup(st, 7, &w->last_error);
}

int store_webhook_list(struct store *s, int64_t key_id, struct store_webhook **v, size_t *n)
{
    static const struct rows_spec spec = {sizeof **v, WEBHOOKS_PER_KEY_MAX, hook_read, hooks_undo};
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_WEBHOOK_LIST);
    if (st)
        bind_int64(st, 1, key_id);
    struct rows rows;
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    store_reader_put(s, c);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

/* ---- the sender's side ---- */

void store_webhook_due_free(struct store_webhook_due *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].url);
        if (v[i].secret)
            memset(v[i].secret, 0, strlen(v[i].secret));
        free(v[i].secret);
        free(v[i].item_id);
        free(v[i].external_id);
        free(v[i].batch);
    }
    free(v);
}

/* Reads a row of ST_WEBHOOK_HEADS into a zeroed struct store_webhook_due. */
static int due_read(struct dbst *st, struct store_webhook_due *d)
{
    d->id = col_int64(st, 0);
    d->hook_id = col_int64(st, 1);
    d->attempts = (unsigned)col_int64(st, 2);
    util_strlcpy(d->verdict, col_text(st, 8), sizeof d->verdict);
    util_strlcpy(d->source, col_text(st, 9), sizeof d->source);
    d->has_confidence = !col_null(st, 10);
    d->confidence = col_double(st, 10);
    d->resolved_ms = col_int64(st, 11);
    const char *nonce = col_text(st, 13);
    util_strlcpy(d->nonce, nonce ? (const char *)nonce : "", sizeof d->nonce);
    int rc = col_dup(st, 3, &d->url);
    rc = rc ? rc : col_dup(st, 4, &d->secret);
    rc = rc ? rc : col_dup(st, 5, &d->item_id);
    rc = rc ? rc : col_dup(st, 6, &d->external_id);
    return rc ? rc : col_dup(st, 7, &d->batch);
}

static bool busy_has(const int64_t *busy, size_t nbusy, int64_t hook_id)
{
    for (size_t i = 0; i < nbusy; i++)
        if (busy[i] == hook_id)
            return true;
    return false;
}

/* Steps the heads, keeping the due ones of hooks not busy (at most max)
 * in *v (room for max) and the earliest time a head not due yet will be
 * in *next_ms. */
static int heads_read(struct dbst *st, int64_t now_ms, const int64_t *busy, size_t nbusy,
                      size_t max, struct store_webhook_due *v, size_t *n, int64_t *next_ms)
{
    int step, rc = 0;
    while (!rc && (step = store_step(st)) == SQLITE_ROW) {
        int64_t at = col_int64(st, 12);
        if (busy_has(busy, nbusy, col_int64(st, 1)))
            continue;
        if (at > now_ms) {
            if (at < *next_ms)
                *next_ms = at;
            continue;
        }
        /* Due but no room: a transfer ending makes the sender look again. */
        if (*n < max)
            rc = due_read(st, &v[(*n)++]);
    }
    return rc ? rc : step == SQLITE_DONE ? 0 : -EIO;
}

int store_webhook_due(struct store *s, int64_t now_ms, const int64_t *busy, size_t nbusy,
                      size_t max, struct store_webhook_due **v, size_t *n, int64_t *next_ms)
{
    *v = NULL;
    *n = 0;
    *next_ms = INT64_MAX;
    struct store_webhook_due *out = calloc(max ? max : 1, sizeof *out);
    if (!out)
        return -ENOMEM;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_WEBHOOK_HEADS);
    size_t k = 0;
    int rc = st ? heads_read(st, now_ms, busy, nbusy, max, out, &k, next_ms) : -EIO;
    conn_done(st);
    store_reader_put(s, c);
    if (rc) {
        store_webhook_due_free(out, k);
        return rc;
    }
    *v = out;
    *n = k;
    return 0;
}

/* Records one attempt on c. 0 or -EIO. */
static int record_one(struct conn *c, const struct store_webhook_attempt *a)
{
    struct dbst *st;
    if (a->acked) {
        if (conn_run_id(c, ST_WEBHOOK_ACKED, a->delivery_id))
            return -EIO;
    } else {
        if (!(st = conn_stmt(c, ST_WEBHOOK_RETRY)))
            return -EIO;
        bind_int64(st, 1, a->delivery_id);
        bind_int64(st, 2, a->next_ms);
        if (conn_step_done(st))
            return -EIO;
    }
    if (!(st = conn_stmt(c, ST_WEBHOOK_OUTCOME)))
        return -EIO;
    bind_int64(st, 1, a->hook_id);
    bind_int(st, 2, a->acked);
    bind_int(st, 3, !a->acked);
    if (a->status)
        bind_int64(st, 4, a->status);
    bind_text_or_null(st, 5, a->acked ? NULL : a->error);
    bind_int64(st, 6, a->at_ms);
    return conn_step_done(st);
}

struct record {
    const struct store_webhook_attempt *a;
    size_t n;
};

static int record_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    const struct record *r = arg;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->n; i++)
        rc = record_one(c, &r->a[i]);
    return rc;
}

int store_webhook_record(struct store *s, const struct store_webhook_attempt *a, size_t n)
{
    struct record r = {a, n};
    return store_run(s, record_job, &r);
}
