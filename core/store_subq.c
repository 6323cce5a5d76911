/* Sub-questions in the store: domains, creating an item's sub-questions at
 * ingest, their tasks (rows of the one task queue, marked by subq_id),
 * their labels, early stop and the roll-up to the item's verdict. Runs on
 * the writer inside the group transaction like every other write; what is
 * decided comes from rollup.c's rules, and this file writes it. */
#include "store_internal.h"
#include "store_subq.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rollup.h"

/* ---- reading an item's sub-questions ---- */

static int subq_read(struct dbst *st, void *elem)
{
    struct store_subq *q = elem;
    q->id = col_int64(st, 0);
    q->side = (char)col_text(st, 1)[0];
    q->ordinal = col_int(st, 2);
    util_strlcpy(q->kind, col_text(st, 3), sizeof q->kind);
    q->span_start = col_int64(st, 4);
    q->span_end = col_int64(st, 5);
    q->has_score = !col_null(st, 7);
    q->score = col_double(st, 7);
    q->has_confidence = !col_null(st, 8);
    q->confidence = col_double(st, 8);
    const char *src = col_text(st, 9), *ans = col_text(st, 10);
    util_strlcpy(q->source, src ? (const char *)src : "", sizeof q->source);
    util_strlcpy(q->answer, ans ? (const char *)ans : "", sizeof q->answer);
    util_strlcpy(q->status, col_text(st, 11), sizeof q->status);
    q->sinks = col_int(st, 12) != 0;
    return col_dup(st, 6, &q->question);
}

static void subq_array_free(struct store_subq *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].question);
    free(v);
}

static void subqs_undo(void *v, size_t n)
{
    subq_array_free(v, n);
}

void store_subqs_free(struct store_subqs *q)
{
    if (!q)
        return;
    subq_array_free(q->v, q->n);
    free(q->provenance);
    free(q);
}

/* Reads the roll-up row of item seq into q. 1 when there is one, 0 when
 * the item was not decomposed, -ENOMEM, -EIO. */
static int rollup_row(struct conn *c, int64_t seq, struct store_subqs *q)
{
    struct dbst *st = conn_stmt(c, ST_ROLLUP_GET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        const char *reason = col_text(st, 2);
        util_strlcpy(q->order, col_text(st, 0), sizeof q->order);
        util_strlcpy(q->state, col_text(st, 1), sizeof q->state);
        util_strlcpy(q->reason, reason ? (const char *)reason : "", sizeof q->reason);
        rc = col_dup(st, 3, &q->provenance) ? -ENOMEM : 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : -EIO;
    }
    conn_done(st);
    return rc;
}

static enum rollup_verdict side_verdict(const struct store_subqs *q, char side);

/* Reads item seq's sub-questions on c into *out (NULL when it was not
 * decomposed). 0, -ENOMEM, -EIO. */
static int subqs_read(struct conn *c, int64_t seq, struct store_subqs **out)
{
    static const struct rows_spec spec = {sizeof(struct store_subq), SIZE_MAX, subq_read,
                                          subqs_undo};
    *out = NULL;
    struct store_subqs *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    int rc = rollup_row(c, seq, q);
    if (rc <= 0) {
        store_subqs_free(q);
        return rc;
    }
    struct dbst *st = conn_stmt(c, ST_SUBQ_ITEM);
    if (st)
        bind_int64(st, 1, seq);
    struct rows rows;
    rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    q->v = rows.v;
    q->n = rows.n;
    q->side_a = side_verdict(q, 'a');
    q->side_b = side_verdict(q, 'b');
    if (rc)
        store_subqs_free(q);
    else
        *out = q;
    return rc;
}

int store_item_subqs(struct store *s, int64_t seq, struct store_subqs **out)
{
    struct conn *c = store_reader(s);
    int rc = subqs_read(c, seq, out);
    store_reader_put(s, c);
    return rc;
}

/* ---- domains ---- */

static int domain_read(struct dbst *st, void *elem)
{
    struct subq_domain *d = elem;
    const char *name = col_text(st, 0);
    subq_domain_default(name, d);
    d->stored = true;
    if (decompose_kind_parse(col_text(st, 1), &d->decomposer) ||
        rollup_order_parse(col_text(st, 4), &d->order))
        return -EIO; /* the table's CHECKs keep these out */
    d->hard_tokens = col_int64(st, 3);
    d->checker_answers = col_int(st, 5) != 0;
    d->checkers = (unsigned)col_int(st, 6) & CHECK_KINDS_ALL;
    int rc = subq_domain_set_criteria(d, col_text(st, 2));
    return rc == -EINVAL ? -EIO : rc;
}

void store_domains_free(struct subq_domain *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        subq_domain_clear(&v[i]);
    free(v);
}

static void domains_undo(void *v, size_t n)
{
    store_domains_free(v, n);
}

static const struct rows_spec domain_spec = {sizeof(struct subq_domain), SIZE_MAX, domain_read,
                                             domains_undo};

int store_domains_list(struct store *s, struct subq_domain **v, size_t *n)
{
    struct rows rows;
    int rc = store_rows(s, ST_DOMAIN_LIST, &domain_spec, &rows);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

int store_domain_get(struct store *s, const char *name, struct subq_domain *out)
{
    subq_domain_default(name, out);
    if (!name)
        return 0;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_DOMAIN_GET);
    if (st)
        bind_text(st, 1, name, -1, SQLITE_STATIC);
    struct rows rows;
    int rc = store_rows_read(st, &domain_spec, &rows);
    conn_done(st);
    store_reader_put(s, c);
    if (!rc && rows.n == 1) {
        *out = *(struct subq_domain *)rows.v;
        free(rows.v);
    } else {
        store_domains_free(rows.v, rows.n);
    }
    return rc;
}

static int domain_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    const struct subq_domain *d = arg;
    char *criteria = d->ncriteria ? subq_domain_criteria_json(d) : NULL;
    if (d->ncriteria && !criteria)
        return -ENOMEM;
    struct dbst *st = conn_stmt(c, ST_DOMAIN_UPSERT);
    int rc = -EIO;
    if (st) {
        bind_text(st, 1, d->name, -1, SQLITE_STATIC);
        bind_text(st, 2, decompose_kind_name(d->decomposer), -1, SQLITE_STATIC);
        bind_text_or_null(st, 3, criteria);
        bind_int64(st, 4, d->hard_tokens);
        bind_text(st, 5, rollup_order_name(d->order), -1, SQLITE_STATIC);
        bind_int64(st, 6, util_now_ms());
        bind_int(st, 7, d->checker_answers);
        bind_int(st, 8, (int)d->checkers);
        rc = conn_step_done(st);
    }
    free(criteria);
    return rc;
}

int store_domain_put(struct store *s, const struct subq_domain *d)
{
    bool crit = d->decomposer == DECOMPOSE_CRITERIA;
    if (!d->name[0] || crit != (d->ncriteria > 0) || d->hard_tokens < 0 ||
        !decompose_kind_name(d->decomposer) || !rollup_order_name(d->order))
        return -EINVAL;
    return store_run(s, domain_job, (void *)d);
}

/* ---- the item a sub-question belongs to ---- */

/* What the roll-up needs of an item: owned copies. */
struct item_row {
    int64_t seq;
    bool pair;
    char *text[5]; /* columns 1..5: prompt, response a, b, batch, domain */
    int64_t priority, layer_id;
    bool settled; /* resolved already (a gold answer, say): roll-up stays out */
};

enum { T_PROMPT, T_A, T_B, T_BATCH, T_DOMAIN, T_COUNT };

static void item_row_free(struct item_row *r)
{
    for (int i = 0; i < T_COUNT; i++)
        free(r->text[i]);
}

/* Reads item seq into *r (free with item_row_free, also on failure). 0,
 * -ENOMEM, -EIO. */
static int item_row_get(struct conn *c, int64_t seq, struct item_row *r)
{
    memset(r, 0, sizeof *r);
    r->seq = seq;
    struct dbst *st = conn_stmt(c, ST_ITEM_ROW);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    int rc = store_step(st) == SQLITE_ROW ? 0 : -EIO;
    if (!rc) {
        r->pair = !strcmp(col_text(st, 0), "pair");
        for (int i = 0; i < T_COUNT && !rc; i++)
            rc = col_dup(st, i + 1, &r->text[i]);
        r->priority = col_int64(st, 6);
        r->layer_id = col_int64(st, 7);
        r->settled = !strcmp(col_text(st, 8), "resolved");
    }
    conn_done(st);
    return rc;
}

/* Queues a task of the item on the one queue (its overlap rule, its
 * priority); with subq_id, the task asks that sub-question. 0 or -EIO. */
static int queue_task(struct store *s, struct conn *c, const struct item_row *r, int64_t subq_id,
                      int64_t now)
{
    struct store_item_in in = {.prompt = r->text[T_PROMPT],
                               .response_a = r->text[T_A],
                               .response_b = r->text[T_B],
                               .domain = r->text[T_DOMAIN],
                               .batch = r->text[T_BATCH],
                               .priority = r->priority};
    int rc = store_task_queue(s, c, r->seq, &in, now);
    if (rc || !subq_id)
        return rc;
    struct dbst *st = conn_stmt(c, ST_TASK_SET_SUBQ);
    if (!st)
        return -EIO;
    bind_int64(st, 1, conn_last_id(c));
    bind_int64(st, 2, subq_id);
    return conn_step_done(st);
}

/* Closes a task that will get no more labels: the leases other raters
 * hold end (their labels are answered task_complete). 0 or -EIO. */
static int task_close(struct store *s, struct conn *c, int64_t task_id)
{
    int rc = conn_run_id(c, ST_LEASES_DROP, task_id);
    rc = rc ? rc : conn_run_id(c, ST_TASK_DONE, task_id);
    if (!rc)
        s->tasks->open--;
    return rc;
}

static int subq_set_status(struct conn *c, int64_t id, const char *status)
{
    struct dbst *st = conn_stmt(c, ST_SUBQ_SET_STATUS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    bind_text(st, 2, status, -1, SQLITE_STATIC);
    return conn_step_done(st);
}

/* Closes a sub-question (early stop, or the item went whole) and its
 * open task, if it has one. 0 or -EIO. */
static int subq_close(struct store *s, struct conn *c, struct store_subq *q)
{
    struct dbst *st = conn_stmt(c, ST_SUBQ_TASK_OF);
    if (!st)
        return -EIO;
    bind_int64(st, 1, q->id);
    int step = store_step(st);
    int64_t task = step == SQLITE_ROW ? col_int64(st, 0) : 0;
    conn_done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return -EIO;
    int rc = task ? task_close(s, c, task) : 0;
    util_strlcpy(q->status, "closed", sizeof q->status);
    return rc ? rc : subq_set_status(c, q->id, "closed");
}

/* ---- roll-up ---- */

static enum rollup_state state_of(const struct store_subq *q)
{
    if (!strcmp(q->status, "answered"))
        return strcmp(q->answer, "yes") ? RS_NO : RS_YES;
    if (!strcmp(q->status, "open"))
        return RS_OPEN;
    return strcmp(q->status, "closed") ? RS_PENDING : RS_CLOSED;
}

/* The sub-questions of one side as the rules see them: st[k] stands for
 * q->v[idx[k]]. */
struct side_view {
    struct rollup_step st[DECOMPOSE_MAX_SEGMENTS];
    size_t idx[DECOMPOSE_MAX_SEGMENTS];
    size_t n;
};

static void side_view(const struct store_subqs *q, char side, struct side_view *v)
{
    v->n = 0;
    for (size_t i = 0; i < q->n && v->n < DECOMPOSE_MAX_SEGMENTS; i++) {
        if (q->v[i].side != side)
            continue;
        v->st[v->n] = (struct rollup_step){.state = state_of(&q->v[i]), .sinks = q->v[i].sinks};
        v->idx[v->n++] = i;
    }
}

/* Early stop on one side: opens what may be asked now, closes what never
 * will be. 0 or negative errno. */
static int side_apply(struct store *s, struct conn *c, const struct item_row *r,
                      struct store_subqs *q, char side, int64_t now)
{
    struct side_view v;
    enum rollup_action act[DECOMPOSE_MAX_SEGMENTS];
    enum rollup_order order = ROLLUP_SEQUENTIAL;
    rollup_order_parse(q->order, &order);
    side_view(q, side, &v);
    rollup_plan(order, v.st, v.n, act);
    int rc = 0;
    for (size_t k = 0; k < v.n && !rc; k++) {
        struct store_subq *x = &q->v[v.idx[k]];
        if (act[k] == RA_CLOSE) {
            rc = subq_close(s, c, x);
        } else if (act[k] == RA_OPEN) {
            rc = queue_task(s, c, r, x->id, now);
            rc = rc ? rc : subq_set_status(c, x->id, "open");
            util_strlcpy(x->status, "open", sizeof x->status);
        }
    }
    return rc;
}

static enum rollup_verdict side_verdict(const struct store_subqs *q, char side)
{
    struct side_view v;
    side_view(q, side, &v);
    return rollup_side(v.st, v.n);
}

/* Where the item stands after a roll-up step. */
struct rollup_out {
    char status[16]; /* the item's: decomposed | resolved | awaiting_human */
    char verdict[8]; /* resolved: a | b | good | bad; else "" */
};

/* The item goes to one whole-item task (both sides pass, both fail, or an
 * unsure step twice): what is still pending or open is closed, the answers
 * given are kept and shown to the rater of that task. 0 or -EIO. */
static int go_whole(struct store *s, struct conn *c, const struct item_row *r,
                    struct store_subqs *q, const char *reason, int64_t now, struct rollup_out *o)
{
    int rc = 0;
    for (size_t i = 0; i < q->n && !rc; i++) {
        enum rollup_state st = state_of(&q->v[i]);
        if (st == RS_PENDING || st == RS_OPEN)
            rc = subq_close(s, c, &q->v[i]);
    }
    rc = rc ? rc : queue_task(s, c, r, 0, now);
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_ITEM_SET_STATUS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, r->seq);
    bind_text(st, 2, "awaiting_human", -1, SQLITE_STATIC);
    bind_int64(st, 3, now);
    rc = conn_step_done(st);
    st = rc ? NULL : conn_stmt(c, ST_ROLLUP_SET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, r->seq);
    bind_text(st, 2, "whole", -1, SQLITE_STATIC);
    bind_text(st, 3, reason, -1, SQLITE_STATIC);
    util_strlcpy(o->status, "awaiting_human", sizeof o->status);
    return conn_step_done(st);
}

/* Appends to arr the sub-questions that decided one side: every answer of
 * a passing side, the sinking no of a failing one; *conf falls to the
 * lowest confidence among them (the layer's, 1 for a human answer). */
static void decided_by(const struct store_subqs *q, bool pair, char side, enum rollup_verdict v,
                       json_t *arr, double *conf)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct store_subq *x = &q->v[i];
        enum rollup_state st = state_of(x);
        bool counts = v == RV_PASS ? st == RS_YES || st == RS_NO : x->sinks && st == RS_NO;
        if (x->side != side || !counts)
            continue;
        double cf = strcmp(x->source, "layer") ? 1.0 : x->confidence;
        *conf = cf < *conf ? cf : *conf;
        json_array_append_new(arr, json_pack("{s:I,s:s?,s:i,s:s,s:s}", "id", (json_int_t)x->id,
                                             "response", pair ? (side == 'a' ? "a" : "b") : NULL,
                                             "ordinal", x->ordinal, "answer", x->answer, "source",
                                             x->source));
    }
}

/* The provenance of a roll-up verdict as compact JSON text (malloc'd),
 * NULL when memory is short; *conf receives the verdict's confidence. */
static char *rollup_provenance(const struct store_subqs *q, bool pair, enum rollup_verdict va,
                               enum rollup_verdict vb, double *conf)
{
    json_t *by = json_array();
    *conf = 1.0;
    decided_by(q, pair, 'a', va, by, conf);
    if (pair)
        decided_by(q, pair, 'b', vb, by, conf);
    json_t *sides = json_pack("{s:s}", "a", rollup_verdict_name(va));
    if (pair)
        json_object_set_new(sides, "b", json_string(rollup_verdict_name(vb)));
    json_t *p = json_pack("{s:o,s:o}", "rollup", sides, "decided_by", by);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    return text;
}

/* Writes the roll-up's verdict: the item resolved (source aggregate), its
 * comparison for the training set, the provenance kept on the roll-up.
 * 0, -ENOMEM, -EIO. */
static int resolve_item(struct conn *c, const struct item_row *r, const struct store_subqs *q,
                        enum rollup_decision d, enum rollup_verdict va, enum rollup_verdict vb,
                        int64_t now, struct rollup_out *o)
{
    double conf;
    const char *verdict = rollup_decision_verdict(d);
    char *prov = rollup_provenance(q, r->pair, va, vb, &conf);
    if (!prov)
        return -ENOMEM;
    struct dbst *st = conn_stmt(c, ST_ITEM_AGGREGATE);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, r->seq);
        bind_text(st, 2, verdict, -1, SQLITE_STATIC);
        bind_double(st, 3, conf);
        bind_int64(st, 4, now);
        rc = conn_step_done(st);
    }
    struct store_comparison cmp = {.prompt = r->text[T_PROMPT],
                                   .chosen = d == RD_B ? r->text[T_B] : r->text[T_A],
                                   .rejected = !r->pair    ? NULL
                                               : d == RD_B ? r->text[T_A]
                                                           : r->text[T_B],
                                   .label = r->pair ? NULL : verdict,
                                   .source = "aggregate",
                                   .weight = conf,
                                   .layer_id = r->layer_id,
                                   .item_seq = r->seq,
                                   .provenance = prov};
    rc = rc ? rc : store_comparison_insert(c, &cmp, now);
    st = rc ? NULL : conn_stmt(c, ST_ROLLUP_SET);
    if (st) {
        bind_int64(st, 1, r->seq);
        bind_text(st, 2, "resolved", -1, SQLITE_STATIC);
        bind_text(st, 4, prov, -1, SQLITE_STATIC);
        rc = conn_step_done(st);
    }
    free(prov);
    util_strlcpy(o->status, "resolved", sizeof o->status);
    util_strlcpy(o->verdict, verdict, sizeof o->verdict);
    return st ? rc : rc ? rc : -EIO;
}

/* One roll-up step of item seq, after its sub-questions changed: early
 * stop on each side, then the decision, written. Nothing happens once the
 * item was decided. 0 or negative errno; o says where the item stands. */
static int advance(struct store *s, struct conn *c, int64_t seq, int64_t now, struct rollup_out *o)
{
    struct store_subqs *q;
    struct item_row r;
    util_strlcpy(o->status, "decomposed", sizeof o->status);
    o->verdict[0] = '\0';
    int rc = subqs_read(c, seq, &q);
    if (rc || !q)
        return rc ? rc : -EIO;
    rc = item_row_get(c, seq, &r);
    if (rc || strcmp(q->state, "open") || r.settled)
        goto out;
    rc = side_apply(s, c, &r, q, 'a', now);
    rc = rc || !r.pair ? rc : side_apply(s, c, &r, q, 'b', now);
    enum rollup_verdict va = side_verdict(q, 'a'), vb = r.pair ? side_verdict(q, 'b') : RV_OPEN;
    enum rollup_decision d = rollup_decide(r.pair, va, vb);
    if (rc || d == RD_WAIT)
        goto out;
    if (d == RD_WHOLE)
        rc = go_whole(s, c, &r, q, va == RV_PASS ? "both_pass" : "both_fail", now, o);
    else
        rc = resolve_item(c, &r, q, d, va, vb, now, o);
out:
    item_row_free(&r);
    store_subqs_free(q);
    return rc;
}

static int subq_insert(struct conn *c, int64_t seq, const struct subq_plan_q *p)
{
    struct dbst *st = conn_stmt(c, ST_SUBQ_INSERT);
    if (!st)
        return -EIO;
    char side[2] = {p->side, '\0'};
    bind_int64(st, 1, seq);
    bind_text(st, 2, side, -1, SQLITE_TRANSIENT);
    bind_int(st, 3, p->ordinal);
    bind_text(st, 4, decompose_seg_kind_name(p->kind), -1, SQLITE_STATIC);
    bind_int64(st, 5, (int64_t)p->start);
    bind_int64(st, 6, (int64_t)p->end);
    bind_text(st, 7, p->question, -1, SQLITE_STATIC);
    if (p->has_score)
        bind_double(st, 8, p->score);
    if (p->has_confidence)
        bind_double(st, 9, p->confidence);
    bind_text(st, 10, p->answer ? "answered" : "pending", -1, SQLITE_STATIC);
    bind_text_or_null(st, 11, p->answer);
    bind_text_or_null(st, 12, p->answer ? (p->source ? p->source : "layer") : NULL);
    bind_int(st, 13, p->sinks);
    return conn_step_done(st);
}

int store_subq_create(struct store *s, struct conn *c, int64_t seq, const struct store_item_in *it,
                      struct store_item_ack *ack, int64_t now)
{
    const struct subq_plan *p = it->subq;
    struct dbst *st = conn_stmt(c, ST_ROLLUP_INSERT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    bind_text(st, 2, rollup_order_name(p->order), -1, SQLITE_STATIC);
    int rc = conn_step_done(st);
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = subq_insert(c, seq, &p->q[i]);
    st = rc ? NULL : conn_stmt(c, ST_ITEM_SET_STATUS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    bind_text(st, 2, "decomposed", -1, SQLITE_STATIC);
    bind_int64(st, 3, now);
    struct rollup_out o;
    rc = conn_step_done(st);
    rc = rc ? rc : advance(s, c, seq, now, &o);
    if (!rc)
        util_strlcpy(ack->status, o.status, sizeof ack->status);
    return rc;
}

/* ---- labels on sub-question tasks ---- */

/* A task as the sub-question label path sees it. */
struct subq_task {
    int64_t subq_id, item_seq;
    bool open, extra_used, decomposed;
    int overlap, labels_done, leased;
};

/* Reads task id into *t. 1 when found, 0 when there is no such task, -EIO. */
static int subq_task_get(struct conn *c, int64_t id, struct subq_task *t)
{
    struct dbst *st = conn_stmt(c, ST_TASK_SUBQ);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        *t = (struct subq_task){.subq_id = col_int64(st, 0),
                                .item_seq = col_int64(st, 1),
                                .open = !strcmp(col_text(st, 2), "open"),
                                .overlap = col_int(st, 3),
                                .labels_done = col_int(st, 4),
                                .leased = col_int(st, 5),
                                .extra_used = col_int(st, 6) != 0,
                                .decomposed = !col_null(st, 7)};
    }
    conn_done(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

/* Stores the step verdict of sub-question v[k] of r: the step judged in its
 * context (the question and the same response's earlier segments). 0 or
 * negative errno. */
static int step_row(struct conn *c, const struct item_row *r, const struct store_subqs *q, size_t k,
                    bool yes, int64_t now)
{
    const struct store_subq *v = q->v;
    const char *resp = r->text[v[k].side == 'b' ? T_B : T_A];
    const char **prior = calloc(q->n + 1, sizeof *prior);
    size_t *len = calloc(q->n + 1, sizeof *len), n = 0;
    for (size_t j = 0; prior && len && j < q->n; j++)
        if (v[j].side == v[k].side && v[j].ordinal < v[k].ordinal) {
            prior[n] = resp + v[j].span_start;
            len[n++] = (size_t)(v[j].span_end - v[j].span_start);
        }
    char *ctx = prior && len ? util_step_context(r->text[T_PROMPT], prior, len, n) : NULL;
    char *step = strndup(resp + v[k].span_start, (size_t)(v[k].span_end - v[k].span_start));
    int rc = -ENOMEM;
    if (ctx && step) {
        struct store_comparison cmp = {.prompt = ctx,
                                       .chosen = step,
                                       .label = yes ? "yes" : "no",
                                       .source = "human",
                                       .weight = 1.0,
                                       .item_seq = r->seq};
        rc = store_comparison_insert(c, &cmp, now);
    }
    free(prior);
    free(len);
    free(ctx);
    free(step);
    return rc;
}

/* A human's answer to a segment (not a rubric criterion) is training data
 * for the layer's pointwise head, as `import --format steps` is. 0 or
 * negative errno. */
static int step_verdict(struct conn *c, int64_t seq, int64_t subq_id, bool yes, int64_t now)
{
    struct store_subqs *q;
    struct item_row r;
    int rc = subqs_read(c, seq, &q);
    if (rc || !q)
        return rc;
    rc = item_row_get(c, seq, &r);
    for (size_t k = 0; !rc && k < q->n; k++)
        if (q->v[k].id == subq_id && strcmp(q->v[k].kind, "criterion"))
            rc = step_row(c, &r, q, k, yes, now);
    item_row_free(&r);
    store_subqs_free(q);
    return rc;
}

/* An unsure step asked twice: the item goes to its whole-item task. 0 or
 * negative errno. */
static int escalate(struct store *s, struct conn *c, int64_t seq, int64_t now)
{
    struct store_subqs *q;
    struct item_row r;
    struct rollup_out o;
    int rc = subqs_read(c, seq, &q);
    if (rc || !q)
        return rc ? rc : -EIO;
    rc = item_row_get(c, seq, &r);
    if (!rc && !strcmp(q->state, "open"))
        rc = go_whole(s, c, &r, q, "unsure", now, &o);
    item_row_free(&r);
    store_subqs_free(q);
    return rc;
}

int store_subq_decided(struct store *s, struct conn *c, struct store_label *l, int64_t now)
{
    struct subq_task task, *t = &task;
    int found = subq_task_get(c, l->task_id, t);
    if (found != 1)
        return found < 0 ? found : -EIO;
    struct dbst *st = conn_stmt(c, ST_SUBQ_LABEL_COUNTS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, l->task_id);
    int step = store_step(st);
    int yes = col_int(st, 0), no = col_int(st, 1);
    int unsure = col_int(st, 2);
    conn_done(st);
    if (step != SQLITE_ROW)
        return -EIO;
    enum rollup_answer a = rollup_answer(yes, no, unsure, t->extra_used);
    if (a == RANS_ASK_MORE) {
        s->tasks->changed = true;
        return conn_run_id(c, ST_TASK_EXTRA_LABEL, l->task_id);
    }
    int rc = task_close(s, c, l->task_id);
    struct rollup_out o = {"", ""};
    if (!rc && a == RANS_ESCALATE)
        return escalate(s, c, t->item_seq, now);
    st = rc ? NULL : conn_stmt(c, ST_SUBQ_ANSWER);
    if (!st)
        return -EIO;
    bind_int64(st, 1, t->subq_id);
    bind_text(st, 2, a == RANS_YES ? "yes" : "no", -1, SQLITE_STATIC);
    bind_text(st, 3, "human", -1, SQLITE_STATIC);
    rc = conn_step_done(st);
    rc = rc ? rc : step_verdict(c, t->item_seq, t->subq_id, a == RANS_YES, now);
    rc = rc ? rc : advance(s, c, t->item_seq, now, &o);
    l->resolved = !rc && o.verdict[0];
    util_strlcpy(l->verdict, o.verdict, sizeof l->verdict);
    return rc;
}

int store_subq_task_of(struct conn *c, int64_t task_id, int64_t *subq_id)
{
    struct subq_task t;
    int rc = subq_task_get(c, task_id, &t);
    *subq_id = rc == 1 ? t.subq_id : 0;
    return rc < 0 ? rc : 0;
}

/* ---- the task a rater is shown ---- */

int store_subq_task_view(struct conn *c, struct store_task *t)
{
    struct subq_task x;
    int rc = subq_task_get(c, t->id, &x);
    if (rc <= 0 || !x.decomposed)
        return rc < 0 ? rc : 0;
    rc = subqs_read(c, x.item_seq, &t->subqs);
    if (!rc && x.subq_id) {
        util_strlcpy(t->kind, "subquestion", sizeof t->kind);
        t->subq_id = x.subq_id;
    }
    return rc;
}

/* ---- checker answers against settled verdicts ---- */

static int checker_count_read(struct dbst *st, void *elem)
{
    struct store_checker_count *x = elem;
    const char *side = col_text(st, 0), *answer = col_text(st, 1), *settled = col_text(st, 2);
    if (!side || !answer)
        return -EIO;
    x->side = side[0] == 'b' ? 'b' : 'a';
    util_strlcpy(x->answer, answer, sizeof x->answer);
    x->settled = settled && (settled[0] == 'a' || settled[0] == 'b') ? settled[0] : 0;
    x->n = col_int64(st, 3);
    return 0;
}

int store_checker_counts(struct store *s, struct store_checker_count **v, size_t *n)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, checker_count_read, NULL};
    struct rows rows;
    int rc = store_rows(s, ST_CHECKER_OUTCOMES, &spec, &rows);
    *v = rows.v;
    *n = rows.n;
    return rc;
}
