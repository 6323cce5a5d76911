/* Human review in the store: claiming tasks under leases, labels with
 * majority resolution, gold items, overlap rules. All of it runs on the
 * writer thread, so a claim and a label never race each other: the slot
 * arithmetic (labels_done + leased < overlap) is checked and changed in
 * the same serialised transaction. */
#include "store_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_tasks_recount(struct store *s, struct conn *c)
{
    sqlite3_stmt *st = conn_stmt(c, ST_OPEN_COUNT);
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        conn_done(st);
        return -EIO;
    }
    s->open_tasks = sqlite3_column_int64(st, 0);
    conn_done(st);
    return 0;
}

static int step_done(sqlite3_stmt *st)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

static int leased_add(struct conn *c, int64_t task_id, int delta)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_LEASED_ADD);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, delta);
    return step_done(st);
}

/* Marks the leases expired by now (kept as markers that the task was
 * served) and frees their slots. Returns how many, or -EIO. */
static int reap(struct store *s, struct conn *c, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, ST_REAP);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, now);
    int64_t ids[256];
    int n = 0, rc;
    /* RETURNING rows are all computed on the first step; the slot updates
     * follow once the statement is done. Past 256 expired leases at once,
     * the lease counts are recomputed from the table instead. */
    int64_t extra = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < 256)
            ids[n++] = sqlite3_column_int64(st, 0);
        else
            extra++;
    }
    conn_done(st);
    if (rc != SQLITE_DONE)
        return -EIO;
    if (extra) {
        /* Rare: recompute the lease counts from the leases table. */
        sqlite3_stmt *fix = conn_stmt(c, ST_LEASED_RECOUNT);
        if (step_done(fix))
            return -EIO;
    } else {
        for (int i = 0; i < n; i++)
            if (leased_add(c, ids[i], -1))
                return -EIO;
    }
    if (n)
        s->tasks_changed = true;
    return n + (int)extra;
}

void store_reap_idle(struct store *s)
{
    struct conn *c = &s->writer;
    if (conn_run(c, ST_BEGIN))
        return;
    int n = reap(s, c, util_now_ms());
    if (n < 0 || conn_run(c, ST_COMMIT)) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        s->tasks_changed = false;
        return;
    }
    if (s->tasks_changed) {
        s->tasks_changed = false;
        atomic_fetch_add(&s->task_gen, 1);
        if (s->task_hook)
            s->task_hook(s->task_hook_cls);
    }
}

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

static json_t *task_view(struct store *s, struct conn *c, int64_t task_id, int64_t rater_id)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_VIEW);
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, rater_id);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = json_object();
        json_object_set_new(o, "id", json_integer(task_id));
        json_set_column(o, "kind", st, 1, false);
        json_set_column(o, "prompt", st, 2, false);
        if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
            json_set_column(o, "response", st, 3, false);
        } else {
            json_t *pair = json_array();
            json_array_append_new(pair, json_string((const char *)sqlite3_column_text(st, 3)));
            json_array_append_new(pair, json_string((const char *)sqlite3_column_text(st, 4)));
            json_object_set_new(o, "responses", pair);
        }
        /* The layer's view, as assistance: its preference and confidence. */
        json_t *assist = json_null();
        if (sqlite3_column_type(st, 5) == SQLITE_TEXT) {
            json_t *sc = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
            json_t *pref = json_object_get(sc, "preference");
            if (json_is_string(pref))
                assist = json_pack("{s:O,s:O,s:O}", "preference", pref, "confidence",
                                   json_object_get(sc, "confidence"), "layer_id",
                                   json_object_get(sc, "layer"));
            if (!assist)
                assist = json_null();
            json_decref(sc);
        }
        json_object_set_new(o, "assistance", assist);
        json_object_set_new(o, "lease_expires_ms", json_integer(sqlite3_column_int64(st, 6)));
        json_object_set_new(o, "lease_seconds", json_integer(s->lease_ms / 1000));
        json_object_set_new(o, "remaining", json_integer(s->open_tasks));
    }
    conn_done(st);
    return o;
}

static int claim_job(struct store *s, struct conn *c, void *arg)
{
    struct store_claim *cl = arg;
    int64_t now = util_now_ms();
    cl->task = NULL;
    cl->generation = atomic_load(&s->task_gen);
    if (reap(s, c, now) < 0)
        return -EIO;
    int64_t task = pick(c, ST_LEASE_HELD, cl->rater_id, now);
    bool fresh = false;
    if (task == 0 && s->gold_rate_pct && randombytes_uniform(100) < s->gold_rate_pct) {
        task = pick(c, ST_TASK_PICK_GOLD, cl->rater_id, now);
        fresh = task > 0;
    }
    if (task == 0) {
        task = pick(c, ST_TASK_PICK, cl->rater_id, now);
        fresh = task > 0;
    }
    if (task < 0)
        return (int)task;
    if (task == 0)
        return 0;
    sqlite3_stmt *st = conn_stmt(c, ST_LEASE_INSERT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task);
    sqlite3_bind_int64(st, 2, cl->rater_id);
    sqlite3_bind_int64(st, 3, now + s->lease_ms);
    int rc = step_done(st);
    if (!rc && fresh)
        rc = leased_add(c, task, 1);
    if (rc)
        return rc;
    cl->task = task_view(s, c, task, cl->rater_id);
    return cl->task ? 0 : -EIO;
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

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void task_row_free(struct task_row *t)
{
    free(t->scores);
    free(t->gold_answer);
    free(t->prompt);
    free(t->a);
    free(t->b);
}

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
        t->scores = col_dup(st, 7);
        t->gold_answer = col_dup(st, 8);
        t->prompt = col_dup(st, 9);
        t->a = col_dup(st, 10);
        t->b = col_dup(st, 11);
        t->layer_id = sqlite3_column_int64(st, 12);
        t->extra_used = sqlite3_column_int(st, 13) != 0;
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
    }
    conn_done(st);
    return rc;
}

static bool answer_fits(const char *kind, const char *answer)
{
    if (!strcmp(kind, "pair"))
        return !strcmp(answer, "a") || !strcmp(answer, "b") || !strcmp(answer, "tie");
    return !strcmp(answer, "good") || !strcmp(answer, "bad");
}

/* Majority of the task's labels: writes the verdict, the item's status
 * and the comparison rows that train the next layer. */
static int resolve(struct store *s, struct conn *c, int64_t task_id, const struct task_row *t,
                   struct store_label *l, int64_t now)
{
    sqlite3_stmt *st = conn_stmt(c, ST_TASK_LABELS);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, task_id);
    int n_a = 0, n_b = 0, n_tie = 0, n_good = 0, n_bad = 0, total = 0;
    json_t *raters = json_array(), *answers = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *ans = (const char *)sqlite3_column_text(st, 1);
        json_array_append_new(raters, json_integer(sqlite3_column_int64(st, 0)));
        json_array_append_new(answers, json_string(ans));
        n_a += !strcmp(ans, "a");
        n_b += !strcmp(ans, "b");
        n_tie += !strcmp(ans, "tie");
        n_good += !strcmp(ans, "good");
        n_bad += !strcmp(ans, "bad");
        total++;
    }
    conn_done(st);
    if (rc != SQLITE_DONE || total == 0) {
        json_decref(raters);
        json_decref(answers);
        return -EIO;
    }
    const char *verdict;
    int top;
    bool pair = !strcmp(t->kind, "pair");
    /* A split: no answer has more labels than every other. */
    bool split = pair ? !((n_a > n_b && n_a > n_tie) || (n_b > n_a && n_b > n_tie) ||
                          (n_tie > n_a && n_tie > n_b))
                      : n_good == n_bad;
    if (split && s->split_extra && !t->extra_used) {
        /* Configured to break splits: the task wants one more label. */
        json_decref(raters);
        json_decref(answers);
        st = conn_stmt(c, ST_TASK_EXTRA_LABEL);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, task_id);
        rc = step_done(st);
        if (!rc)
            s->tasks_changed = true;
        return rc;
    }
    if (pair) {
        /* A split between a and b (or a tie majority) is a tie. */
        if (n_a > n_b && n_a > n_tie) {
            verdict = "a";
            top = n_a;
        } else if (n_b > n_a && n_b > n_tie) {
            verdict = "b";
            top = n_b;
        } else {
            verdict = "tie";
            top = n_tie > n_a ? n_tie : n_a;
            if (n_b > top)
                top = n_b;
        }
    } else {
        verdict = n_good > n_bad ? "good" : n_bad > n_good ? "bad" : "unsure";
        top = n_good > n_bad ? n_good : n_bad;
    }
    double agreement = (double)top / total;
    util_strlcpy(l->verdict, verdict, sizeof l->verdict);

    /* Done: leases other raters still hold end here (an overlap lowered
     * under them); their labels are answered task_complete. */
    st = conn_stmt(c, ST_LEASES_DROP);
    if (st)
        sqlite3_bind_int64(st, 1, task_id);
    rc = step_done(st);
    st = rc ? NULL : conn_stmt(c, ST_TASK_DONE);
    if (st)
        sqlite3_bind_int64(st, 1, task_id);
    rc = rc ? rc : step_done(st);
    st = rc ? NULL : conn_stmt(c, ST_ITEM_RESOLVE);
    if (st) {
        sqlite3_bind_int64(st, 1, t->item_seq);
        sqlite3_bind_text(st, 2, verdict, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, agreement);
        sqlite3_bind_int64(st, 4, now);
        rc = step_done(st);
    }
    json_t *prov =
        json_pack("{s:o,s:o,s:f}", "raters", raters, "answers", answers, "agreement", agreement);
    json_t *assist = t->scores ? json_loads(t->scores, 0, NULL) : NULL;
    json_object_set_new(prov, "assistance", assist ? assist : json_null());
    char *prov_text = json_dumps(prov, JSON_COMPACT);
    json_decref(prov);
    if (!rc && strcmp(verdict, "unsure") != 0) {
        struct store_comparison cmp = {.prompt = t->prompt,
                                       .source = "human",
                                       .weight = agreement,
                                       .layer_id = t->layer_id,
                                       .item_seq = t->item_seq,
                                       .provenance = prov_text};
        if (pair) {
            bool b_won = !strcmp(verdict, "b");
            cmp.chosen = b_won ? t->b : t->a;
            cmp.rejected = b_won ? t->a : t->b;
            cmp.tie = !strcmp(verdict, "tie");
        } else {
            cmp.chosen = t->a;
            cmp.label = verdict;
        }
        rc = store_comparison_insert(c, &cmp, now);
    }
    free(prov_text);
    if (!rc) {
        s->open_tasks--;
        l->resolved = true;
    }
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

static int label_job(struct store *s, struct conn *c, void *arg)
{
    struct store_label *l = arg;
    int64_t now = util_now_ms();
    l->resolved = false;
    struct task_row t;
    int rc = task_get(c, l->task_id, &t);
    if (rc == -ENOENT) {
        l->result = LABEL_NO_TASK;
        return STORE_ROLLBACK;
    }
    if (rc)
        return rc;
    if (!answer_fits(t.kind, l->answer)) {
        l->result = LABEL_BAD_ANSWER;
        goto out;
    }
    /* Idempotent per task and rater. */
    sqlite3_stmt *st = conn_stmt(c, ST_LABEL_GET);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, l->task_id);
    sqlite3_bind_int64(st, 2, l->rater_id);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        bool same = !strcmp((const char *)sqlite3_column_text(st, 0), l->answer);
        conn_done(st);
        l->result = same ? LABEL_REPEAT : LABEL_CONFLICT;
        goto out;
    }
    conn_done(st);
    if (step != SQLITE_DONE) {
        rc = -EIO;
        goto out;
    }

    /* The rater's lease on the task: live, or expired (kept as a marker
     * that the task was served to this rater). */
    bool had_lease = false, was_live = false;
    rc = lease_take(c, l->task_id, l->rater_id, &had_lease, &was_live);
    if (rc)
        goto out;
    if (!had_lease) {
        l->result = t.gold || t.open ? LABEL_NOT_SERVED : LABEL_TASK_COMPLETE;
        goto out;
    }
    if (was_live) {
        if ((rc = leased_add(c, l->task_id, -1)))
            goto out;
        t.leased--;
    }
    if (!t.gold && !t.open) {
        l->result = LABEL_TASK_COMPLETE;
        goto out;
    }
    /* A label after its lease expired still counts while the task has a
     * free slot. */
    if (!t.gold && !was_live && t.labels_done + t.leased >= t.overlap) {
        l->result = LABEL_LEASE_LOST;
        goto out;
    }
    st = conn_stmt(c, ST_LABEL_INSERT);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, l->task_id);
    sqlite3_bind_int64(st, 2, l->rater_id);
    sqlite3_bind_text(st, 3, l->answer, -1, SQLITE_STATIC);
    if (l->confidence)
        sqlite3_bind_int(st, 4, l->confidence);
    bind_text_or_null(st, 5, l->rationale);
    if (l->seconds >= 0)
        sqlite3_bind_double(st, 6, l->seconds);
    bind_text_or_null(st, 7, t.scores);
    sqlite3_bind_int64(st, 8, now);
    if ((rc = step_done(st)))
        goto out;
    bool right = t.gold && t.gold_answer && !strcmp(t.gold_answer, l->answer);
    st = conn_stmt(c, ST_RATER_COUNT);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, l->rater_id);
    sqlite3_bind_int(st, 2, t.gold);
    sqlite3_bind_int(st, 3, right);
    if ((rc = step_done(st)))
        goto out;
    l->result = LABEL_RECORDED;
    if (t.gold)
        goto out; /* gold scores the rater and never resolves the item */
    st = conn_stmt(c, ST_TASK_LABELLED);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    sqlite3_bind_int64(st, 1, l->task_id);
    if ((rc = step_done(st)))
        goto out;
    if (t.labels_done + 1 >= t.overlap)
        rc = resolve(s, c, l->task_id, &t, l, now);
out:
    task_row_free(&t);
    /* A refused label must change nothing, not even the lease it found:
     * a positive result rolls this job's savepoint back. */
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
    s->tasks_changed = true;
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
};

static int gold_job(struct store *s, struct conn *c, void *arg)
{
    struct gold_args *g = arg;
    sqlite3_stmt *st = conn_stmt(c, ST_ITEM_BY_UUID);
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, g->item_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        conn_done(st);
        return -ENOENT;
    }
    int64_t seq = sqlite3_column_int64(st, 0);
    char kind[8];
    util_strlcpy(kind, (const char *)sqlite3_column_text(st, 1), sizeof kind);
    int64_t prio = sqlite3_column_int64(st, 2);
    conn_done(st);
    if (!answer_fits(kind, g->answer))
        return -EINVAL;
    int64_t now = util_now_ms();
    st = conn_stmt(c, ST_ITEM_SET_GOLD);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, g->answer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    int rc = step_done(st);
    /* The admin's known answer settles the item; its task now only scores
     * raters, so it would otherwise wait for a verdict forever. */
    st = rc ? NULL : conn_stmt(c, ST_ITEM_GOLD_RESOLVE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, g->answer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    if ((rc = step_done(st)))
        return rc;
    st = rc ? NULL : conn_stmt(c, ST_TASKS_SET_GOLD);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    if ((rc = step_done(st)))
        return rc;
    if (sqlite3_changes(c->db) == 0) {
        /* An item the layer settled: give it a gold task of its own. */
        st = conn_stmt(c, ST_GOLD_TASK_INSERT);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, prio);
        sqlite3_bind_int64(st, 4, now);
        if ((rc = step_done(st)))
            return rc;
    }
    s->tasks_changed = true;
    return store_tasks_recount(s, c);
}

int store_item_set_gold(struct store *s, const char *item_id, const char *answer)
{
    struct gold_args g = {item_id, answer};
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
        s->tasks_changed = true;
    return rc;
}

int store_overlap_set(struct store *s, const char *scope, const char *value, int overlap)
{
    if ((strcmp(scope, "batch") && strcmp(scope, "domain")) || overlap < 1 || overlap > 100)
        return -EINVAL;
    struct overlap_args o = {scope, value, overlap};
    return store_run(s, overlap_job, &o);
}

json_t *store_raters(struct store *s)
{
    struct conn *c = store_reader(s);
    json_t *arr = json_array();
    sqlite3_stmt *st = conn_stmt(c, ST_RATERS);
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        int64_t seen = sqlite3_column_int64(st, 3), right = sqlite3_column_int64(st, 4);
        json_t *o = json_object();
        json_set_column(o, "name", st, 0, false);
        json_set_column(o, "role", st, 1, false);
        json_set_column(o, "labels", st, 2, false);
        json_object_set_new(o, "gold_seen", json_integer(seen));
        json_object_set_new(o, "gold_right", json_integer(right));
        json_object_set_new(o, "gold_accuracy",
                            seen ? json_real((double)right / seen) : json_null());
        json_array_append_new(arr, o);
    }
    conn_done(st);
    store_reader_put(s, c);
    return arr;
}
