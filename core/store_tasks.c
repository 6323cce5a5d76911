/* The task queue in the store: its counters and the writer's hooks,
 * queueing, leases and claims, release, overlap rules. All of it runs on
 * the writer thread, so a claim and a label never race each other: the
 * slot arithmetic (labels_done + leased < overlap) is checked and changed
 * in the same serialised transaction. Labels are store_labels.c's. */
#include "store_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "store_subq.h"

/* Reads a one-integer result into *out. 0 or -EIO. */
static int read_int(struct conn *c, enum stmt_id id, int64_t *out)
{
    struct dbst *st = conn_stmt(c, id);
    int rc = st ? store_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        *out = col_int64(st, 0);
    conn_done(st);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

/* ---- the queue's state and the writer's hooks ---- */

int store_tasks_recount(struct store *s, struct conn *c)
{
    return read_int(c, ST_OPEN_COUNT, &s->tasks->open);
}

/* PostgreSQL: the writer listens on the tasks' channel too (store.c).
 * Takes what its connection received: whether another session notified. */
static bool heard_foreign(struct conn *c)
{
    return pg_notified(c->pg, pg_backend_pid(c->pg));
}

/* Another process (rungd import into a running daemon's database) may
 * have added tasks: the writer connection's data_version moves when any
 * other connection commits. Then the count is taken again and waiters are
 * woken. Checked by every claim and by the idle writer, so a busy writer
 * that only ingests sees foreign work at its next idle second or claim.
 * On PostgreSQL the sign is another session's NOTIFY: one whose commit
 * was acknowledged before this transaction began has reached the writer
 * by now, so the count is taken again here too (the listener thread,
 * store_listen.c, wakes the waiters). 0 or -EIO. */
static int sync_foreign(struct store *s, struct conn *c)
{
    struct store_tasks *q = s->tasks;
    int64_t v;
    if (c->pg) {
        bool heard = heard_foreign(c) || q->heard;
        q->heard = false;
        return heard ? store_tasks_recount(s, c) : 0;
    }
    if (read_int(c, ST_DATA_VERSION, &v))
        return -EIO;
    bool moved = q->data_version >= 0 && v != q->data_version;
    q->data_version = v;
    if (!moved)
        return 0;
    q->changed = true;
    return store_tasks_recount(s, c);
}

/* A new generation, and the hook (which wakes long-polls). */
static void wake(struct store_tasks *q)
{
    atomic_fetch_add(&q->gen, 1);
    pthread_mutex_lock(&q->hook_mu);
    if (q->hook)
        q->hook(q->hook_cls);
    pthread_mutex_unlock(&q->hook_mu);
}

/* PostgreSQL: other daemons on the database hear of it (store_listen.c).
 * Outside the transaction, which committed. */
static void announce(struct conn *c)
{
    if (c->pg)
        pg_exec(c->pg, "NOTIFY " STORE_TASKS_CHANNEL, NULL);
}

/* After a group that made tasks claimable, if it committed: other daemons
 * are told, then this one's long-polls woken. */
static void notify(struct store *s, bool committed)
{
    struct store_tasks *q = s->tasks;
    if (!q->changed)
        return;
    q->changed = false;
    if (!committed)
        return;
    announce(&s->writer);
    wake(q);
}

int store_tasks_foreign(struct store *s, struct conn *c)
{
    int rc = store_tasks_recount(s, c);
    wake(s->tasks);
    return rc;
}

/* The writer-only counters a group's jobs move: an ingest takes from the
 * blind draw's credit, a claim notes another process's data_version. */
static void tasks_before_group(struct store *s, struct conn *c)
{
    struct store_tasks *q = s->tasks;
    if (c->pg) /* every group takes them: libpq's list stays short */
        q->heard = heard_foreign(c) || q->heard;
    q->noted_credit = q->blind_credit;
    q->noted_version = q->data_version;
    q->noted_heard = q->heard;
}

static void tasks_after_group(struct store *s, struct conn *c, bool committed, bool failed)
{
    if (!committed) { /* rolled back: so is what its jobs counted */
        s->tasks->blind_credit = s->tasks->noted_credit;
        s->tasks->data_version = s->tasks->noted_version;
        s->tasks->heard = s->tasks->heard || s->tasks->noted_heard;
    }
    if (failed)
        store_tasks_recount(s, c); /* a rolled-back job may have counted tasks */
    notify(s, committed);
}

static int reap(struct store *s, struct conn *c, int64_t now);

/* Idle: return expired leases to the queue and look for work another
 * process added, in a transaction of its own. */
static void tasks_idle(struct store *s, struct conn *c)
{
    if (conn_run(c, ST_BEGIN))
        return;
    bool ok = sync_foreign(s, c) == 0 && reap(s, c, util_now_ms()) >= 0;
    if (!ok || conn_run(c, ST_COMMIT)) {
        conn_rollback(c);
        store_tasks_recount(s, c);
        ok = false;
    }
    notify(s, ok);
}

int store_tasks_open(struct store *s)
{
    struct store_tasks *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    pthread_mutex_init(&q->hook_mu, NULL);
    q->default_overlap = OVERLAP_DEFAULT;
    q->lease_ms = (int64_t)LEASE_SECONDS_DEFAULT * 1000;
    q->gold_rate_pct = GOLD_RATE_PCT_DEFAULT;
    q->undo_ms = UNDO_SECONDS_DEFAULT * 1000u;
    q->random_sides = true;
    q->data_version = -1;
    s->tasks = q;
    store_set_hooks(s, &(struct store_hooks){.idle = tasks_idle,
                                             .before_group = tasks_before_group,
                                             .after_group = tasks_after_group});
    int rc = store_tasks_recount(s, &s->writer);
    return rc ? rc : sync_foreign(s, &s->writer);
}

void store_tasks_close(struct store *s)
{
    if (!s->tasks)
        return;
    pthread_mutex_destroy(&s->tasks->hook_mu);
    free(s->tasks);
    s->tasks = NULL;
}

void store_set_defaults(struct store *s, int overlap, unsigned lease_ms, unsigned gold_rate_pct,
                        bool split_extra)
{
    struct store_tasks *q = s->tasks;
    q->split_extra = split_extra;
    q->default_overlap = overlap;
    q->lease_ms = lease_ms;
    q->gold_rate_pct = gold_rate_pct;
}

void store_set_review(struct store *s, unsigned undo_ms, bool random_sides)
{
    s->tasks->undo_ms = undo_ms;
    s->tasks->random_sides = random_sides;
}

unsigned store_undo_ms(struct store *s)
{
    return s->tasks->undo_ms;
}

void store_set_task_hook(struct store *s, store_done_fn hook, void *cls)
{
    pthread_mutex_lock(&s->tasks->hook_mu);
    s->tasks->hook = hook;
    s->tasks->hook_cls = cls;
    pthread_mutex_unlock(&s->tasks->hook_mu);
}

uint64_t store_task_generation(struct store *s)
{
    return atomic_load(&s->tasks->gen);
}

/* ---- queueing ---- */

/* Labels a new task wants into *overlap: the batch's rule, else the
 * domain's, else the store default. 0 or -EIO. */
static int overlap_for(struct store *s, struct conn *c, const char *batch, const char *domain,
                       int *overlap)
{
    *overlap = s->tasks->default_overlap;
    if (!batch && !domain)
        return 0;
    struct dbst *st = conn_stmt(c, ST_OVERLAP_FOR);
    if (!st)
        return -EIO;
    bind_text_or_null(st, 1, batch);
    bind_text_or_null(st, 2, domain);
    int rc = store_step(st);
    if (rc == SQLITE_ROW)
        *overlap = col_int(st, 0);
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int store_task_queue(struct store *s, struct conn *c, int64_t seq, const struct store_item_in *it,
                     int64_t now)
{
    int overlap;
    int rc = overlap_for(s, c, it->batch, it->domain, &overlap);
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_TASK_INSERT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    bind_text(st, 2, it->response_b ? "pair" : "single", -1, SQLITE_STATIC);
    bind_int64(st, 3, it->priority);
    bind_int(st, 4, overlap);
    bind_int64(st, 5, now);
    if ((rc = conn_step_done(st)))
        return rc;
    s->tasks->open++;
    s->tasks->changed = true;
    return 0;
}

/* ---- leases and claims ---- */

int store_leased_add(struct conn *c, int64_t task_id, int delta)
{
    struct dbst *st = conn_stmt(c, ST_TASK_LEASED_ADD);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_int(st, 2, delta);
    return conn_step_done(st);
}

#define REAP_BATCH 256 /* expired leases whose slots are freed one by one */

/* Marks the leases expired by now (kept as markers that the task was
 * served) and frees their slots. Returns how many, or -EIO. */
static int reap(struct store *s, struct conn *c, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_REAP);
    if (!st)
        return -EIO;
    bind_int64(st, 1, now);
    int64_t ids[REAP_BATCH];
    int n = 0, rc;
    /* RETURNING rows are all computed on the first step; the slot updates
     * follow once the statement is done. Past REAP_BATCH expired leases at
     * once, the lease counts are recomputed from the table instead. */
    int64_t extra = 0;
    while ((rc = store_step(st)) == SQLITE_ROW) {
        if (n < REAP_BATCH)
            ids[n++] = col_int64(st, 0);
        else
            extra++;
    }
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    if (extra && conn_step_done(conn_stmt(c, ST_LEASED_RECOUNT)))
        return -EIO;
    for (int i = 0; i < n && !extra; i++)
        if (store_leased_add(c, ids[i], -1))
            return -EIO;
    if (n)
        s->tasks->changed = true;
    return n + (int)extra;
}

/* The task a pick statement finds for a rater: its id, 0 when none, or
 * -EIO. */
/* Runs a pick statement: ?1 the rater, ?2 now (ST_LEASE_HELD) or the
 * rater's key when it is limited (the claims; 0 when not). The task id, 0
 * when none, or -EIO. */
static int64_t pick(struct conn *c, enum stmt_id id, int64_t rater_id, int64_t arg2)
{
    struct dbst *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    bind_int64(st, 1, rater_id);
    if (col_nparams(st) >= 2) /* ST_RATER_SCOPE has one */
        bind_int64(st, 2, arg2);
    int rc = store_step(st);
    int64_t task = rc == SQLITE_ROW ? col_int64(st, 0) : rc == SQLITE_DONE ? 0 : -EIO;
    conn_done(st);
    return task;
}

void store_task_clear(struct store_task *t)
{
    if (!t)
        return;
    free(t->prompt);
    free(t->response_a);
    free(t->response_b);
    free(t->scores);
    free(t->guidelines);
    free(t->metrics);
    store_subqs_free(t->subqs);
    memset(t, 0, sizeof *t);
}

/* Copies the view's columns of a task as shown to a rater into *t. 0 or
 * -ENOMEM. */
static int task_columns(struct dbst *st, struct store_task *t)
{
    util_strlcpy(t->kind, col_text(st, 1), sizeof t->kind);
    int rc = col_dup(st, 2, &t->prompt);
    rc = rc ? rc : col_dup(st, 3, &t->response_a);
    rc = rc ? rc : col_dup(st, 4, &t->response_b);
    rc = rc ? rc : col_dup(st, 5, &t->scores);
    t->lease_expires_ms = col_int64(st, 6);
    t->swapped = col_int(st, 7) != 0 && !strcmp(t->kind, "pair");
    util_strlcpy(t->assist, col_text(st, 8), sizeof t->assist);
    rc = rc ? rc : col_dup(st, 9, &t->guidelines);
    rc = rc ? rc : col_dup(st, 10, &t->metrics);
    const char *answer = col_text(st, 11);
    util_strlcpy(t->answer, answer ? (const char *)answer : "", sizeof t->answer);
    t->label_ms = col_int64(st, 12);
    t->blind = col_int(st, 13) != 0;
    return rc;
}

/* Reads the task as leased to (or labelled by) the rater into *t. 0,
 * -ENOENT, -ENOMEM, -EIO. */
static int task_read(struct store *s, struct conn *c, int64_t task_id, int64_t rater_id,
                     struct store_task *t)
{
    struct dbst *st = conn_stmt(c, ST_TASK_VIEW);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_int64(st, 2, rater_id);
    int step = store_step(st);
    int rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT : -EIO;
    if (!rc) {
        t->id = task_id;
        rc = task_columns(st, t);
        t->lease_seconds = s->tasks->lease_ms / 1000;
        t->remaining = -1;
    }
    conn_done(st);
    if (!rc)
        rc = store_subq_task_view(c, t);
    /* A sub-question names its response in the item's own order: its task
     * is never shown swapped. */
    if (!rc && t->subq_id)
        t->swapped = false;
    if (rc)
        store_task_clear(t);
    return rc;
}

int store_task_view(struct store *s, int64_t task_id, int64_t rater_id, struct store_task *t)
{
    memset(t, 0, sizeof *t);
    struct conn *c = store_reader(s);
    int rc = task_read(s, c, task_id, rater_id, t);
    store_reader_put(s, c);
    return rc;
}

/* The task to lease: one the rater holds, else a gold task at the gold
 * rate, else the next open one; 0 when none, or -EIO. *fresh: the lease
 * is new, so it takes a slot. */
static int64_t claim_pick(struct store *s, struct conn *c, int64_t rater_id, int64_t now,
                          bool *fresh)
{
    int64_t task = pick(c, ST_LEASE_HELD, rater_id, now);
    *fresh = false;
    if (task != 0)
        return task; /* the lease held, or -EIO */
    /* The rater's key when it is limited to batches or domains, else 0. */
    int64_t scope = pick(c, ST_RATER_SCOPE, rater_id, 0);
    if (scope < 0)
        return -EIO;
    if (aggregate_gold_turn(s->tasks->gold_rate_pct, randombytes_uniform(100)))
        task = pick(c, ST_TASK_PICK_GOLD, rater_id, scope);
    if (task == 0 && scope == 0)
        task = pick(c, ST_TASK_PICK, rater_id, 0);
    if (task == 0 && scope > 0)
        task = pick(c, ST_TASK_PICK_NEAR, rater_id, scope);
    if (task == 0 && scope > 0)
        task = pick(c, ST_TASK_PICK_FAR, rater_id, scope);
    *fresh = task > 0;
    return task;
}

static int claim_job(struct store *s, struct conn *c, void *arg)
{
    struct store_claim *cl = arg;
    int64_t now = util_now_ms();
    bool fresh;
    store_task_clear(&cl->task);
    cl->found = false;
    cl->generation = atomic_load(&s->tasks->gen);
    if (reap(s, c, now) < 0 || sync_foreign(s, c))
        return -EIO;
    int64_t task = claim_pick(s, c, cl->rater_id, now, &fresh);
    if (task <= 0)
        return (int)task;
    struct dbst *st = conn_stmt(c, ST_LEASE_INSERT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task);
    bind_int64(st, 2, cl->rater_id);
    bind_int64(st, 3, now + s->tasks->lease_ms);
    /* The side order of a new lease: kept when the lease is renewed. */
    bind_int(st, 4, s->tasks->random_sides ? (int)randombytes_uniform(2) : 0);
    int rc = conn_step_done(st);
    if (!rc && fresh)
        rc = store_leased_add(c, task, 1);
    if (!rc)
        rc = task_read(s, c, task, cl->rater_id, &cl->task);
    if (!rc)
        cl->task.remaining = s->tasks->open;
    cl->found = rc == 0;
    return rc;
}

int store_task_claim_submit(struct store *s, struct store_claim *c, store_done_fn done, void *cls)
{
    return store_submit(s, claim_job, c, &c->rc, done, cls);
}

int store_task_claim(struct store *s, struct store_claim *c)
{
    c->rc = store_run(s, claim_job, c);
    return c->rc;
}

int store_lease_take(struct conn *c, int64_t task_id, int64_t rater_id, bool *had, bool *live,
                     bool *swapped)
{
    struct dbst *st = conn_stmt(c, ST_LEASE_DELETE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_int64(st, 2, rater_id);
    int rc = store_step(st);
    *had = rc == SQLITE_ROW;
    *live = *had && col_int(st, 0) != 0;
    if (swapped)
        *swapped = *had && col_int(st, 1) != 0;
    while (rc == SQLITE_ROW)
        rc = store_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int release_job(struct store *s, struct conn *c, void *arg)
{
    struct store_release *a = arg;
    bool had = false, live = false;
    int rc = store_lease_take(c, a->task_id, a->rater_id, &had, &live, NULL);
    if (rc)
        return rc;
    if (!had)
        return -ENOENT;
    if (live && (rc = store_leased_add(c, a->task_id, -1)))
        return rc;
    struct dbst *st = conn_stmt(c, ST_SKIP_INSERT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, a->task_id);
    bind_int64(st, 2, a->rater_id);
    if ((rc = conn_step_done(st)))
        return rc;
    s->tasks->changed = true;
    return 0;
}

int store_task_release_submit(struct store *s, struct store_release *r, store_done_fn done,
                              void *cls)
{
    return store_submit(s, release_job, r, &r->rc, done, cls);
}

int store_task_release(struct store *s, int64_t task_id, int64_t rater_id)
{
    struct store_release r = {task_id, rater_id, 0};
    r.rc = store_run(s, release_job, &r);
    return r.rc;
}

/* ---- overlap rules ---- */

struct overlap_args {
    const char *scope, *value;
    int overlap;
};

static int overlap_job(struct store *s, struct conn *c, void *arg)
{
    struct overlap_args *o = arg;
    struct dbst *st = conn_stmt(c, ST_OVERLAP_UPSERT);
    if (!st)
        return -EIO;
    bind_text(st, 1, o->scope, -1, SQLITE_STATIC);
    bind_text(st, 2, o->value, -1, SQLITE_STATIC);
    bind_int(st, 3, o->overlap);
    int rc = conn_step_done(st);
    if (rc)
        return rc;
    st =
        conn_stmt(c, !strcmp(o->scope, "batch") ? ST_OVERLAP_APPLY_BATCH : ST_OVERLAP_APPLY_DOMAIN);
    if (!st)
        return -EIO;
    bind_text(st, 1, o->value, -1, SQLITE_STATIC);
    bind_int(st, 2, o->overlap);
    rc = conn_step_done(st);
    if (!rc)
        s->tasks->changed = true;
    return rc;
}

int store_overlap_set(struct store *s, const char *scope, const char *value, int overlap)
{
    if ((strcmp(scope, "batch") && strcmp(scope, "domain")) || overlap < 1 || overlap > OVERLAP_MAX)
        return -EINVAL;
    struct overlap_args o = {scope, value, overlap};
    return store_run(s, overlap_job, &o);
}
