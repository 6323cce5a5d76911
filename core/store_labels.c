/* Labels in the store: a rater's label checked and written, a completed
 * task resolved, gold items, the raters' counts. Runs on the writer
 * thread inside the group transaction (see store_tasks.c). Which label
 * counts and what labels decide are not decided here: aggregate.c's rules
 * are asked, and this file writes what they answer. */
#include "store_internal.h"
#include "rollup.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- labels ---- */

struct task_row {
    char kind[8];
    bool open;
    int overlap, labels_done, leased;
    bool gold;
    bool extra_used; /* a split already added a label */
    char assist[8];  /* the batch's assistance mode: shown | after | hidden */
    int64_t item_seq;
    int64_t layer_id;
    char *scores, *gold_answer, *prompt, *a, *b; /* owned copies */
    int64_t subq_id;                             /* a sub-question task (store_subq.c), else 0 */
    bool audit; /* an audit of the layer's verdict: its labels never change the item */
    bool blind; /* shown without assistance: no assistance is kept with its labels */
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
static int task_row_texts(struct dbst *st, struct task_row *t)
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
    struct dbst *st = conn_stmt(c, ST_TASK_GET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        util_strlcpy(t->kind, col_text(st, 0), sizeof t->kind);
        t->open = !strcmp(col_text(st, 1), "open");
        t->overlap = col_int(st, 2);
        t->labels_done = col_int(st, 3);
        t->leased = col_int(st, 4);
        t->gold = col_int(st, 5) != 0;
        t->item_seq = col_int64(st, 6);
        t->layer_id = col_int64(st, 12);
        t->extra_used = col_int(st, 13) != 0;
        util_strlcpy(t->assist, col_text(st, 14), sizeof t->assist);
        t->audit = col_int(st, 15) != 0;
        t->blind = col_int(st, 16) != 0;
        rc = task_row_texts(st, t);
    } else {
        rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
    }
    conn_done(st);
    return rc;
}

/* Reads a task's labels, in the order given, into a malloc'd array *out
 * of *n (caller frees). 0, -ENOMEM, -EIO. */
static int label_row_read(struct dbst *st, void *elem)
{
    struct agg_label *l = elem;
    l->rater_id = col_int64(st, 0);
    util_strlcpy(l->answer, col_text(st, 1), sizeof l->answer);
    return 0;
}

static int labels_read(struct conn *c, int64_t task_id, struct agg_label **out, size_t *n)
{
    static const struct rows_spec spec = {sizeof **out, SIZE_MAX, label_row_read, NULL};
    struct dbst *st = conn_stmt(c, ST_TASK_LABELS);
    if (st)
        bind_int64(st, 1, task_id);
    struct rows rows;
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    *out = rows.v;
    *n = rows.n;
    return rc;
}

/* The comparison a human verdict adds to the training set: source human,
 * or audit for the verdict of people on an audited item. */
static int write_comparison(struct conn *c, const struct task_row *t, const struct agg_outcome *o,
                            const char *provenance, int64_t now)
{
    struct store_comparison cmp = {.prompt = t->prompt,
                                   .source = t->audit ? "audit" : "human",
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

/* Writes an item's human verdict (resolved, with the agreement as its
 * confidence). 0 or -EIO. */
static int item_resolve(struct conn *c, int64_t seq, const struct agg_outcome *o, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_RESOLVE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    bind_text(st, 2, o->verdict, -1, SQLITE_STATIC);
    bind_double(st, 3, o->agreement);
    bind_int64(st, 4, now);
    return conn_step_done(st);
}

/* Writes a human verdict: the item's verdict and, when it trains the next
 * layer, its comparison with the labels' provenance. 0, -ENOMEM, -EIO. */
static int verdict_write(struct conn *c, const struct task_row *t, const struct agg_label *labels,
                         size_t n, const struct agg_outcome *o, int64_t now)
{
    int rc = item_resolve(c, t->item_seq, o, now);
    if (rc || !o->comparison)
        return rc;
    char *prov = aggregate_provenance(labels, n, o->agreement, t->scores);
    rc = prov ? write_comparison(c, t, o, prov, now) : -ENOMEM;
    free(prov);
    return rc;
}

/* An audit's labels decided: the audit's outcome (store_audit.c) and
 * people's verdict as a comparison of source audit, which trains the next
 * layer like any human verdict. The item itself (route, status, verdict)
 * is never touched. The task was blind: no assistance in the provenance.
 * 0, -ENOMEM, -EIO. */
static int audit_write(struct store *s, struct conn *c, int64_t task_id, const struct task_row *t,
                       const struct agg_label *labels, size_t n, const struct agg_outcome *o,
                       int64_t now)
{
    int rc = store_audit_decided(s, c, task_id, o->verdict, now);
    if (rc || !o->comparison)
        return rc;
    char *prov = aggregate_provenance(labels, n, o->agreement, NULL);
    rc = prov ? write_comparison(c, t, o, prov, now) : -ENOMEM;
    free(prov);
    return rc;
}

/* Closes a task. Leases other raters still hold end here (an overlap
 * lowered under them); their labels are answered task_complete. 0 or
 * -EIO. */
static int close_task(struct conn *c, int64_t task_id)
{
    int rc = conn_run_id(c, ST_LEASES_DROP, task_id);
    return rc ? rc : conn_run_id(c, ST_TASK_DONE, task_id);
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
    int rc = labels_read(c, task_id, &labels, &n);
    if (rc)
        return rc;
    bool pair = !strcmp(t->kind, "pair");
    if (aggregate_labels(pair, labels, n, s->tasks->split_extra, t->extra_used, &o)) {
        rc = -EIO; /* no labels, or an answer the table should not hold */
        goto out;
    }
    if (o.action == AGG_EXTRA_LABEL) {
        rc = conn_run_id(c, ST_TASK_EXTRA_LABEL, task_id);
        s->tasks->changed = s->tasks->changed || !rc;
        goto out;
    }
    rc = close_task(c, task_id);
    /* An audit's labels measure the layer and never change the item. */
    if (!rc)
        rc = t->audit ? audit_write(s, c, task_id, t, labels, n, &o, now)
                      : verdict_write(c, t, labels, n, &o, now);
    if (!rc) {
        s->tasks->open--;
        l->resolved = true;
        util_strlcpy(l->verdict, o.verdict, sizeof l->verdict);
    }
out:
    free(labels);
    return rc;
}

/* A rater's earlier label on a task. */
struct prev_label {
    char answer[8];     /* item order; "" when none */
    bool swapped;       /* the order the task was shown in */
    int64_t created_ms; /* when it was given */
    bool last;          /* it is the rater's latest label */
};

/* The rater's earlier label on the task into *p. 0 or -EIO. */
static int label_previous(struct conn *c, int64_t task_id, int64_t rater_id, struct prev_label *p)
{
    memset(p, 0, sizeof *p);
    struct dbst *st = conn_stmt(c, ST_LABEL_GET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_int64(st, 2, rater_id);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        util_strlcpy(p->answer, col_text(st, 0), sizeof p->answer);
        p->swapped = col_int(st, 1) != 0;
        p->created_ms = col_int64(st, 2);
        p->last = col_int(st, 3) != 0;
    }
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* Gathers what label_admissible() needs: the rater's earlier label and
 * lease (taken: a counted label no longer holds it; a refused one is
 * rolled back), and the order the task was shown in, which maps the
 * answer into the item's order (*answer, static). 0 or -EIO. */
static int label_check(struct store *s, struct conn *c, const struct task_row *t,
                       struct store_label *l, bool *was_live, const char **answer, int64_t now)
{
    struct prev_label prev;
    bool had = false, swapped = false;
    *was_live = false;
    int rc = label_previous(c, l->task_id, l->rater_id, &prev);
    if (!rc && !prev.answer[0])
        rc = store_lease_take(c, l->task_id, l->rater_id, &had, was_live, &swapped);
    if (rc)
        return rc;
    l->swapped = (prev.answer[0] ? prev.swapped : swapped) && !strcmp(t->kind, "pair");
    l->label_ms = prev.answer[0] ? prev.created_ms : now;
    util_strlcpy(l->previous, prev.answer, sizeof l->previous);
    *answer = aggregate_answer_unswap(l->answer, l->swapped);
    struct label_facts f = {.kind = t->kind,
                            .answer = *answer,
                            .previous = prev.answer[0] ? prev.answer : NULL,
                            .gold = t->gold,
                            .open = t->open,
                            .served = had,
                            .lease_live = *was_live,
                            .overlap = t->overlap,
                            .labels_done = t->labels_done,
                            .leased = t->leased - *was_live,
                            .previous_last = prev.last,
                            .previous_age_ms = now - prev.created_ms,
                            /* Undo is for whole-item tasks: a sub-question's answer may
                             * already have rolled the item up. */
                            .undo_ms = t->subq_id ? 0 : s->tasks->undo_ms};
    l->result = t->subq_id ? rollup_label_admissible(&f) : label_admissible(&f);
    return 0;
}

/* Binds a label's task, rater, answer (item order), confidence,
 * rationale and seconds to ?1..?6 of st (NULL passes through). Returns
 * st. */
static struct dbst *label_bind(struct dbst *st, const struct store_label *l, const char *answer)
{
    if (!st)
        return NULL;
    bind_int64(st, 1, l->task_id);
    bind_int64(st, 2, l->rater_id);
    bind_text(st, 3, answer, -1, SQLITE_STATIC);
    if (l->confidence)
        bind_int(st, 4, l->confidence);
    bind_text_or_null(st, 5, l->rationale);
    if (l->seconds >= 0)
        bind_double(st, 6, l->seconds);
    return st;
}

/* Writes a counted label (answer in the item's order) and the rater's
 * counts. The assistance kept with it is what the rater saw before
 * answering: the layer's scores in mode shown, else none. 0 or -EIO. */
static int label_insert(struct conn *c, const struct task_row *t, const struct store_label *l,
                        const char *answer, int64_t now)
{
    struct dbst *st = label_bind(conn_stmt(c, ST_LABEL_INSERT), l, answer);
    if (!st)
        return -EIO;
    bind_text_or_null(st, 7, strcmp(t->assist, "shown") || t->blind ? NULL : t->scores);
    bind_int64(st, 8, now);
    bind_int(st, 9, l->swapped);
    int rc = conn_step_done(st);
    st = rc ? NULL : conn_stmt(c, ST_RATER_COUNT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, l->rater_id);
    bind_int(st, 2, t->gold);
    bind_int(st, 3, t->gold && aggregate_gold_right(t->gold_answer, answer));
    return conn_step_done(st);
}

/* ---- the undo rule: a changed label ---- */

/* Records the change of a label as an event, with the old answer. 0,
 * -ENOMEM, -EIO. */
static int replace_event(struct conn *c, const struct store_label *l, const char *answer,
                         int64_t now)
{
    char subject[32];
    snprintf(subject, sizeof subject, "task:%lld", (long long)l->task_id);
    json_t *d = json_pack("{s:I,s:I,s:s,s:s,s:b,s:I,s:o}", "task_id", (json_int_t)l->task_id,
                          "rater_id", (json_int_t)l->rater_id, "old", l->previous, "new", answer,
                          "swapped", l->swapped, "label_ms", (json_int_t)l->label_ms, "verdict",
                          l->resolved ? json_string(l->verdict) : json_null());
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    struct dbst *st = text ? conn_stmt(c, ST_EVENT_INSERT) : NULL;
    int rc = text ? -EIO : -ENOMEM;
    if (st) {
        bind_int64(st, 1, now);
        bind_int64(st, 2, l->rater_id);
        bind_text(st, 3, "label_replaced", -1, SQLITE_STATIC);
        bind_text(st, 4, subject, -1, SQLITE_TRANSIENT);
        bind_text(st, 5, text, -1, SQLITE_STATIC);
        rc = conn_step_done(st);
    }
    free(text);
    return rc;
}

/* A finished task whose label changed: its comparison is dropped and the
 * aggregation rule decides again from the labels as they are now. A done
 * task is not reopened: a split resolves as the rule resolves it once its
 * extra label was used. 0, -ENOMEM, -EIO. */
static int resolve_again(struct store *s, struct conn *c, const struct task_row *t,
                         struct store_label *l, int64_t now)
{
    struct agg_label *labels;
    size_t n;
    struct agg_outcome o;
    int rc = conn_run_id(c, t->audit ? ST_CMP_DROP_AUDIT : ST_CMP_DROP_HUMAN, t->item_seq);
    rc = rc ? rc : labels_read(c, l->task_id, &labels, &n);
    if (rc)
        return rc;
    if (aggregate_labels(!strcmp(t->kind, "pair"), labels, n, false, true, &o))
        rc = -EIO;
    if (!rc)
        rc = t->audit ? audit_write(s, c, l->task_id, t, labels, n, &o, now)
                      : verdict_write(c, t, labels, n, &o, now);
    if (!rc) {
        l->resolved = true;
        util_strlcpy(l->verdict, o.verdict, sizeof l->verdict);
    }
    free(labels);
    return rc;
}

/* Replaces the rater's earlier label on a task with answer (item order):
 * the row changes, the gold score follows, a resolved task is resolved
 * again, and the change is kept as an event. 0, -ENOMEM, -EIO. */
static int label_replace(struct store *s, struct conn *c, const struct task_row *t,
                         struct store_label *l, const char *answer, int64_t now)
{
    struct dbst *st = label_bind(conn_stmt(c, ST_LABEL_REPLACE), l, answer);
    if (!st)
        return -EIO;
    int rc = conn_step_done(st);
    int delta = t->gold ? (int)aggregate_gold_right(t->gold_answer, answer) -
                              (int)aggregate_gold_right(t->gold_answer, l->previous)
                        : 0;
    if (!rc && delta) {
        st = conn_stmt(c, ST_RATER_GOLD_FIX);
        if (!st)
            return -EIO;
        bind_int64(st, 1, l->rater_id);
        bind_int(st, 2, delta);
        rc = conn_step_done(st);
    }
    if (!rc && !t->gold && !t->open)
        rc = resolve_again(s, c, t, l, now);
    return rc ? rc : replace_event(c, l, answer, now);
}

static int label_job(struct store *s, struct conn *c, void *arg)
{
    struct store_label *l = arg;
    int64_t now = util_now_ms();
    struct task_row t;
    bool was_live;
    const char *answer = l->answer;
    l->resolved = false;
    int rc = task_get(c, l->task_id, &t);
    if (rc == -ENOENT) {
        l->result = LABEL_NO_TASK;
        rc = 0;
        goto out;
    }
    util_strlcpy(l->assist, t.assist, sizeof l->assist);
    rc = rc ? rc : store_subq_task_of(c, l->task_id, &t.subq_id);
    rc = rc ? rc : label_check(s, c, &t, l, &was_live, &answer, now);
    if (!rc && l->result == LABEL_REPLACED)
        rc = label_replace(s, c, &t, l, answer, now);
    if (rc || l->result != LABEL_RECORDED)
        goto out;
    if (was_live)
        rc = store_leased_add(c, l->task_id, -1);
    rc = rc ? rc : label_insert(c, &t, l, answer, now);
    /* Gold scores the rater and never resolves the item. */
    if (rc || t.gold)
        goto out;
    rc = conn_run_id(c, ST_TASK_LABELLED, l->task_id);
    if (!rc && aggregate_complete(t.labels_done + 1, t.overlap) && t.subq_id)
        rc = store_subq_decided(s, c, l, now);
    else if (!rc && aggregate_complete(t.labels_done + 1, t.overlap))
        rc = resolve(s, c, l->task_id, &t, l, now);
out:
    task_row_free(&t);
    /* A refused label must change nothing, not even the lease it found:
     * STORE_ROLLBACK rolls this job's savepoint back. */
    if (rc == 0 && l->result != LABEL_RECORDED && l->result != LABEL_REPEAT &&
        l->result != LABEL_REPLACED)
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

/* ---- gold and raters ---- */

struct gold_args {
    const char *item_id, *answer;
    int64_t seq, priority;
    char kind[8];
};

/* Finds the item of a gold request. 0, -ENOENT, -EIO. */
static int gold_item(struct conn *c, struct gold_args *g)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_BY_UUID);
    if (!st)
        return -EIO;
    bind_text(st, 1, g->item_id, -1, SQLITE_STATIC);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        g->seq = col_int64(st, 0);
        util_strlcpy(g->kind, col_text(st, 1), sizeof g->kind);
        g->priority = col_int64(st, 2);
    }
    conn_done(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* Records the item's gold answer. 0 or -EIO. */
static int set_gold_answer(struct conn *c, const struct gold_args *g, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_ITEM_SET_GOLD);
    if (!st)
        return -EIO;
    bind_int64(st, 1, g->seq);
    bind_text(st, 2, g->answer, -1, SQLITE_STATIC);
    bind_int64(st, 3, now);
    return conn_step_done(st);
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
    struct agg_outcome o;
    aggregate_gold(g->answer, &o);
    rc = set_gold_answer(c, g, now);
    /* The admin's known answer settles the item; its task now only scores
     * raters, so it would otherwise wait for a verdict forever. */
    rc = rc ? rc : item_resolve(c, g->seq, &o, now);
    rc = rc ? rc : conn_run_id(c, ST_TASKS_SET_GOLD, g->seq);
    if (!rc && conn_changes(c) == 0) {
        /* An item the layer settled: give it a gold task of its own. */
        struct dbst *st = conn_stmt(c, ST_GOLD_TASK_INSERT);
        if (!st)
            return -EIO;
        bind_int64(st, 1, g->seq);
        bind_text(st, 2, g->kind, -1, SQLITE_STATIC);
        bind_int64(st, 3, g->priority);
        bind_int64(st, 4, now);
        rc = conn_step_done(st);
    }
    if (rc)
        return rc;
    s->tasks->changed = true;
    return store_tasks_recount(s, c);
}

int store_item_set_gold(struct store *s, const char *item_id, const char *answer)
{
    struct gold_args g = {.item_id = item_id, .answer = answer};
    return store_run(s, gold_job, &g);
}

int store_rater_row_read(struct dbst *st, void *elem)
{
    struct store_rater *r = elem;
    util_strlcpy(r->name, col_text(st, 0), sizeof r->name);
    util_strlcpy(r->role, col_text(st, 1), sizeof r->role);
    r->labels = col_int64(st, 2);
    r->gold_seen = col_int64(st, 3);
    r->gold_right = col_int64(st, 4);
    r->side_picks = col_int64(st, 5);
    r->left_picks = col_int64(st, 6);
    r->id = col_int64(st, 7);
    return 0;
}

int store_raters(struct store *s, struct store_rater **raters, size_t *n)
{
    static const struct rows_spec spec = {sizeof **raters, SIZE_MAX, store_rater_row_read, NULL};
    struct rows rows;
    int rc = store_rows(s, ST_RATERS, &spec, &rows);
    *raters = rows.v;
    *n = rows.n;
    return rc;
}

/* ---- batches and progress ---- */

/* Copies a batch row (assistance, guidelines, paused) into *out. 0 or
 * -ENOMEM. */
static int batch_read(struct dbst *st, struct store_batch *out)
{
    util_strlcpy(out->assist, col_text(st, 0), sizeof out->assist);
    out->paused = col_int(st, 2) != 0;
    return col_dup(st, 1, &out->guidelines);
}

struct batch_args {
    const char *batch, *assist, *guidelines;
    bool set_guidelines;
    int paused; /* 1 pause, 0 unpause, -1 keep */
    struct store_batch *out;
};

static int batch_job(struct store *s, struct conn *c, void *arg)
{
    struct batch_args *b = arg;
    struct dbst *st = conn_stmt(c, ST_BATCH_UPSERT);
    if (!st)
        return -EIO;
    bind_text(st, 1, b->batch, -1, SQLITE_STATIC);
    bind_text_or_null(st, 2, b->assist);
    bind_int(st, 3, b->set_guidelines);
    bind_text_or_null(st, 4, b->set_guidelines ? b->guidelines : NULL);
    bind_int64(st, 5, util_now_ms());
    if (b->paused >= 0)
        bind_int(st, 6, b->paused);
    int rc = store_step(st);
    rc = rc == SQLITE_ROW ? batch_read(st, b->out) : -EIO;
    while (!rc && store_step(st) == SQLITE_ROW)
        ;
    conn_done(st);
    /* Unpausing may make tasks claimable: waiting long-polls look again. */
    if (!rc && b->paused == 0)
        s->tasks->changed = true;
    return rc;
}

int store_batch_set(struct store *s, const char *batch, const char *assist, bool set_guidelines,
                    const char *guidelines, int paused, struct store_batch *out)
{
    memset(out, 0, sizeof *out);
    if (assist && strcmp(assist, "shown") && strcmp(assist, "after") && strcmp(assist, "hidden"))
        return -EINVAL;
    struct batch_args b = {batch, assist, guidelines, set_guidelines, paused, out};
    int rc = store_run(s, batch_job, &b);
    if (rc) {
        free(out->guidelines);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int store_batch_get(struct store *s, const char *batch, struct store_batch *out)
{
    memset(out, 0, sizeof *out);
    util_strlcpy(out->assist, "shown", sizeof out->assist);
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_BATCH_GET);
    int rc = st ? 0 : -EIO;
    if (st) {
        bind_text(st, 1, batch, -1, SQLITE_STATIC);
        int step = store_step(st);
        rc = step == SQLITE_ROW ? batch_read(st, out) : step == SQLITE_DONE ? 0 : -EIO;
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

int store_rater_progress(struct store *s, int64_t rater_id, int64_t since_ms, int64_t *today,
                         int64_t *total)
{
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_RATER_PROGRESS);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, rater_id);
        bind_int64(st, 2, since_ms);
        if (store_step(st) == SQLITE_ROW) {
            *today = col_int64(st, 0);
            *total = col_int64(st, 1);
            rc = 0;
        }
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}
