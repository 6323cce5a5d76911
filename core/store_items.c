/* Items in the store: ingest (through the writer), read back, counts. */
#include "store_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"

#define DIGEST_BYTES STORE_DIGEST_BYTES

int bind_text_or_null(struct dbst *st, int idx, const char *text)
{
    if (!text)
        return bind_null(st, idx);
    return bind_text(st, idx, text, -1, SQLITE_STATIC);
}

int col_dup(struct dbst *st, int col, char **out)
{
    *out = NULL;
    if (col_null(st, col))
        return 0;
    const char *t = col_text(st, col);
    *out = t ? strdup((const char *)t) : NULL;
    return *out ? 0 : -ENOMEM;
}

/* rung_digest(x, ...): see store_digest_register. Each argument is hashed
 * as a type byte, its length (8 bytes, little-endian) and its bytes as
 * text (integers and reals in SQLite's text form). */
static void digest_arg(crypto_generichash_state *h, int type, const void *p, uint64_t n)
{
    unsigned char head[9] = {(unsigned char)type};
    for (int b = 0; b < 8; b++)
        head[1 + b] = (unsigned char)(n >> (8 * b));
    crypto_generichash_update(h, head, sizeof head);
    if (n)
        crypto_generichash_update(h, p, n);
}

static void sql_digest(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    crypto_generichash_state h;
    unsigned char out[DIGEST_BYTES];
    crypto_generichash_init(&h, NULL, 0, sizeof out);
    for (int i = 0; i < argc; i++) {
        int type = sqlite3_value_type(argv[i]);
        const void *p = type == SQLITE_BLOB   ? sqlite3_value_blob(argv[i])
                        : type == SQLITE_NULL ? NULL
                                              : (const void *)sqlite3_value_text(argv[i]);
        digest_arg(&h, type, p, p ? (uint64_t)sqlite3_value_bytes(argv[i]) : 0);
    }
    crypto_generichash_final(&h, out, sizeof out);
    sqlite3_result_blob(ctx, out, sizeof out, SQLITE_TRANSIENT);
}

static void digest_text(crypto_generichash_state *h, const char *t)
{
    digest_arg(h, t ? SQLITE_TEXT : SQLITE_NULL, t, t ? strlen(t) : 0);
}

void store_cmp_digest(const struct store_comparison *x, unsigned char out[DIGEST_BYTES])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DIGEST_BYTES);
    digest_text(&h, "cmp");
    digest_text(&h, x->prompt);
    digest_text(&h, x->chosen);
    digest_text(&h, x->rejected);
    /* tie is bound as an integer: hashed as SQLite's text form of one */
    digest_arg(&h, SQLITE_INTEGER, x->tie ? "1" : "0", 1);
    digest_text(&h, x->label);
    digest_text(&h, x->source);
    crypto_generichash_final(&h, out, DIGEST_BYTES);
}

/* An item's content digest, computed here so that both backends store
 * the same one: what rung_digest('item', prompt, the responses in order,
 * batch) gives (schema/003_items.sql, ITEM_DIGEST in store.c). */
static void item_digest(const struct store_item_in *it, unsigned char out[DIGEST_BYTES])
{
    const char *a = it->response_a, *b = it->response_b;
    bool keep = !b || strcmp(a, b) <= 0; /* SQLite's BINARY order of texts */
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, DIGEST_BYTES);
    digest_text(&h, "item");
    digest_text(&h, it->prompt);
    digest_text(&h, keep ? a : b);
    digest_text(&h, keep ? b : a);
    digest_text(&h, it->batch);
    crypto_generichash_final(&h, out, DIGEST_BYTES);
}

int store_digest_register(struct conn *c)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    return sqlite3_create_function(c->db, "rung_digest", -1, flags, NULL, sql_digest, NULL, NULL) ==
                   SQLITE_OK
               ? 0
               : -EIO;
}

/* The text columns of an item: where each lives in struct store_item and
 * its index in STORE_ITEM_COLUMNS. */
static const struct {
    size_t off;
    int col;
} item_texts[] = {
    {offsetof(struct store_item, id), 1},
    {offsetof(struct store_item, external_id), 3},
    {offsetof(struct store_item, batch), 4},
    {offsetof(struct store_item, kind), 5},
    {offsetof(struct store_item, prompt), 6},
    {offsetof(struct store_item, response_a), 7},
    {offsetof(struct store_item, response_b), 8},
    {offsetof(struct store_item, domain), 9},
    {offsetof(struct store_item, metadata), 10},
    {offsetof(struct store_item, status), 12},
    {offsetof(struct store_item, route), 13},
    {offsetof(struct store_item, verdict), 14},
    {offsetof(struct store_item, verdict_source), 15},
    {offsetof(struct store_item, scores), 18},
    {offsetof(struct store_item, group), 22},
};
#define ITEM_TEXTS (sizeof item_texts / sizeof item_texts[0])

static char **item_text(struct store_item *it, size_t i)
{
    return (char **)((char *)it + item_texts[i].off);
}

void store_item_clear(struct store_item *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < ITEM_TEXTS; i++)
        free(*item_text(it, i));
    memset(it, 0, sizeof *it);
}

/* Reads an item row selected with STORE_ITEM_COLUMNS into the item elem.
 * 0 or -ENOMEM (then it is cleared). */
static int item_read(struct dbst *st, void *elem)
{
    struct store_item *it = elem;
    memset(it, 0, sizeof *it);
    int rc = 0;
    for (size_t i = 0; i < ITEM_TEXTS && !rc; i++)
        rc = col_dup(st, item_texts[i].col, item_text(it, i));
    if (rc) {
        store_item_clear(it);
        return rc;
    }
    it->seq = col_int64(st, 0);
    it->priority = col_int64(st, 11);
    it->has_confidence = !col_null(st, 16);
    it->confidence = col_double(st, 16);
    it->layer_id = col_int64(st, 17);
    it->gold = !col_null(st, 19);
    it->created_ms = col_int64(st, 20);
    it->updated_ms = col_int64(st, 21);
    it->key_id = col_int64(st, 2);
    it->group_stale = col_int64(st, 23);
    return 0;
}

/* Steps a query of (id, status, batch) of an item already stored: 1 with
 * ack filled when there is one, 0 when not, -EIO. Resets st. */
static int ack_existing(struct dbst *st, struct store_item_ack *ack)
{
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        util_strlcpy(ack->id, col_text(st, 0), sizeof ack->id);
        util_strlcpy(ack->status, col_text(st, 1), sizeof ack->status);
        ack->has_batch = !col_null(st, 2);
        util_strlcpy(ack->batch, ack->has_batch ? col_text(st, 2) : "", sizeof ack->batch);
        ack->existed = true;
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : -EIO;
    }
    conn_done(st);
    return rc;
}

static int find_existing(struct conn *c, int64_t key_id, const char *external_id,
                         struct store_item_ack *ack)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_FIND_EXT);
    if (!st)
        return -EIO;
    int b = SQLITE_OK;
    if (key_id)
        bind_chk(&b, bind_int64(st, 1, key_id));
    bind_chk(&b, bind_text(st, 2, external_id, -1, SQLITE_STATIC));
    if (b != SQLITE_OK) {
        conn_done(st);
        return store_sqlite_errno(b);
    }
    return ack_existing(st, ack);
}

/* An item stored already with the same content (see unique_content):
 * as find_existing. */
static int find_same_content(struct conn *c, const struct store_item_in *it,
                             struct store_item_ack *ack)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_FIND_DIGEST);
    if (!st)
        return -EIO;
    unsigned char d[DIGEST_BYTES];
    item_digest(it, d);
    int b = bind_blob(st, 1, d, sizeof d, SQLITE_TRANSIENT);
    if (b != SQLITE_OK) {
        conn_done(st);
        return store_sqlite_errno(b);
    }
    return ack_existing(st, ack);
}

/* Stores the content digest of item seq. 0 or -EIO. */
static int set_digest(struct conn *c, const struct store_item_in *it, int64_t seq)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_SET_DIGEST);
    if (!st)
        return -EIO;
    unsigned char d[DIGEST_BYTES];
    item_digest(it, d);
    int b = SQLITE_OK;
    bind_chk(&b, bind_int64(st, 1, seq));
    bind_chk(&b, bind_blob(st, 2, d, sizeof d, SQLITE_TRANSIENT));
    return b == SQLITE_OK ? conn_step_done(st) : (conn_done(st), -EIO);
}

/* Binds ST_ITEM_INSERT's parameters for it: SQLITE_OK or the first
 * failing bind's code (SQLITE_TOOBIG for a text over SQLite's limit). */
static int bind_item(struct dbst *st, int64_t key_id, const struct store_item_in *it,
                     const struct store_item_ack *ack, bool is_auto, int64_t now)
{
    bool scored = it->layer_id != 0;
    int b = SQLITE_OK;
    bind_chk(&b, bind_text(st, 1, ack->id, -1, SQLITE_STATIC));
    if (key_id)
        bind_chk(&b, bind_int64(st, 2, key_id));
    bind_chk(&b, bind_text_or_null(st, 3, it->external_id));
    bind_chk(&b, bind_text_or_null(st, 4, it->batch));
    bind_chk(&b, bind_text(st, 5, it->response_b ? "pair" : "single", -1, SQLITE_STATIC));
    bind_chk(&b, bind_text(st, 6, it->prompt, -1, SQLITE_STATIC));
    bind_chk(&b, bind_text(st, 7, it->response_a, -1, SQLITE_STATIC));
    bind_chk(&b, bind_text_or_null(st, 8, it->response_b));
    bind_chk(&b, bind_text_or_null(st, 9, it->domain));
    bind_chk(&b, bind_text_or_null(st, 10, it->metadata));
    bind_chk(&b, bind_int64(st, 11, it->priority));
    bind_chk(&b, bind_text(st, 12, ack->status, -1, SQLITE_STATIC));
    bind_chk(&b, bind_text(st, 13, is_auto ? "auto" : "human", -1, SQLITE_STATIC));
    bind_chk(&b, bind_text_or_null(st, 14, is_auto ? it->verdict : NULL));
    bind_chk(&b, bind_text_or_null(st, 15, is_auto ? "layer" : NULL));
    if (scored)
        bind_chk(&b, bind_double(st, 16, it->confidence));
    if (scored)
        bind_chk(&b, bind_int64(st, 17, it->layer_id));
    bind_chk(&b, bind_text_or_null(st, 18, it->scores));
    bind_chk(&b, bind_int64(st, 19, now));
    bind_chk(&b, bind_text_or_null(st, 20, it->group));
    return b;
}

/* Binds key_id's group, third (?3) and the k (at most GROUP_IN_MAX)
 * candidate seqs v to st (ST_GROUP_SAMPLES_IN or ST_GROUP_MARK_STALE_IN;
 * k 0 for ST_GROUP_SAMPLES and ST_GROUP_MARK_STALE); the seqs left
 * unbound are NULL. 0 or negative errno. */
static int bind_in(struct dbst *st, int64_t key_id, const char *group, int64_t third,
                   const int64_t *v, size_t k)
{
    if (!st)
        return -EIO;
    int b = SQLITE_OK;
    if (key_id)
        bind_chk(&b, bind_int64(st, 1, key_id));
    bind_chk(&b, bind_text(st, 2, group, -1, SQLITE_STATIC));
    bind_chk(&b, bind_int64(st, 3, third));
    for (size_t i = 0; i < k; i++)
        bind_chk(&b, bind_int64(st, 4 + (int)i, v[i]));
    return store_sqlite_errno(b);
}

_Static_assert(STORE_GROUP_ITEMS_MAX <= GROUP_IN_MAX, "one statement marks a group's first items");

/* Adds to live[*n..] the seqs of the live items of key_id's group among
 * the k candidate seqs v, in seq order, until *n is STORE_GROUP_ITEMS_MAX.
 * 0 or negative errno. */
static int live_in(struct conn *c, int64_t key_id, const char *group, const int64_t *v, size_t k,
                   int64_t *live, int *n)
{
    struct dbst *st = conn_stmt(c, k <= GROUP_IN_FEW ? ST_GROUP_SAMPLES_IN8 : ST_GROUP_SAMPLES_IN);
    int rc = bind_in(st, key_id, group, STORE_GROUP_ITEMS_MAX - *n, v, k), step = SQLITE_DONE;
    while (!rc && *n < STORE_GROUP_ITEMS_MAX && (step = store_step(st)) == SQLITE_ROW)
        live[(*n)++] = col_int64(st, 0);
    conn_done(st);
    return rc ? rc : step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* SQLite: the live items of key_id's group below seq, at most
 * STORE_GROUP_ITEMS_MAX, counted into *n (their seqs into live), from the
 * in-memory lookup's candidates a chunk at a time, each chunk checked
 * against its rows: bounded by the group's first items (and the retracted
 * ones among them), whatever its size. 0 or negative errno. */
static int live_below_lite(struct store *s, struct conn *c, int64_t key_id, const char *group,
                           int64_t seq, int64_t *live, int *n)
{
    int64_t v[GROUP_IN_MAX], after = INT64_MIN;
    size_t nv;
    int rc = 0;
    while (!rc && *n < STORE_GROUP_ITEMS_MAX &&
           (nv = store_groups_candidates(s, key_id, group, after, seq, v, GROUP_IN_MAX)) > 0) {
        after = v[nv - 1];
        rc = live_in(c, key_id, group, v, nv, live, n);
    }
    return rc;
}

/* PostgreSQL: as live_below_lite (the count only), through the index
 * items_group. */
static int live_below_pg(struct conn *c, int64_t key_id, const char *group, int64_t seq, int *n)
{
    struct dbst *st = conn_stmt(c, ST_GROUP_SAMPLES);
    int rc = bind_in(st, key_id, group, STORE_GROUP_ITEMS_MAX, NULL, 0), step = SQLITE_DONE;
    while (!rc && (step = store_step(st)) == SQLITE_ROW && col_int64(st, 0) < seq)
        (*n)++;
    conn_done(st);
    return rc ? rc : step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* Marks the waiting items of key_id's group below seq: with
 * ST_GROUP_MARK_STALE_IN those among the k candidate seqs v (SQLite), with
 * ST_GROUP_MARK_STALE (k 0) all of them (PostgreSQL). 0 or negative
 * errno. */
static int mark_stale(struct conn *c, enum stmt_id id, int64_t key_id, const char *group,
                      int64_t seq, const int64_t *v, size_t k)
{
    struct dbst *st = conn_stmt(c, id);
    int rc = bind_in(st, key_id, group, seq, v, k);
    if (rc) {
        conn_done(st);
        return rc;
    }
    return conn_step_done(st) ? -EIO : 0;
}

/* The join of an item with a group: the group's live items below seq, at
 * most STORE_GROUP_ITEMS_MAX, are counted into *n. With it->group_joined
 * and fewer (the new item is among the group's first
 * STORE_GROUP_ITEMS_MAX, the items whose samples a re-score reads), those
 * of them still waiting are marked stale; past them its samples change no
 * other item's, and nothing is marked. Bounded work, whatever the group's
 * size. 0 or negative errno. */
static int group_join_items(struct store *s, struct conn *c, int64_t key_id,
                            const struct store_item_in *it, int64_t seq, int *n)
{
    int64_t live[STORE_GROUP_ITEMS_MAX];
    int rc = c->pg ? live_below_pg(c, key_id, it->group, seq, n)
                   : live_below_lite(s, c, key_id, it->group, seq, live, n);
    if (rc || !it->group_joined || !*n || *n >= STORE_GROUP_ITEMS_MAX)
        return rc;
    return c->pg ? mark_stale(c, ST_GROUP_MARK_STALE, key_id, it->group, seq, NULL, 0)
                 : mark_stale(c, ST_GROUP_MARK_STALE_IN, key_id, it->group, seq, live, (size_t)*n);
}

int store_group_lost_sample(struct store *s, struct conn *c, int64_t key_id, const char *group,
                            int64_t seq)
{
    int64_t live[STORE_GROUP_ITEMS_MAX], v[GROUP_IN_MAX], after = INT64_MIN;
    int n = 0;
    int rc = c->pg ? live_below_pg(c, key_id, group, seq, &n)
                   : live_below_lite(s, c, key_id, group, seq, live, &n);
    if (rc || n >= STORE_GROUP_ITEMS_MAX)
        return rc;
    if (c->pg)
        return mark_stale(c, ST_GROUP_MARK_STALE, key_id, group, INT64_MAX, NULL, 0);
    /* Every item of the group reads its first items: all are marked, a
     * chunk at a time (a retraction's cost grows with the group). */
    size_t nv;
    while (!rc && (nv = store_groups_candidates(s, key_id, group, after, INT64_MAX, v,
                                                GROUP_IN_MAX)) > 0) {
        after = v[nv - 1];
        rc = mark_stale(c, ST_GROUP_MARK_STALE_IN, key_id, group, INT64_MAX, v, nv);
    }
    return rc;
}

/* SQLite: item seq's row in the group log and the in-memory lookup's
 * hint. 0 or negative errno. */
static int group_log(struct store *s, struct conn *c, int64_t key_id, const char *group,
                     int64_t seq)
{
    struct dbst *st = conn_stmt(c, ST_GROUP_LOG_INSERT);
    if (!st)
        return -EIO;
    int b = SQLITE_OK;
    bind_chk(&b, bind_int64(st, 1, seq));
    if (key_id)
        bind_chk(&b, bind_int64(st, 2, key_id));
    bind_chk(&b, bind_text(st, 3, group, -1, SQLITE_STATIC));
    int rc = b == SQLITE_OK ? conn_step_done(st) : (conn_done(st), store_sqlite_errno(b));
    return rc ? rc : store_groups_hint(s, key_id, group, seq);
}

/* The bookkeeping of an item with a group (row seq, just inserted): on
 * SQLite the group log and the in-memory lookup learn it; when it was
 * scored with its group, the group's earlier waiting items are marked to
 * be scored again when it joined their samples and is among the group's
 * first STORE_GROUP_ITEMS_MAX live items (the ones a re-score reads), and
 * the item itself when the group holds more items than its scores saw.
 * 0 or negative errno. */
static int group_join(struct store *s, struct conn *c, int64_t key_id,
                      const struct store_item_in *it, int64_t seq)
{
    int rc = c->pg ? 0 : group_log(s, c, key_id, it->group, seq);
    bool count = it->group_seen >= 0 && it->group_seen < STORE_GROUP_ITEMS_MAX;
    if (rc || it->group_seen < 0 || (!count && !it->group_joined))
        return rc;
    int n = 0;
    rc = group_join_items(s, c, key_id, it, seq, &n);
    if (rc)
        return rc;
    if (count && n > it->group_seen && conn_run_id(c, ST_GROUP_STALE_SELF, seq))
        return -EIO;
    return 0;
}

/* The deliveries of item seq, stored settled by the layer (status auto,
 * verdict source layer, no gold answer yet): a row for every hook of its
 * live key, as the items_webhook_insert trigger of schema/010_webhooks.sql
 * queued them. On SQLite that trigger is gone (migration 011, see
 * ST_OUTBOX_SETTLED_AT_INGEST); PostgreSQL's schema keeps it, so nothing
 * is queued here there. 0 or negative errno. */
static int queue_deliveries(struct conn *c, int64_t key_id, const struct store_item_in *it,
                            int64_t seq, int64_t now)
{
    if (c->pg || !key_id)
        return 0;
    struct dbst *st = conn_stmt(c, ST_OUTBOX_SETTLED_AT_INGEST);
    if (!st)
        return -EIO;
    int b = SQLITE_OK;
    bind_chk(&b, bind_int64(st, 1, seq));
    bind_chk(&b, bind_text(st, 2, it->verdict, -1, SQLITE_STATIC));
    bind_chk(&b, bind_double(st, 3, it->confidence));
    bind_chk(&b, bind_int64(st, 4, now));
    bind_chk(&b, bind_int64(st, 5, key_id));
    return b == SQLITE_OK ? conn_step_done(st) : (conn_done(st), store_sqlite_errno(b));
}

static int insert_item(struct store *s, struct conn *c, int64_t key_id,
                       const struct store_item_in *it, struct store_item_ack *ack, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_INSERT);
    if (!st)
        return -EIO;
    bool is_auto = it->layer_id != 0 && it->route_auto && it->verdict, human_only = false;
    /* A layer demoted by its audits settles nothing: the item goes to people. */
    if (is_auto && store_audit_human_only(c, it->layer_id, &human_only))
        return -EIO;
    is_auto = is_auto && !human_only;
    const char *status = is_auto ? "auto" : "awaiting_human";
    util_uuid(ack->id);
    util_strlcpy(ack->status, status, sizeof ack->status);
    ack->has_batch = it->batch != NULL;
    util_strlcpy(ack->batch, it->batch ? it->batch : "", sizeof ack->batch);
    ack->existed = false;
    int rc = bind_item(st, key_id, it, ack, is_auto, now);
    if (rc == SQLITE_OK)
        rc = store_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return rc == SQLITE_CONSTRAINT ? -EEXIST : store_sqlite_errno(rc);
    int64_t seq = conn_last_id(c);
    if (it->unique_content && set_digest(c, it, seq))
        return -EIO;
    if (it->group && (rc = group_join(s, c, key_id, it, seq)) != 0)
        return rc;
    if (is_auto) {
        rc = queue_deliveries(c, key_id, it, seq, now);
        return rc ? rc : store_audit_settled(s, c, seq, it->layer_id, it->verdict, now);
    }
    if (it->subq)
        return store_subq_create(s, c, seq, it, ack, now);
    rc = store_task_queue(s, c, seq, it, now);
    return rc ? rc : store_audit_blind(s, c, seq);
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
        if (it->unique_content) {
            rc = find_same_content(c, it, &r->acks[i]);
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
    return store_submit_lean(s, ingest_job, req, &req->rc, done, cls);
}

int store_ingest(struct store *s, struct store_ingest *req)
{
    req->rc = store_run(s, ingest_job, req);
    return req->rc;
}

int store_item_get(struct store *s, const char *id, int64_t key_id, struct store_item *out)
{
    struct conn *c = store_reader(s);
    int rc = -EIO;
    memset(out, 0, sizeof *out);
    struct dbst *st = conn_stmt(c, ST_ITEM_GET);
    if (!st)
        goto out;
    bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = store_step(st);
    if (step == SQLITE_ROW && (key_id == 0 || col_int64(st, 2) == key_id))
        rc = item_read(st, out);
    else if (step == SQLITE_ROW || step == SQLITE_DONE)
        rc = -ENOENT;
out:
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

void store_items_free(struct store_item *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        store_item_clear(&items[i]);
    free(items);
}

static void items_undo(void *v, size_t n)
{
    store_items_free(v, n);
}

/* The bytes an item row counts against a page's budget: its texts and a
 * fixed share for the rest (columns as in STORE_ITEM_COLUMNS). */
static size_t item_row_bytes(struct dbst *st)
{
    static const int texts[] = {6, 7, 8, 10, 18}; /* prompt, responses, metadata, scores */
    size_t n = STORE_ITEM_ROW_OVERHEAD;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        n += (size_t)col_bytes(st, texts[i]);
    return n;
}

int store_items_list(struct store *s, const struct store_item_filter *f, struct store_item **items,
                     size_t *n, char next[STORE_CURSOR_MAX])
{
    int64_t after = 0;
    next[0] = '\0';
    *items = NULL;
    *n = 0;
    if (f->after && *f->after && util_parse_i64(f->after, 0, INT64_MAX, &after))
        return -EINVAL;
    enum stmt_id id = f->external_id ? ST_ITEMS_EXT
                      : f->batch     ? ST_ITEMS_BATCH
                      : f->status    ? ST_ITEMS_STATUS
                                     : ST_ITEMS_ALL;
    struct conn *c = store_reader(s);
    int rc = -EIO;
    struct dbst *st = conn_stmt(c, id);
    if (!st)
        goto out;
    bind_int64(st, 1, after);
    bind_text_or_null(st, 2, f->status);
    bind_int64(st, 3, f->key_id);
    /* One row more than asked tells whether a next page exists. */
    bind_int64(st, 4, (int64_t)f->limit + 1);
    if (f->external_id) {
        bind_text(st, 5, f->external_id, -1, SQLITE_STATIC);
        bind_text_or_null(st, 6, f->batch);
    } else if (f->batch) {
        bind_text(st, 5, f->batch, -1, SQLITE_STATIC);
    }
    struct rows_spec spec = {sizeof **items, f->limit, item_read, items_undo};
    struct rows page;
    rc = store_rows_read_budget(st, &spec, item_row_bytes, f->max_bytes, &page);
    *items = page.v;
    *n = page.n;
    if (page.more)
        snprintf(next, STORE_CURSOR_MAX, "%lld", (long long)(*items)[*n - 1].seq);
out:
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

void store_counts_clear(struct store_counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].value);
    free(c->v);
    memset(c, 0, sizeof *c);
}

void store_status_clear(struct store_status *st)
{
    store_counts_clear(&st->by_status);
    store_counts_clear(&st->by_domain);
    store_counts_clear(&st->by_batch);
    memset(st, 0, sizeof *st);
}

static int count_read(struct dbst *st, void *elem)
{
    struct store_count *x = elem;
    x->n = col_int64(st, 1);
    return col_dup(st, 0, &x->value);
}

static void counts_undo(void *v, size_t n)
{
    store_counts_clear(&(struct store_counts){v, n});
}

int store_counts_read(struct dbst *st, struct store_counts *out)
{
    static const struct rows_spec spec = {sizeof *out->v, SIZE_MAX, count_read, counts_undo};
    struct rows rows;
    int rc = store_rows_read(st, &spec, &rows);
    out->v = rows.v;
    out->n = rows.n;
    return rc;
}

/* Reads the counts of a (value, count) query into *out. 0, -ENOMEM,
 * -EIO. */
static int count_by(struct conn *c, enum stmt_id id, struct store_counts *out)
{
    struct dbst *st = conn_stmt(c, id);
    int rc = store_counts_read(st, out);
    conn_done(st);
    return rc;
}

/* As count_by for a query whose ?1 caps its rows: the largest max groups
 * into *out, *more set when others exist. */
static int count_top(struct conn *c, enum stmt_id id, size_t max, struct store_counts *out,
                     bool *more)
{
    struct dbst *st = conn_stmt(c, id);
    int b = st ? bind_int64(st, 1, (int64_t)max + 1) : SQLITE_OK;
    if (b != SQLITE_OK) {
        conn_done(st);
        return store_sqlite_errno(b);
    }
    int rc = store_counts_read(st, out);
    conn_done(st);
    *more = !rc && out->n > max;
    while (*more && out->n > max)
        free(out->v[--out->n].value);
    return rc;
}

int store_status(struct store *s, struct store_status *out)
{
    struct conn *c = store_reader(s);
    memset(out, 0, sizeof *out);
    /* One read transaction so the counts agree with each other. */
    int rc = conn_run(c, ST_BEGIN_READ);
    if (rc)
        goto out;
    rc = count_by(c, ST_COUNT_STATUS, &out->by_status);
    rc = rc ? rc
            : count_top(c, ST_COUNT_DOMAIN, STATUS_GROUPS_MAX, &out->by_domain,
                        &out->by_domain_more);
    rc = rc ? rc
            : count_top(c, ST_COUNT_BATCH, STATUS_GROUPS_MAX, &out->by_batch, &out->by_batch_more);
    for (size_t i = 0; !rc && i < out->by_status.n; i++)
        out->items += out->by_status.v[i].n;
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_DB_SIZE);
    if (!rc && (!st || store_step(st) != SQLITE_ROW))
        rc = -EIO;
    if (!rc)
        out->db_bytes = col_int64(st, 0);
    conn_done(st);
    if (conn_run(c, ST_COMMIT) && !rc)
        rc = -EIO;
out:
    store_reader_put(s, c);
    if (rc)
        store_status_clear(out);
    return rc;
}

/* ---- rescoring queued items ---- */

int store_rescore_pending(struct store *s, int64_t layer_id, int64_t after, size_t max,
                          struct store_item **items, size_t *n)
{
    const int64_t args[] = {after, layer_id, (int64_t)max};
    struct rows_spec spec = {sizeof **items, max, item_read, items_undo};
    struct rows rows;
    int rc = store_rows_args(s, ST_RESCORE_PENDING, args, 3, &spec, &rows);
    *items = rows.v;
    *n = rows.n;
    return rc;
}

struct rescore_args {
    const struct store_rescore *v;
    size_t n;
    size_t updated, settled; /* out */
};

/* Writes one decision; *changed tells whether the item was still
 * rescorable, *settled whether the layer settled it (never a demoted
 * layer). 0 or -EIO. */
static int rescore_one(struct store *s, struct conn *c, const struct store_rescore *x, int64_t now,
                       bool *changed, bool *settled)
{
    bool settle = x->route_auto && x->verdict, human_only = false;
    if (settle && store_audit_human_only(c, x->layer_id, &human_only))
        return -EIO;
    settle = settle && !human_only;
    struct dbst *st = conn_stmt(c, settle ? ST_RESCORE_AUTO : ST_RESCORE_HUMAN);
    if (!st)
        return -EIO;
    bind_int64(st, 1, x->seq);
    bind_text_or_null(st, 2, settle ? x->verdict : NULL);
    bind_double(st, 3, x->confidence);
    bind_int64(st, 4, x->layer_id);
    bind_text_or_null(st, 5, x->scores);
    bind_int64(st, 6, now);
    if (conn_step_done(st))
        return -EIO;
    *changed = conn_changes(c) == 1;
    *settled = *changed && settle;
    if (x->stale > 0) { /* scored with its grown group, unless it grew again */
        st = conn_stmt(c, ST_GROUP_STALE_CLEAR);
        if (!st)
            return -EIO;
        bind_int64(st, 1, x->seq);
        bind_int64(st, 2, x->stale);
        if (conn_step_done(st))
            return -EIO;
    }
    if (!*changed || !settle)
        return 0;
    /* Settled by the layer: its task leaves the queue. */
    if (conn_run_id(c, ST_RESCORE_CLOSE_TASKS, x->seq))
        return -EIO;
    s->tasks->open -= conn_changes(c);
    return store_audit_settled(s, c, x->seq, x->layer_id, x->verdict, now);
}

static int rescore_job(struct store *s, struct conn *c, void *arg)
{
    struct rescore_args *a = arg;
    int64_t now = util_now_ms();
    a->updated = a->settled = 0;
    for (size_t i = 0; i < a->n; i++) {
        bool changed = false, settled = false;
        int rc = rescore_one(s, c, &a->v[i], now, &changed, &settled);
        if (rc)
            return rc;
        a->updated += changed;
        a->settled += settled;
    }
    return 0;
}

int store_rescore_apply(struct store *s, const struct store_rescore *v, size_t n, size_t *updated,
                        size_t *settled)
{
    struct rescore_args a = {.v = v, .n = n};
    int rc = store_run(s, rescore_job, &a);
    *updated = rc ? 0 : a.updated;
    *settled = rc ? 0 : a.settled;
    return rc;
}

/* ---- sample groups ---- */

static int sample_read(struct dbst *st, void *elem)
{
    struct store_sample *x = elem;
    x->seq = col_int64(st, 0);
    int rc = col_dup(st, 1, &x->a);
    return rc ? rc : col_dup(st, 2, &x->b);
}

void store_samples_free(struct store_sample *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].a);
        free(v[i].b);
    }
    free(v);
}

static void samples_undo(void *v, size_t n)
{
    store_samples_free(v, n);
}

/* Reads into x[*n..] the live items of key_id's group among the k
 * candidate seqs v, at most max - *n, in seq order. 0 or negative errno
 * (the elements read stay counted in *n, for the caller to free). */
static int samples_in(struct conn *c, int64_t key_id, const char *group, const int64_t *v, size_t k,
                      size_t max, struct store_sample *x, size_t *n)
{
    struct dbst *st = conn_stmt(c, k <= GROUP_IN_FEW ? ST_GROUP_SAMPLES_IN8 : ST_GROUP_SAMPLES_IN);
    int rc = bind_in(st, key_id, group, (int64_t)(max - *n), v, k), step = SQLITE_DONE;
    while (!rc && *n < max && (step = store_step(st)) == SQLITE_ROW)
        rc = sample_read(st, &x[(*n)++]);
    conn_done(st);
    return rc ? rc : step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* The first max live samples of the group among the in-memory lookup's
 * items, a chunk at a time, each chunk checked against its rows on c, into
 * x (max of them, allocated on the first chunk), stopping once found:
 * bounded work however large the group. 0 or negative errno. */
static int samples_chunks(struct store *s, struct conn *c, int64_t key_id, const char *group,
                          size_t max, struct store_sample **x, size_t *n)
{
    int64_t v[GROUP_IN_MAX], after = INT64_MIN;
    size_t nv;
    int rc = 0;
    while (!rc && *n < max &&
           (nv = store_groups_candidates(s, key_id, group, after, INT64_MAX, v, GROUP_IN_MAX)) >
               0) {
        after = v[nv - 1];
        if (!*x && !(*x = calloc(max, sizeof **x)))
            rc = -ENOMEM;
        else
            rc = samples_in(c, key_id, group, v, nv, max, *x, n);
    }
    return rc;
}

/* SQLite's read of a group's samples: its first max live items
 * (samples_chunks), all read in one read transaction on c, so that every
 * chunk sees the same committed items: an item still being written when
 * one chunk is checked cannot be missed while a later one, committed
 * before the next chunk, is read (rev7's review). It catches up first, in
 * that transaction (a seek past the log's last row known: committed rows
 * only): a re-score that read an item's stale mark must see the sample
 * that set it, even when another process stored that sample. 0 or
 * negative errno; on failure nothing is returned. */
static int group_samples_lite(struct store *s, struct conn *c, int64_t key_id, const char *group,
                              size_t max, struct store_sample **out, size_t *nout)
{
    struct store_sample *x = NULL;
    size_t n = 0;
    int rc = conn_run(c, ST_BEGIN_READ);
    if (rc)
        return rc;
    rc = store_groups_catch_up(s, c);
    rc = rc ? rc : samples_chunks(s, c, key_id, group, max, &x, &n);
    if (conn_run(c, ST_COMMIT) && !rc)
        rc = -EIO;
    if (rc) {
        store_samples_free(x, n);
        x = NULL;
        n = 0;
    }
    *out = x;
    *nout = n;
    return rc;
}

int store_group_samples(struct store *s, int64_t key_id, const char *group, size_t max,
                        struct store_sample **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    if (!group)
        return -EINVAL;
    if (max > STORE_GROUP_ITEMS_MAX)
        max = STORE_GROUP_ITEMS_MAX;
    struct conn *c = store_reader(s);
    if (!c->pg) {
        int rc = group_samples_lite(s, c, key_id, group, max, v, n);
        store_reader_put(s, c);
        return rc;
    }
    struct dbst *st = conn_stmt(c, ST_GROUP_SAMPLES);
    if (st) {
        if (key_id)
            bind_int64(st, 1, key_id);
        bind_text(st, 2, group, -1, SQLITE_STATIC);
        bind_int64(st, 3, (int64_t)max);
    }
    struct rows_spec spec = {sizeof **v, max, sample_read, samples_undo};
    struct rows rows;
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    store_reader_put(s, c);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

int store_task_group(struct store *s, int64_t task_id, int64_t *key_id, char **group, char **domain)
{
    *key_id = 0;
    *group = *domain = NULL;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_GROUP_OF_TASK);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, task_id);
        int step = store_step(st);
        if (step == SQLITE_ROW) {
            *key_id = col_int64(st, 0);
            rc = col_dup(st, 1, group);
            rc = rc ? rc : col_dup(st, 2, domain);
        } else if (step == SQLITE_DONE) {
            rc = -ENOENT;
        }
    }
    conn_done(st);
    store_reader_put(s, c);
    if (rc) {
        free(*group);
        *group = NULL;
    }
    return rc;
}

int store_group_stale_pending(struct store *s, int64_t after, size_t max, struct store_item **items,
                              size_t *n)
{
    const int64_t args[] = {after, (int64_t)max};
    struct rows_spec spec = {sizeof **items, max, item_read, items_undo};
    struct rows rows;
    int rc = store_rows_args(s, ST_GROUP_STALE_PENDING, args, 2, &spec, &rows);
    *items = rows.v;
    *n = rows.n;
    return rc;
}

/* ---- overlap rules ---- */

int store_scope_has_items(struct store *s, const char *scope, const char *value, bool *any)
{
    bool batch = !strcmp(scope, "batch");
    if (!batch && strcmp(scope, "domain"))
        return -EINVAL;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, batch ? ST_ITEMS_IN_BATCH : ST_ITEMS_IN_DOMAIN);
    int rc = -EIO;
    if (st) {
        bind_text(st, 1, value, -1, SQLITE_STATIC);
        if (store_step(st) == SQLITE_ROW) {
            *any = col_int(st, 0) != 0;
            rc = 0;
        }
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

static int rule_read(struct dbst *st, void *elem)
{
    struct store_overlap_rule *r = elem;
    util_strlcpy(r->scope, col_text(st, 0), sizeof r->scope);
    util_strlcpy(r->value, col_text(st, 1), sizeof r->value);
    r->overlap = col_int(st, 2);
    return 0;
}

int store_overlap_list(struct store *s, struct store_overlap_rule **rules, size_t *n)
{
    static const struct rows_spec spec = {sizeof **rules, SIZE_MAX, rule_read, NULL};
    struct rows rows;
    int rc = store_rows(s, ST_OVERLAP_LIST, &spec, &rows);
    *rules = rows.v;
    *n = rows.n;
    return rc;
}

/* ---- a cap on the database's size (issue 15) ---- */

static int max_bytes_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    int64_t bytes = *(const int64_t *)arg;
    if (c->pg)
        return -EOPNOTSUPP; /* PostgreSQL: the server's quotas */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL);
    int64_t page =
        rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (page <= 0)
        return -EIO;
    /* A pragma's value cannot be a bound parameter: this one is a number. */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)(bytes / page + 1));
    return conn_exec(c, sql);
}

int store_set_max_bytes(struct store *s, int64_t bytes)
{
    if (bytes <= 0)
        return -EINVAL;
    return store_run(s, max_bytes_job, &bytes);
}
