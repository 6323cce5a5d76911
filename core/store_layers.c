/* Reward layers and comparisons in the store. */
#include "store_internal.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t store_layer_active_id(struct store *s)
{
    struct conn *c = store_reader(s);
    int64_t id = -EIO;
    struct dbst *st = conn_stmt(c, ST_LAYER_ACTIVE);
    if (st) {
        int rc = store_step(st);
        if (rc == SQLITE_ROW)
            id = col_int64(st, 0);
        else if (rc == SQLITE_DONE)
            id = 0;
    }
    conn_done(st);
    store_reader_put(s, c);
    return id;
}

int store_layer_params(struct store *s, int64_t id, char kind[STORE_KIND_MAX], void **blob,
                       size_t *len)
{
    struct conn *c = store_reader(s);
    int rc = -EIO;
    struct dbst *st = conn_stmt(c, ST_LAYER_PARAMS);
    if (!st)
        goto out;
    bind_int64(st, 1, id);
    int step = store_step(st);
    if (step == SQLITE_DONE) {
        rc = -ENOENT;
    } else if (step == SQLITE_ROW) {
        const void *p = col_blob(st, 0); /* before its length: PostgreSQL decodes it */
        size_t n = (size_t)col_bytes(st, 0);
        *blob = malloc(n ? n : 1);
        if (!*blob) {
            rc = -ENOMEM;
            goto out;
        }
        if (n)
            memcpy(*blob, p, n);
        *len = n;
        rc = 0;
        const char *k = col_text(st, 1);
        if (kind && (!k || util_strlcpy(kind, k, STORE_KIND_MAX))) {
            free(*blob);
            *blob = NULL;
            rc = -EIO;
        }
    }
out:
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

/* Makes layer id active, retiring the one that was; a promotion
 * (promoted) records that one as what id replaced, a rollback keeps what
 * id replaced the first time. 0, -ENOENT (not a candidate or retired),
 * -EIO. */
static int activate_in_tx(struct conn *c, int64_t id, bool promoted)
{
    struct dbst *st = conn_stmt(c, ST_LAYER_ACTIVE);
    int step = st ? store_step(st) : SQLITE_ERROR;
    int64_t prev = step == SQLITE_ROW ? col_int64(st, 0) : 0;
    conn_done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return -EIO;
    if (conn_run(c, ST_LAYER_RETIRE_ACTIVE))
        return -EIO;
    st = conn_stmt(c, ST_LAYER_SET_ACTIVE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    bind_int64(st, 2, util_now_ms());
    bind_int(st, 3, promoted);
    if (prev && prev != id)
        bind_int64(st, 4, prev);
    int rc = store_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    return conn_changes(c) == 1 ? 0 : -ENOENT;
}

/* Writes an event about layer id on c. 0 or -EIO. */
static int layer_event(struct conn *c, int64_t id, const char *actor, const char *kind,
                       const char *detail)
{
    char subject[32];
    snprintf(subject, sizeof subject, "layer:%lld", (long long)id);
    struct dbst *st = conn_stmt(c, ST_LAYER_EVENT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, util_now_ms());
    bind_text_or_null(st, 2, actor);
    bind_text(st, 3, kind, -1, SQLITE_STATIC);
    bind_text(st, 4, subject, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 5, detail);
    return conn_step_done(st);
}

struct layer_add {
    const struct store_layer_new *l;
    int64_t id;
};

static int layer_add_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct layer_add *a = arg;
    struct dbst *st = conn_stmt(c, ST_LAYER_INSERT);
    if (!st)
        return -EIO;
    bind_blob(st, 1, a->l->params, (int)a->l->params_len, SQLITE_STATIC);
    bind_int64(st, 2, a->l->train_size);
    bind_text_or_null(st, 3, a->l->sources);
    bind_text_or_null(st, 4, a->l->metrics);
    if (isfinite(a->l->threshold))
        bind_double(st, 5, a->l->threshold);
    bind_int64(st, 6, util_now_ms());
    bind_text_or_null(st, 7, a->l->kind);
    bind_text_or_null(st, 8, a->l->lineage);
    int rc = store_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    a->id = conn_last_id(c);
    bool http = a->l->kind && !strcmp(a->l->kind, "http");
    rc = a->l->event_actor ? layer_event(c, a->id, a->l->event_actor,
                                         http ? "layer_registered" : "layer_trained", a->l->lineage)
                           : 0;
    return rc ? rc : a->l->activate ? activate_in_tx(c, a->id, true) : 0;
}

int store_layer_add(struct store *s, const struct store_layer_new *l, int64_t *id)
{
    struct layer_add a = {.l = l};
    int rc = store_run(s, layer_add_job, &a);
    if (!rc)
        *id = a.id;
    return rc;
}

static int layer_activate_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    return activate_in_tx(c, *(int64_t *)arg, true);
}

int store_layer_activate(struct store *s, int64_t id)
{
    return store_run(s, layer_activate_job, &id);
}

void store_layers_free(struct store_layer *layers, size_t n)
{
    for (size_t i = 0; layers && i < n; i++) {
        free(layers[i].status);
        free(layers[i].kind);
        free(layers[i].sources);
        free(layers[i].metrics);
        free(layers[i].consistency);
        free(layers[i].request);
        free(layers[i].lineage);
    }
    free(layers);
}

/* Reads a row of LAYER_COLUMNS into the zeroed layer elem. 0 or
 * -ENOMEM. */
static int layer_read(struct dbst *st, void *elem)
{
    struct store_layer *l = elem;
    l->id = col_int64(st, 0);
    l->parent = col_int64(st, 1);
    l->train_size = col_int64(st, 4);
    l->has_threshold = !col_null(st, 7);
    l->threshold = col_double(st, 7);
    l->created_ms = col_int64(st, 9);
    l->prev_active = col_int64(st, 12);
    l->activated_ms = col_int64(st, 13);
    int rc = col_dup(st, 2, &l->status);
    rc = rc ? rc : col_dup(st, 10, &l->request);
    rc = rc ? rc : col_dup(st, 11, &l->lineage);
    rc = rc ? rc : col_dup(st, 3, &l->kind);
    rc = rc ? rc : col_dup(st, 5, &l->sources);
    rc = rc ? rc : col_dup(st, 6, &l->metrics);
    return rc ? rc : col_dup(st, 8, &l->consistency);
}

static void layers_undo(void *v, size_t n)
{
    store_layers_free(v, n);
}

int store_layer_list(struct store *s, struct store_layer **layers, size_t *n)
{
    static const struct rows_spec spec = {sizeof **layers, SIZE_MAX, layer_read, layers_undo};
    struct rows rows;
    int rc = store_rows(s, ST_LAYER_LIST, &spec, &rows);
    *layers = rows.v;
    *n = rows.n;
    return rc;
}

struct cmp_add {
    const struct store_comparison *c;
    size_t n;
    size_t skipped; /* out: already stored */
};

int store_comparison_insert(struct conn *c, const struct store_comparison *x, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_CMP_INSERT);
    if (!st)
        return -EIO;
    bind_text(st, 1, x->prompt, -1, SQLITE_STATIC);
    bind_text(st, 2, x->chosen, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, x->rejected);
    bind_int(st, 4, x->tie);
    bind_text_or_null(st, 5, x->label);
    bind_text(st, 6, x->source, -1, SQLITE_STATIC);
    bind_double(st, 7, x->weight > 0 ? x->weight : 1.0);
    if (x->layer_id)
        bind_int64(st, 8, x->layer_id);
    if (x->item_seq)
        bind_int64(st, 9, x->item_seq);
    bind_text_or_null(st, 10, x->provenance);
    bind_int64(st, 11, now);
    unsigned char d[STORE_DIGEST_BYTES];
    store_cmp_digest(x, d);
    bind_blob(st, 12, d, sizeof d, SQLITE_TRANSIENT);
    int rc = store_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int cmp_add_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct cmp_add *a = arg;
    int64_t now = util_now_ms();
    a->skipped = 0;
    for (size_t i = 0; i < a->n; i++) {
        int rc = store_comparison_insert(c, &a->c[i], now);
        if (rc)
            return rc;
        /* ON CONFLICT DO NOTHING: the same content is stored already. */
        a->skipped += conn_changes(c) == 0;
    }
    return 0;
}

int store_comparisons_add_ex(struct store *s, const struct store_comparison *c, size_t n,
                             size_t *skipped)
{
    struct cmp_add a = {.c = c, .n = n};
    int rc = store_run(s, cmp_add_job, &a);
    if (skipped)
        *skipped = rc ? 0 : a.skipped;
    return rc;
}

int store_comparisons_add(struct store *s, const struct store_comparison *c, size_t n)
{
    return store_comparisons_add_ex(s, c, n, NULL);
}

static int comparisons_read(struct store *s, enum stmt_id id, store_comparison_cb cb, void *cls)
{
    struct conn *c = store_reader(s);
    int rc = -EIO;
    struct dbst *st = conn_stmt(c, id);
    if (!st)
        goto out;
    int step;
    rc = 0;
    while ((step = store_step(st)) == SQLITE_ROW) {
        struct store_comparison x = {
            .prompt = col_text(st, 0),
            .chosen = col_text(st, 1),
            .rejected = col_text(st, 2),
            .tie = col_int(st, 3) != 0,
            .label = col_text(st, 4),
            .source = col_text(st, 5),
            .weight = col_double(st, 6),
            .layer_id = col_int64(st, 7),
            .item_seq = col_int64(st, 8),
            .provenance = col_text(st, 9),
            .id = col_int64(st, 10),
        };
        rc = cb(cls, &x);
        if (rc)
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = -EIO;
out:
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

int store_comparisons_each(struct store *s, store_comparison_cb cb, void *cls)
{
    return comparisons_read(s, ST_CMP_ALL, cb, cls);
}

int store_comparisons_newest(struct store *s, store_comparison_cb cb, void *cls)
{
    return comparisons_read(s, ST_CMP_NEWEST, cb, cls);
}

/* ---- promotion: the settled set and the check's outcome ---- */

static int settled_read(struct dbst *st, void *elem)
{
    struct store_settled *x = elem;
    const char *ans = col_text(st, 4);
    x->item_seq = col_int64(st, 0);
    x->answer = ans && ans[0] == 'b' ? 'b' : 'a';
    int rc = col_dup(st, 1, &x->prompt);
    rc = rc ? rc : col_dup(st, 2, &x->a);
    rc = rc ? rc : col_dup(st, 3, &x->b);
    return rc ? rc : (x->prompt && x->a && x->b) ? 0 : -EIO;
}

void store_settled_free(struct store_settled *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].prompt);
        free(v[i].a);
        free(v[i].b);
    }
    free(v);
}

static void settled_undo(void *v, size_t n)
{
    store_settled_free(v, n);
}

int store_settled_read(struct store *s, size_t max, struct store_settled **v, size_t *n)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, settled_read, settled_undo};
    const int64_t arg = (int64_t)max;
    struct rows rows;
    int rc = store_rows_args(s, ST_SETTLED, &arg, 1, &spec, &rows);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

struct layer_checked {
    int64_t id;
    const char *report, *reason, *actor;
    bool passed;
    const int64_t *flags;
    size_t nflags;
    int64_t against; /* the active layer the check compared with; -1: not compared */
};

/* The compare-and-set of a check's outcome: 0 while the layer the check
 * compared with (0: none) is still the active one, -ESTALE when another
 * is, -EIO. */
static int still_against(struct conn *c, int64_t against)
{
    if (against < 0)
        return 0;
    struct dbst *st = conn_stmt(c, ST_LAYER_ACTIVE_LOCK);
    int step = st ? store_step(st) : SQLITE_ERROR;
    int64_t now_active = step == SQLITE_ROW ? col_int64(st, 0) : 0;
    conn_done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return -EIO;
    return now_active == against ? 0 : -ESTALE;
}

/* A flagged item goes back to people: one more whole-pair task, queued as
 * its batch or domain rule wants. 0 or -EIO. */
static int requeue(struct store *s, struct conn *c, int64_t seq, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_QUEUE_FACTS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    int rc = store_step(st);
    char *batch = NULL, *domain = NULL;
    struct store_item_in it = {.response_b = ""};
    int err = rc == SQLITE_ROW ? col_dup(st, 0, &batch) : rc == SQLITE_DONE ? 0 : -EIO;
    err = err || rc != SQLITE_ROW ? err : col_dup(st, 1, &domain);
    it.priority = rc == SQLITE_ROW ? col_int64(st, 2) : 0;
    conn_done(st);
    it.batch = batch;
    it.domain = domain;
    if (!err && rc == SQLITE_ROW)
        err = store_task_queue(s, c, seq, &it, now);
    free(batch);
    free(domain);
    return err;
}

/* Flags the contradicted items (each back to people) and records the
 * event. 0 or -EIO. */
static int checked_flags_event(struct store *s, struct conn *c, const struct layer_checked *a,
                               int64_t now)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < a->nflags; i++) {
        struct dbst *st = conn_stmt(c, ST_FLAG_INSERT);
        if (!st)
            return -EIO;
        bind_int64(st, 1, a->flags[i]);
        bind_int64(st, 2, a->id);
        bind_text(st, 3, a->reason, -1, SQLITE_STATIC);
        bind_int64(st, 4, now);
        rc = conn_step_done(st);
        rc = rc ? rc : requeue(s, c, a->flags[i], now);
    }
    return rc ? rc
              : layer_event(c, a->id, a->actor, a->passed ? "layer_promoted" : "layer_rejected",
                            a->report);
}

static int layer_checked_job(struct store *s, struct conn *c, void *arg)
{
    struct layer_checked *a = arg;
    int rc = still_against(c, a->against);
    rc = rc || a->passed ? rc : conn_run_id(c, ST_LAYER_REJECT, a->id);
    if (!rc && !a->passed && conn_changes(c) != 1)
        return -ENOENT;
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_LAYER_CHECKED);
    if (!st)
        return rc ? rc : -EIO;
    bind_int64(st, 1, a->id);
    bind_text(st, 2, a->report, -1, SQLITE_STATIC);
    rc = conn_step_done(st);
    rc = rc ? rc : a->passed ? activate_in_tx(c, a->id, true) : 0;
    return rc ? rc : checked_flags_event(s, c, a, util_now_ms());
}

int store_layer_checked(struct store *s, int64_t id, const char *report, bool passed,
                        const int64_t *flags, size_t nflags, const char *reason, const char *actor,
                        int64_t against)
{
    struct layer_checked a = {id, report, reason, actor, passed, flags, nflags, against};
    return store_run(s, layer_checked_job, &a);
}

/* ---- the layer lifecycle ---- */

void store_layer_clear(struct store_layer *l)
{
    free(l->status);
    free(l->kind);
    free(l->sources);
    free(l->metrics);
    free(l->consistency);
    free(l->request);
    free(l->lineage);
    memset(l, 0, sizeof *l);
}

int store_layer_get(struct store *s, int64_t id, struct store_layer *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_LAYER_GET);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, id);
        int step = store_step(st);
        rc = step == SQLITE_ROW ? layer_read(st, out) : step == SQLITE_DONE ? -ENOENT : -EIO;
    }
    conn_done(st);
    store_reader_put(s, c);
    if (rc)
        store_layer_clear(out);
    return rc;
}

struct train_queue {
    const char *request, *actor;
    int64_t id;
};

static int train_queue_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct train_queue *a = arg;
    struct dbst *st = conn_stmt(c, ST_LAYER_TRAIN_INSERT);
    if (!st)
        return -EIO;
    bind_text_or_null(st, 1, a->request);
    bind_int64(st, 2, util_now_ms());
    int rc = conn_step_done(st);
    a->id = rc ? 0 : conn_last_id(c);
    return rc ? rc : layer_event(c, a->id, a->actor, "layer_training", a->request);
}

int store_layer_train_queue(struct store *s, const char *request, const char *actor, int64_t *id)
{
    struct train_queue a = {.request = request, .actor = actor};
    int rc = store_run(s, train_queue_job, &a);
    if (!rc)
        *id = a.id;
    return rc;
}

int store_layer_train_next(struct store *s, int64_t *id, char **request)
{
    *request = NULL;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_LAYER_TRAIN_NEXT);
    int rc = -EIO;
    if (st) {
        int step = store_step(st);
        rc = step == SQLITE_ROW ? col_dup(st, 1, request) : step == SQLITE_DONE ? -ENOENT : -EIO;
        *id = step == SQLITE_ROW ? col_int64(st, 0) : 0;
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

static int train_done_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    const struct store_layer_done *d = arg;
    struct dbst *st = conn_stmt(c, ST_LAYER_TRAINED);
    if (!st)
        return -EIO;
    bind_int64(st, 1, d->id);
    bind_text(st, 2, d->ok ? "candidate" : "rejected", -1, SQLITE_STATIC);
    if (d->ok)
        bind_blob(st, 3, d->params, (int)d->params_len, SQLITE_STATIC);
    bind_int64(st, 4, d->train_size);
    bind_text_or_null(st, 5, d->sources);
    bind_text_or_null(st, 6, d->metrics);
    if (isfinite(d->threshold))
        bind_double(st, 7, d->threshold);
    bind_text_or_null(st, 8, d->lineage);
    int rc = conn_step_done(st);
    if (!rc && conn_changes(c) != 1)
        return -ENOENT;
    return rc ? rc
              : layer_event(c, d->id, d->actor, d->ok ? "layer_trained" : "layer_training_failed",
                            d->ok ? d->lineage : d->metrics);
}

int store_layer_train_done(struct store *s, const struct store_layer_done *d)
{
    return store_run(s, train_done_job, (void *)d);
}

/* Status and prev_active of layer id on c: 0, -ENOENT, -EIO. */
static int layer_status(struct conn *c, int64_t id, char status[16], int64_t *prev)
{
    struct dbst *st = conn_stmt(c, ST_LAYER_STATUS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int step = store_step(st);
    int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT : -EIO;
    const char *t = rc ? NULL : col_text(st, 0);
    if (!rc && (!t || util_strlcpy(status, t, 16)))
        rc = -EIO;
    *prev = rc ? 0 : col_int64(st, 1);
    conn_done(st);
    return rc;
}

#define ROLLBACK_HOPS_MAX 64 /* rejected layers passed over looking for one to reactivate */

struct rollback {
    int64_t id, to;
    const char *actor;
};

/* The layer to reactivate when rolling back from one whose prev_active
 * is prev: prev when it is retired; past one rejected since (or gone) to
 * the layer that one replaced, and so on; 0 when none is left. */
static int rollback_target(struct conn *c, int64_t prev, int64_t *to)
{
    for (int hop = 0; prev && hop < ROLLBACK_HOPS_MAX; hop++) {
        char status[16];
        int64_t next;
        int rc = layer_status(c, prev, status, &next);
        if (rc == -ENOENT)
            break;
        if (rc)
            return rc;
        if (!strcmp(status, "retired")) {
            *to = prev;
            return 0;
        }
        prev = next;
    }
    *to = 0;
    return 0;
}

static int rollback_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct rollback *a = arg;
    char status[16], detail[64];
    int64_t prev;
    int rc = layer_status(c, a->id, status, &prev);
    if (!rc && strcmp(status, "active"))
        rc = -EALREADY;
    rc = rc ? rc : rollback_target(c, prev, &a->to);
    rc = rc ? rc : conn_run(c, ST_LAYER_RETIRE_ACTIVE);
    rc = rc || !a->to ? rc : activate_in_tx(c, a->to, false);
    if (a->to)
        snprintf(detail, sizeof detail, "{\"from\":%lld,\"to\":%lld}", (long long)a->id,
                 (long long)a->to);
    else
        snprintf(detail, sizeof detail, "{\"from\":%lld,\"to\":null}", (long long)a->id);
    return rc ? rc : layer_event(c, a->id, a->actor, "layer_rolled_back", detail);
}

int store_layer_rollback(struct store *s, int64_t id, const char *actor, int64_t *to)
{
    struct rollback a = {.id = id, .actor = actor};
    int rc = store_run(s, rollback_job, &a);
    *to = rc ? 0 : a.to;
    return rc;
}

struct event_add {
    const char *actor, *kind, *subject, *detail;
};

static int event_add_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    const struct event_add *a = arg;
    struct dbst *st = conn_stmt(c, ST_LAYER_EVENT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, util_now_ms());
    bind_text_or_null(st, 2, a->actor);
    bind_text(st, 3, a->kind, -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, a->subject);
    bind_text_or_null(st, 5, a->detail);
    return conn_step_done(st);
}

int store_event_add(struct store *s, const char *actor, const char *kind, const char *subject,
                    const char *detail)
{
    struct event_add a = {actor, kind, subject, detail};
    return store_run(s, event_add_job, &a);
}
