/* Human review in the store: claiming tasks under leases, labels, gold
 * items, overlap rules. All of it runs on the writer thread, so a claim
 * and a label never race each other: the slot arithmetic (labels_done +
 * leased < overlap) is checked and changed in the same serialised
 * transaction. Which label counts and what labels decide are not decided
 * here: aggregate.c's rules are asked, and this file writes the answer. */
#include "store_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The queue's state beside its rows. The defaults are set by any thread;
 * the rest is the writer thread's own, except gen. */
struct store_tasks {
    _Atomic int default_overlap;    /* labels a new task wants without a rule */
    _Atomic unsigned lease_ms;      /* task lease length */
    _Atomic unsigned gold_rate_pct; /* gold share of a rater's stream */
    _Atomic bool split_extra;       /* a split asks for one more label */
    int64_t open;                   /* open non-gold tasks */
    bool changed;                   /* this group made tasks claimable */
    int64_t data_version;           /* the writer's PRAGMA data_version, -1 before the first */
    _Atomic uint64_t gen;           /* see store_task_generation() */
    pthread_mutex_t hook_mu;        /* guards hook and hook_cls */
    store_done_fn hook;             /* run after tasks became claimable */
    void *hook_cls;
};

static int step_done(sqlite3_stmt *st)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Runs a statement bound to one integer (a row id) without results. */
static int run_id(struct conn *c, enum stmt_id id, int64_t row)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, row);
    return step_done(st);
}

/* Reads a one-integer result into *out. 0 or -EIO. */
static int read_int(struct conn *c, enum stmt_id id, int64_t *out)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    conn_done(st);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

/* ---- the queue's state and the writer's hooks ---- */

/* Counts the open tasks from the table. 0 or -EIO. */
static int recount(struct store *s, struct conn *c)
{
    return read_int(c, ST_OPEN_COUNT, &s->tasks->open);
}

/* Another process (rungd import into a running daemon's database) may
 * have added tasks: the writer connection's data_version moves when any
 * other connection commits. Then the count is taken again and waiters are
 * woken. Checked by every claim and by the idle writer, so a busy writer
 * that only ingests sees foreign work at its next idle second or claim.
 * 0 or -EIO. */
static int sync_foreign(struct store *s, struct conn *c)
{
    struct store_tasks *q = s->tasks;
    int64_t v;
    if (read_int(c, ST_DATA_VERSION, &v))
        return -EIO;
    bool moved = q->data_version >= 0 && v != q->data_version;
    q->data_version = v;
    if (!moved)
        return 0;
    q->changed = true;
    return recount(s, c);
}

/* After a commit that made tasks claimable: a new generation, and the
 * hook (which wakes long-polls). */
static void notify(struct store *s, bool committed)
{
    struct store_tasks *q = s->tasks;
    if (!q->changed)
        return;
    q->changed = false;
    if (!committed)
        return;
    atomic_fetch_add(&q->gen, 1);
    pthread_mutex_lock(&q->hook_mu);
    if (q->hook)
        q->hook(q->hook_cls);
    pthread_mutex_unlock(&q->hook_mu);
}

static void tasks_after_group(struct store *s, struct conn *c, bool committed, bool failed)
{
    if (failed)
        recount(s, c); /* a rolled-back job may have counted tasks */
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
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        recount(s, c);
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
    q->default_overlap = 1;
    q->lease_ms = 600000;
    q->gold_rate_pct = 5;
    q->data_version = -1;
    s->tasks = q;
    store_set_hooks(s, &(struct store_hooks){.idle = tasks_idle, .after_group = tasks_after_group});
    int rc = recount(s, &s->writer);
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
    sqlite3_stmt *st = conn_stmt(c, ST_OVERLAP_FOR);
    if (!st)
        return -EIO;
    bind_text_or_null(st, 1, batch);
    bind_text_or_null(st, 2, domain);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *overlap = sqlite3_column_int(st, 0);
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

int store_task_queue(struct store *s, struct conn *c, int64_t seq, const struct store_item_in *it,
                     int64_t now)
{
    int overlap;
    int rc = overlap_for(s, c, it->batch, it->domain, &overlap);
    sqlite3_stmt *st = rc ? NULL : conn_stmt(c, ST_TASK_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, it->response_b ? "pair" : "single", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, it->priority);
    sqlite3_bind_int(st, 4, overlap);
    sqlite3_bind_int64(st, 5, now);
    if ((rc = step_done(st)))
        return rc;
    s->tasks->open++;
    s->tasks->changed = true;
    return 0;
}

/* ---- leases and claims ---- */

static int leased_add(struct conn *c, int64_t task_id, int delta)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_LEASED_ADD);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, delta);
    return step_done(st);
}

#define REAP_BATCH 256 /* expired leases whose slots are freed one by one */

/* Marks the leases expired by now (kept as markers that the task was
 * served) and frees their slots. Returns how many, or -EIO. */
static int reap(struct store *s, struct conn *c, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, ST_REAP);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, now);
    int64_t ids[REAP_BATCH];
    int n = 0, rc;
    /* RETURNING rows are all computed on the first step; the slot updates
     * follow once the statement is done. Past REAP_BATCH expired leases at
     * once, the lease counts are recomputed from the table instead. */
    int64_t extra = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < REAP_BATCH)
            ids[n++] = sqlite3_column_int64(st, 0);
        else
            extra++;
    }
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    if (extra && step_done(conn_stmt(c, ST_LEASED_RECOUNT)))
        return -EIO;
    for (int i = 0; i < n && !extra; i++)
        if (leased_add(c, ids[i], -1))
            return -EIO;
    if (n)
        s->tasks->changed = true;
    return n + (int)extra;
}

/* The task a pick statement finds for a rater: its id, 0 when none, or
 * -EIO. */
static int64_t pick(struct conn *c, enum stmt_id id, int64_t rater_id, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, rater_id);
    if (id == ST_LEASE_HELD)
        sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    int64_t task = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -EIO;
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
    memset(t, 0, sizeof *t);
}

/* Reads the task as leased to the rater into *t. 0, -ENOMEM, -EIO. */
static int task_read(struct store *s, struct conn *c, int64_t task_id, int64_t rater_id,
                     struct store_task *t)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_VIEW);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, rater_id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -EIO;
    if (!rc) {
        t->id = task_id;
        util_strlcpy(t->kind, (const char *)sqlite3_column_text(st, 1), sizeof t->kind);
        rc = col_dup(st, 2, &t->prompt);
        rc = rc ? rc : col_dup(st, 3, &t->response_a);
        rc = rc ? rc : col_dup(st, 4, &t->response_b);
        rc = rc ? rc : col_dup(st, 5, &t->scores);
        t->lease_expires_ms = sqlite3_column_int64(st, 6);
        t->lease_seconds = s->tasks->lease_ms / 1000;
        t->remaining = s->tasks->open;
    }
    conn_done(st);
    if (rc)
        store_task_clear(t);
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
    if (task == 0 && aggregate_gold_turn(s->tasks->gold_rate_pct, randombytes_uniform(100))) {
        task = pick(c, ST_TASK_PICK_GOLD, rater_id, now);
        *fresh = task > 0;
    }
    if (task == 0) {
        task = pick(c, ST_TASK_PICK, rater_id, now);
        *fresh = task > 0;
    }
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
    sqlite3_stmt *st = conn_stmt(c, ST_LEASE_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task);
    sqlite3_bind_int64(st, 2, cl->rater_id);
    sqlite3_bind_int64(st, 3, now + s->tasks->lease_ms);
    int rc = step_done(st);
    if (!rc && fresh)
        rc = leased_add(c, task, 1);
    if (!rc)
        rc = task_read(s, c, task, cl->rater_id, &cl->task);
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

/* ---- labels ---- */

struct task_row {
    char kind[8];
    bool open;
    int overlap, labels_done, leased;
    bool gold;
    bool extra_used; /* a split already added a label */
    int64_t item_seq;
    int64_t layer_id;
    char *scores, *gold_answer, *prompt, *a, *b; /* owned copies */
};

static void task_row_free(struct task_row *t)
{
    free(t->scores);
    free(t->gold_answer);
    free(t->prompt);
    free(t->a);
    free(t->b);
}

/* Copies the columns of ST_TASK_GET from index 7 on. 0 or -ENOMEM. */
static int task_row_texts(sqlite3_stmt *st, struct task_row *t)
{
    int rc = col_dup(st, 7, &t->scores);
    rc = rc ? rc : col_dup(st, 8, &t->gold_answer);
    rc = rc ? rc : col_dup(st, 9, &t->prompt);
    rc = rc ? rc : col_dup(st, 10, &t->a);
    return rc ? rc : col_dup(st, 11, &t->b);
}

/* Reads a task with its item into *t (free with task_row_free, also on
 * failure). 0, -ENOENT, -ENOMEM, -EIO. */
static int task_get(struct conn *c, int64_t id, struct task_row *t)
{
    memset(t, 0, sizeof *t);
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_GET);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        util_strlcpy(t->kind, (const char *)sqlite3_column_text(st, 0), sizeof t->kind);
        t->open = !strcmp((const char *)sqlite3_column_text(st, 1), "open");
        t->overlap = sqlite3_column_int(st, 2);
        t->labels_done = sqlite3_column_int(st, 3);
        t->leased = sqlite3_column_int(st, 4);
        t->gold = sqlite3_column_int(st, 5) != 0;
        t->item_seq = sqlite3_column_int64(st, 6);
        t->layer_id = sqlite3_column_int64(st, 12);
        t->extra_used = sqlite3_column_int(st, 13) != 0;
        rc = task_row_texts(st, t);
    } else {
        rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
    }
    conn_done(st);
    return rc;
}

/* Reads a task's labels, in the order given, into a malloc'd array *out
 * of *n (caller frees). 0, -ENOMEM, -EIO. */
static int labels_read(struct conn *c, int64_t task_id, struct agg_label **out, size_t *n)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_LABELS);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    struct agg_label *v = NULL;
    size_t cap = 0, k = 0;
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = store_grow((void **)&v, &cap, k, sizeof *v)))
            break;
        v[k].rater_id = sqlite3_column_int64(st, 0);
        util_strlcpy(v[k].answer, (const char *)sqlite3_column_text(st, 1), sizeof v[k].answer);
        k++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = -EIO;
    conn_done(st);
    if (rc)
        free(v);
    *out = rc ? NULL : v;
    *n = rc ? 0 : k;
    return rc;
}

/* The comparison a human verdict adds to the training set. */
static int write_comparison(struct conn *c, const struct task_row *t, const struct agg_outcome *o,
                            const char *provenance, int64_t now)
{
    struct store_comparison cmp = {.prompt = t->prompt,
                                   .source = "human",
                                   .weight = o->agreement,
                                   .layer_id = t->layer_id,
                                   .item_seq = t->item_seq,
                                   .provenance = provenance};
    if (!strcmp(t->kind, "pair")) {
        cmp.chosen = o->b_won ? t->b : t->a;
        cmp.rejected = o->b_won ? t->a : t->b;
        cmp.tie = o->tie;
    } else {
        cmp.chosen = t->a;
        cmp.label = o->verdict;
    }
    return store_comparison_insert(c, &cmp, now);
}

/* Closes a task and writes its item's verdict. Leases other raters still
 * hold end here (an overlap lowered under them); their labels are
 * answered task_complete. 0 or -EIO. */
static int close_task(struct conn *c, int64_t task_id, const struct task_row *t,
                      const struct agg_outcome *o, int64_t now)
{
    int rc = run_id(c, ST_LEASES_DROP, task_id);
    rc = rc ? rc : run_id(c, ST_TASK_DONE, task_id);
    sqlite3_stmt *st = rc ? NULL : conn_stmt(c, ST_ITEM_RESOLVE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, t->item_seq);
    sqlite3_bind_text(st, 2, o->verdict, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, o->agreement);
    sqlite3_bind_int64(st, 4, now);
    return step_done(st);
}

/* A task has its labels: the aggregation rules decide, and the store
 * writes what they decide (one more label wanted, or the verdict with its
 * comparison and provenance). */
static int resolve(struct store *s, struct conn *c, int64_t task_id, const struct task_row *t,
                   struct store_label *l, int64_t now)
{
    struct agg_label *labels;
    size_t n;
    struct agg_outcome o;
    char *prov = NULL;
    int rc = labels_read(c, task_id, &labels, &n);
    if (rc)
        return rc;
    rc = aggregate_labels(!strcmp(t->kind, "pair"), labels, n, s->tasks->split_extra, t->extra_used,
                          &o)
             ? -EIO
             : 0;
    if (!rc && o.action == AGG_EXTRA_LABEL) {
        rc = run_id(c, ST_TASK_EXTRA_LABEL, task_id);
        s->tasks->changed = s->tasks->changed || !rc;
        goto out;
    }
    rc = rc ? rc : close_task(c, task_id, t, &o, now);
    if (!rc && o.comparison) {
        prov = aggregate_provenance(labels, n, o.agreement, t->scores);
        rc = prov ? write_comparison(c, t, &o, prov, now) : -ENOMEM;
    }
    if (!rc) {
        s->tasks->open--;
        l->resolved = true;
        util_strlcpy(l->verdict, o.verdict, sizeof l->verdict);
    }
out:
    free(prov);
    free(labels);
    return rc;
}

/* Deletes the rater's lease on a task; reports whether there was one and
 * whether it was still live. 0 or -EIO. */
static int lease_take(struct conn *c, int64_t task_id, int64_t rater_id, bool *had, bool *live)
{
    sqlite3_stmt *st = conn_stmt(c, ST_LEASE_DELETE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, rater_id);
    int rc = sqlite3_step(st);
    *had = rc == SQLITE_ROW;
    *live = *had && sqlite3_column_int(st, 0) != 0;
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* The rater's earlier answer on the task into prev ("" when none). 0 or
 * -EIO. */
static int label_previous(struct conn *c, int64_t task_id, int64_t rater_id, char prev[8])
{
    sqlite3_stmt *st = conn_stmt(c, ST_LABEL_GET);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, rater_id);
    int rc = sqlite3_step(st);
    util_strlcpy(prev, rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "", 8);
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* Gathers what label_admissible() needs: the rater's earlier answer and
 * lease (taken: a counted label no longer holds it; a refused one is
 * rolled back). 0 or -EIO. */
static int label_check(struct conn *c, const struct task_row *t, struct store_label *l,
                       bool *was_live)
{
    char prev[8];
    bool had = false;
    *was_live = false;
    int rc = label_previous(c, l->task_id, l->rater_id, prev);
    if (!rc && !prev[0])
        rc = lease_take(c, l->task_id, l->rater_id, &had, was_live);
    if (rc)
        return rc;
    struct label_facts f = {.kind = t->kind,
                            .answer = l->answer,
                            .previous = prev[0] ? prev : NULL,
                            .gold = t->gold,
                            .open = t->open,
                            .served = had,
                            .lease_live = *was_live,
                            .overlap = t->overlap,
                            .labels_done = t->labels_done,
                            .leased = t->leased - *was_live};
    l->result = label_admissible(&f);
    return 0;
}

/* Writes a counted label and the rater's counts. 0 or -EIO. */
static int label_insert(struct conn *c, const struct task_row *t, const struct store_label *l,
                        int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, ST_LABEL_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, l->task_id);
    sqlite3_bind_int64(st, 2, l->rater_id);
    sqlite3_bind_text(st, 3, l->answer, -1, SQLITE_STATIC);
    if (l->confidence)
        sqlite3_bind_int(st, 4, l->confidence);
    bind_text_or_null(st, 5, l->rationale);
    if (l->seconds >= 0)
        sqlite3_bind_double(st, 6, l->seconds);
    bind_text_or_null(st, 7, t->scores);
    sqlite3_bind_int64(st, 8, now);
    int rc = step_done(st);
    st = rc ? NULL : conn_stmt(c, ST_RATER_COUNT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, l->rater_id);
    sqlite3_bind_int(st, 2, t->gold);
    sqlite3_bind_int(st, 3, t->gold && aggregate_gold_right(t->gold_answer, l->answer));
    return step_done(st);
}

static int label_job(struct store *s, struct conn *c, void *arg)
{
    struct store_label *l = arg;
    int64_t now = util_now_ms();
    struct task_row t;
    bool was_live;
    l->resolved = false;
    int rc = task_get(c, l->task_id, &t);
    if (rc == -ENOENT) {
        l->result = LABEL_NO_TASK;
        rc = 0;
        goto out;
    }
    rc = rc ? rc : label_check(c, &t, l, &was_live);
    if (rc || l->result != LABEL_RECORDED)
        goto out;
    if (was_live)
        rc = leased_add(c, l->task_id, -1);
    rc = rc ? rc : label_insert(c, &t, l, now);
    /* Gold scores the rater and never resolves the item. */
    if (rc || t.gold)
        goto out;
    rc = run_id(c, ST_TASK_LABELLED, l->task_id);
    if (!rc && aggregate_complete(t.labels_done + 1, t.overlap))
        rc = resolve(s, c, l->task_id, &t, l, now);
out:
    task_row_free(&t);
    /* A refused label must change nothing, not even the lease it found:
     * STORE_ROLLBACK rolls this job's savepoint back. */
    if (rc == 0 && l->result != LABEL_RECORDED && l->result != LABEL_REPEAT)
        rc = STORE_ROLLBACK;
    return rc;
}

int store_task_label_submit(struct store *s, struct store_label *l, store_done_fn done, void *cls)
{
    return store_submit(s, label_job, l, &l->rc, done, cls);
}

int store_task_label(struct store *s, struct store_label *l)
{
    l->rc = store_run(s, label_job, l);
    return l->rc;
}

static int release_job(struct store *s, struct conn *c, void *arg)
{
    struct store_release *a = arg;
    bool had = false, live = false;
    int rc = lease_take(c, a->task_id, a->rater_id, &had, &live);
    if (rc)
        return rc;
    if (!had)
        return -ENOENT;
    if (live && (rc = leased_add(c, a->task_id, -1)))
        return rc;
    sqlite3_stmt *st = conn_stmt(c, ST_SKIP_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, a->task_id);
    sqlite3_bind_int64(st, 2, a->rater_id);
    if ((rc = step_done(st)))
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

/* ---- gold, overlap, raters ---- */

struct gold_args {
    const char *item_id, *answer;
    int64_t seq, priority;
    char kind[8];
};

/* Finds the item of a gold request. 0, -ENOENT, -EIO. */
static int gold_item(struct conn *c, struct gold_args *g)
{
    sqlite3_stmt *st = conn_stmt(c, ST_ITEM_BY_UUID);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, g->item_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        g->seq = sqlite3_column_int64(st, 0);
        util_strlcpy(g->kind, (const char *)sqlite3_column_text(st, 1), sizeof g->kind);
        g->priority = sqlite3_column_int64(st, 2);
    }
    conn_done(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* Binds (item seq, answer, now) and runs. 0 or -EIO. */
static int run_item_answer(struct conn *c, enum stmt_id id, const struct gold_args *g, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, g->seq);
    sqlite3_bind_text(st, 2, g->answer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    return step_done(st);
}

static int gold_job(struct store *s, struct conn *c, void *arg)
{
    struct gold_args *g = arg;
    int rc = gold_item(c, g);
    if (rc)
        return rc;
    if (!aggregate_answer_fits(g->kind, g->answer))
        return -EINVAL;
    int64_t now = util_now_ms();
    rc = run_item_answer(c, ST_ITEM_SET_GOLD, g, now);
    /* The admin's known answer settles the item; its task now only scores
     * raters, so it would otherwise wait for a verdict forever. */
    rc = rc ? rc : run_item_answer(c, ST_ITEM_GOLD_RESOLVE, g, now);
    rc = rc ? rc : run_id(c, ST_TASKS_SET_GOLD, g->seq);
    if (!rc && sqlite3_changes(c->db) == 0) {
        /* An item the layer settled: give it a gold task of its own. */
        sqlite3_stmt *st = conn_stmt(c, ST_GOLD_TASK_INSERT);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, g->seq);
        sqlite3_bind_text(st, 2, g->kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, g->priority);
        sqlite3_bind_int64(st, 4, now);
        rc = step_done(st);
    }
    if (rc)
        return rc;
    s->tasks->changed = true;
    return recount(s, c);
}

int store_item_set_gold(struct store *s, const char *item_id, const char *answer)
{
    struct gold_args g = {.item_id = item_id, .answer = answer};
    return store_run(s, gold_job, &g);
}

struct overlap_args {
    const char *scope, *value;
    int overlap;
};

static int overlap_job(struct store *s, struct conn *c, void *arg)
{
    struct overlap_args *o = arg;
    sqlite3_stmt *st = conn_stmt(c, ST_OVERLAP_UPSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, o->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->value, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, o->overlap);
    int rc = step_done(st);
    if (rc)
        return rc;
    st =
        conn_stmt(c, !strcmp(o->scope, "batch") ? ST_OVERLAP_APPLY_BATCH : ST_OVERLAP_APPLY_DOMAIN);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, o->value, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, o->overlap);
    rc = step_done(st);
    if (!rc)
        s->tasks->changed = true;
    return rc;
}

int store_overlap_set(struct store *s, const char *scope, const char *value, int overlap)
{
    if ((strcmp(scope, "batch") && strcmp(scope, "domain")) || overlap < 1 || overlap > 100)
        return -EINVAL;
    struct overlap_args o = {scope, value, overlap};
    return store_run(s, overlap_job, &o);
}

int store_raters(struct store *s, struct store_rater **raters, size_t *n)
{
    struct conn *c = store_reader(s);
    struct store_rater *v = NULL;
    size_t cap = 0, k = 0;
    int rc = 0, step = SQLITE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, ST_RATERS);
    while (st && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = store_grow((void **)&v, &cap, k, sizeof *v)))
            break;
        struct store_rater *r = &v[k++];
        util_strlcpy(r->name, (const char *)sqlite3_column_text(st, 0), sizeof r->name);
        util_strlcpy(r->role, (const char *)sqlite3_column_text(st, 1), sizeof r->role);
        r->labels = sqlite3_column_int64(st, 2);
        r->gold_seen = sqlite3_column_int64(st, 3);
        r->gold_right = sqlite3_column_int64(st, 4);
    }
    if (!rc && step != SQLITE_DONE)
        rc = -EIO;
    conn_done(st);
    store_reader_put(s, c);
    if (rc)
        free(v);
    *raters = rc ? NULL : v;
    *n = rc ? 0 : k;
    return rc;
}
