/* Measured trust in the store: audit tasks of items the layer settled,
 * ordinary tasks shown blind, audit outcomes with their flags, demotion,
 * and what GET /v1/layers shows of it. Which items, what an outcome is
 * and when a layer is demoted are audit.c's rules; this file keeps the
 * rows. The writer-side functions run inside the caller's transaction. */
#include "store_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

void store_set_audit(struct store *s, uint32_t share_ppm, uint64_t seed)
{
    s->tasks->audit_ppm = share_ppm > AUDIT_PPM ? AUDIT_PPM : share_ppm;
    s->tasks->audit_seed = seed;
}

int store_audit_human_only(struct conn *c, int64_t layer_id, bool *human_only)
{
    *human_only = false;
    struct dbst *st = conn_stmt(c, ST_AUDIT_LAYER_DEMOTED);
    if (!st)
        return -EIO;
    bind_int64(st, 1, layer_id);
    int rc = store_step(st);
    if (rc == SQLITE_ROW)
        *human_only = col_int(st, 0) != 0;
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* Marks task id as an audit (audit 1) or a blind ordinary task (0); both
 * are shown without assistance. 0 or -EIO. */
static int mark_task(struct conn *c, int64_t task_id, bool audit)
{
    struct dbst *st = conn_stmt(c, ST_AUDIT_MARK_TASK);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_int(st, 2, audit);
    return conn_step_done(st);
}

/* Queues one more whole-item task for item seq as its batch or domain
 * rule wants; *task_id receives it. 0, -ENOENT, -ENOMEM, -EIO. */
static int queue_task(struct store *s, struct conn *c, int64_t seq, int64_t now, int64_t *task_id)
{
    struct dbst *st = conn_stmt(c, ST_AUDIT_ITEM_FACTS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    int step = store_step(st);
    char *batch = NULL, *domain = NULL;
    struct store_item_in it = {0};
    int rc = step == SQLITE_ROW ? col_dup(st, 0, &batch) : step == SQLITE_DONE ? -ENOENT : -EIO;
    rc = rc ? rc : col_dup(st, 1, &domain);
    if (!rc) {
        it.priority = col_int64(st, 2);
        /* store_task_queue reads the kind from whether there is a b side. */
        it.response_b = strcmp(col_text(st, 3), "pair") ? NULL : "";
    }
    conn_done(st);
    it.batch = batch;
    it.domain = domain;
    rc = rc ? rc : store_task_queue(s, c, seq, &it, now);
    *task_id = conn_last_id(c);
    free(batch);
    free(domain);
    return rc;
}

int store_audit_settled(struct store *s, struct conn *c, int64_t seq, int64_t layer_id,
                        const char *verdict, int64_t now)
{
    if (!verdict || !layer_id)
        return 0;
    audit_blind_settled(&s->tasks->blind_credit, s->tasks->audit_ppm);
    if (!audit_pick(seq, s->tasks->audit_seed, s->tasks->audit_ppm, AUDIT_DRAW_AUDIT))
        return 0;
    int64_t task = 0;
    int rc = queue_task(s, c, seq, now, &task);
    rc = rc ? rc : mark_task(c, task, true);
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_AUDIT_INSERT);
    if (!st)
        return rc ? rc : -EIO;
    bind_int64(st, 1, task);
    bind_int64(st, 2, seq);
    bind_int64(st, 3, layer_id);
    bind_text(st, 4, verdict, -1, SQLITE_STATIC);
    bind_int64(st, 5, now);
    return conn_step_done(st);
}

int store_audit_blind(struct store *s, struct conn *c, int64_t seq)
{
    if (!audit_blind_pick(&s->tasks->blind_credit, seq, s->tasks->audit_seed))
        return 0;
    return mark_task(c, conn_last_id(c), false);
}

/* ---- an audit decided ---- */

/* The audit counts of a layer, its report and whether it is demoted. */
struct layer_audits {
    int64_t agree, disagree, inconclusive, open;
    char *metrics; /* owned */
    bool demoted;
    int64_t demoted_ms;
};

/* Reads layer id's audit counts into *a (free a->metrics). 0, -ENOENT,
 * -ENOMEM, -EIO. */
static int layer_audits_read(struct conn *c, int64_t id, struct layer_audits *a)
{
    memset(a, 0, sizeof *a);
    struct dbst *st = conn_stmt(c, ST_AUDIT_LAYER);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int step = store_step(st);
    int rc = step == SQLITE_ROW    ? col_dup(st, 4, &a->metrics)
             : step == SQLITE_DONE ? -ENOENT
                                   : -EIO;
    if (step == SQLITE_ROW) {
        a->agree = col_int64(st, 0);
        a->disagree = col_int64(st, 1);
        a->inconclusive = col_int64(st, 2);
        a->open = col_int64(st, 3);
        a->demoted = !col_null(st, 5);
        a->demoted_ms = col_int64(st, 5);
    }
    conn_done(st);
    return rc;
}

/* Writes an event of layer id (kind, actor NULL for the system) with
 * detail (stolen). 0, -ENOMEM, -EIO. */
static int trust_event(struct conn *c, const char *kind, const char *actor, int64_t layer_id,
                       json_t *detail, int64_t now)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(detail);
    char subject[32];
    snprintf(subject, sizeof subject, "layer:%lld", (long long)layer_id);
    struct dbst *st = text ? conn_stmt(c, ST_LAYER_EVENT) : NULL;
    int rc = text ? -EIO : -ENOMEM;
    if (st) {
        bind_int64(st, 1, now);
        if (actor)
            bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
        bind_text(st, 3, kind, -1, SQLITE_STATIC);
        bind_text(st, 4, subject, -1, SQLITE_TRANSIENT);
        bind_text(st, 5, text, -1, SQLITE_STATIC);
        rc = conn_step_done(st);
    }
    free(text);
    return rc;
}

/* The event of a demotion: what the audits measured against the promise.
 * 0, -ENOMEM, -EIO. */
static int demote_event(struct conn *c, int64_t layer_id, const struct audit_rate *r,
                        int64_t raters, double promise, int64_t now)
{
    json_t *d = json_pack("{s:I,s:I,s:I,s:f,s:[f,f],s:f}", "audited", (json_int_t)r->audited,
                          "disagreements", (json_int_t)r->errors, "raters", (json_int_t)raters,
                          "error_rate", r->rate, "interval", r->lo, r->hi, "promise", promise);
    return trust_event(c, "layer_demoted", NULL, layer_id, d, now);
}

/* A demotion's evidence for layer id among the audits decided after
 * since_ms: the rate into *r, the distinct raters behind its
 * disagreements into *raters. 0 or -EIO. */
static int demote_facts(struct conn *c, int64_t id, int64_t since_ms, struct audit_rate *r,
                        int64_t *raters)
{
    struct dbst *st = conn_stmt(c, ST_AUDIT_DEMOTE_FACTS);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    bind_int64(st, 2, since_ms);
    int rc = store_step(st);
    int64_t decided = 0, errors = 0;
    *raters = 0;
    if (rc == SQLITE_ROW) {
        decided = col_int64(st, 0);
        errors = col_int64(st, 1);
        *raters = col_int64(st, 2);
    }
    conn_done(st);
    audit_error_rate(decided, errors, r);
    return rc == SQLITE_ROW ? 0 : -EIO;
}

/* When layer id was last reinstated (its latest layer_reinstated event)
 * into *at_ms, -1 when never. 0 or -EIO. */
static int reinstated_at(struct conn *c, int64_t id, int64_t *at_ms)
{
    *at_ms = -1;
    struct dbst *st = conn_stmt(c, ST_AUDIT_REINSTATED);
    if (!st)
        return -EIO;
    char subject[32];
    snprintf(subject, sizeof subject, "layer:%lld", (long long)id);
    bind_text(st, 1, subject, -1, SQLITE_TRANSIENT);
    int rc = store_step(st);
    if (rc == SQLITE_ROW)
        *at_ms = col_int64(st, 0);
    conn_done(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* Whether layer id's audits break its promise into *yes (the rate and
 * raters they showed into *r, *raters). Only the audits decided after
 * its last reinstatement count. Those before it broke the promise when it
 * was demoted, so all its audits together break it whenever the later
 * ones do (the evidence of the two parts adds up): the reinstatement is
 * looked up only when all of them do, never on the usual path. 0, -EIO. */
static int demote_judge(struct store *s, struct conn *c, int64_t id, double promise,
                        struct audit_rate *r, int64_t *raters, bool *yes)
{
    uint32_t min = s->tasks->audit_min;
    min = min ? min : AUDIT_MIN_DEFAULT;
    int64_t since = -1;
    int rc = demote_facts(c, id, -1, r, raters);
    *yes = !rc && audit_should_demote(r, *raters, promise, min);
    rc = rc || !*yes ? rc : reinstated_at(c, id, &since);
    if (rc || since < 0)
        return rc;
    rc = demote_facts(c, id, since, r, raters);
    *yes = !rc && audit_should_demote(r, *raters, promise, min);
    return rc;
}

/* Demotes layer id to human-only routing, with an event, when its
 * audited error rate breaks its promise (once). 0, -ENOMEM, -EIO. */
static int demote_check(struct store *s, struct conn *c, int64_t id, int64_t now)
{
    struct layer_audits a;
    int rc = layer_audits_read(c, id, &a);
    if (rc)
        return rc == -ENOENT ? 0 : rc;
    double promise = audit_promise(a.metrics);
    free(a.metrics);
    struct audit_rate r;
    int64_t raters = 0;
    bool yes = false;
    rc = a.demoted ? 0 : demote_judge(s, c, id, promise, &r, &raters, &yes);
    if (rc || !yes)
        return rc;
    struct dbst *st = conn_stmt(c, ST_AUDIT_DEMOTE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    bind_int64(st, 2, now);
    rc = conn_step_done(st);
    return rc ? rc : demote_event(c, id, &r, raters, promise, now);
}

struct reinstate_args {
    int64_t id;
    const char *actor;
};

static int reinstate_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct reinstate_args *x = arg;
    struct layer_audits a;
    int rc = layer_audits_read(c, x->id, &a);
    free(a.metrics);
    if (rc || !a.demoted)
        return rc ? rc : -EALREADY;
    int64_t now = util_now_ms();
    rc = conn_run_id(c, ST_AUDIT_REINSTATE, x->id);
    json_t *d =
        json_pack("{s:I,s:I,s:I}", "audited", (json_int_t)(a.agree + a.disagree), "disagreements",
                  (json_int_t)a.disagree, "demoted_ms", (json_int_t)a.demoted_ms);
    if (rc) {
        json_decref(d);
        return rc;
    }
    return trust_event(c, "layer_reinstated", x->actor, x->id, d, now);
}

int store_layer_reinstate(struct store *s, int64_t id, const char *actor)
{
    struct reinstate_args x = {id, actor};
    return store_run(s, reinstate_job, &x);
}

void store_set_audit_min(struct store *s, uint32_t min_audits)
{
    s->tasks->audit_min = min_audits > AUDIT_MIN_MAX ? AUDIT_MIN_MAX : min_audits;
}

/* An audit as stored. */
struct audit_row {
    int64_t item_seq, layer_id;
    char layer_verdict[8];
    char outcome[16]; /* "" while open */
};

static int audit_get(struct conn *c, int64_t task_id, struct audit_row *a)
{
    memset(a, 0, sizeof *a);
    struct dbst *st = conn_stmt(c, ST_AUDIT_GET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    int rc = store_step(st);
    if (rc == SQLITE_ROW) {
        a->item_seq = col_int64(st, 0);
        a->layer_id = col_int64(st, 1);
        util_strlcpy(a->layer_verdict, col_text(st, 2), sizeof a->layer_verdict);
        const char *o = col_text(st, 3);
        util_strlcpy(a->outcome, o ? (const char *)o : "", sizeof a->outcome);
    }
    conn_done(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : -EIO;
}

/* Flags the audited item: people gave the other answer. 0 or -EIO. */
static int flag_disagreement(struct conn *c, const struct audit_row *a, int64_t now)
{
    struct dbst *st = conn_stmt(c, ST_FLAG_INSERT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, a->item_seq);
    bind_int64(st, 2, a->layer_id);
    bind_text(st, 3, "audit_disagreement", -1, SQLITE_STATIC);
    bind_int64(st, 4, now);
    return conn_step_done(st);
}

int store_audit_decided(struct store *s, struct conn *c, int64_t task_id, const char *human_verdict,
                        int64_t now)
{
    struct audit_row a;
    int rc = audit_get(c, task_id, &a);
    if (rc)
        return rc == -ENOENT ? -EIO : rc; /* an audit task always has its row */
    enum audit_outcome o = audit_compare(a.layer_verdict, human_verdict);
    struct dbst *st = conn_stmt(c, ST_AUDIT_DECIDE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, task_id);
    bind_text(st, 2, human_verdict, -1, SQLITE_STATIC);
    bind_text(st, 3, audit_outcome_name(o), -1, SQLITE_STATIC);
    bind_int64(st, 4, now);
    rc = conn_step_done(st);
    /* A label changed by undo decides again: a disagreement is flagged
     * once. A demotion stays (it was measured). */
    if (!rc && o == AUDIT_DISAGREE && strcmp(a.outcome, "disagree"))
        rc = flag_disagreement(c, &a, now);
    return rc ? rc : demote_check(s, c, a.layer_id, now);
}

/* ---- reading ---- */

void store_layer_trust_clear(struct store_layer_trust *t)
{
    if (!t)
        return;
    free(t->drift);
    memset(t, 0, sizeof *t);
}

/* The labels of the assistance effect into *t. 0 or -EIO. */
static int trust_assist(struct conn *c, int64_t id, struct store_layer_trust *t)
{
    struct dbst *st = conn_stmt(c, ST_AUDIT_ASSIST);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int64_t v[4] = {0};
    int rc, row = 0;
    while ((rc = store_step(st)) == SQLITE_ROW && row < 2) {
        v[2 * row] = col_int64(st, 0);
        v[2 * row + 1] = col_int64(st, 1);
        row++;
    }
    conn_done(st);
    t->blind_labels = v[0];
    t->blind_same = v[1];
    t->shown_labels = v[2];
    t->shown_same = v[3];
    return rc == SQLITE_DONE && row == 2 ? 0 : -EIO;
}

/* The drift last measured into *t. 0, -ENOMEM, -EIO. */
static int trust_drift(struct conn *c, int64_t id, struct store_layer_trust *t)
{
    struct dbst *st = conn_stmt(c, ST_DRIFT_GET);
    if (!st)
        return -EIO;
    bind_int64(st, 1, id);
    int step = store_step(st);
    int rc = step == SQLITE_ROW ? col_dup(st, 1, &t->drift) : step == SQLITE_DONE ? 0 : -EIO;
    if (step == SQLITE_ROW) {
        t->drift_parent = col_int64(st, 0);
        t->drift_ms = col_int64(st, 2);
    }
    conn_done(st);
    return rc;
}

int store_layer_trust(struct store *s, int64_t id, struct store_layer_trust *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store_reader(s);
    struct layer_audits a = {0};
    int rc = conn_run(c, ST_BEGIN_READ);
    bool tx = rc == 0;
    rc = rc ? rc : layer_audits_read(c, id, &a);
    rc = rc ? rc : trust_assist(c, id, out);
    rc = rc ? rc : trust_drift(c, id, out);
    if (tx)
        conn_run(c, ST_COMMIT);
    store_reader_put(s, c);
    out->agree = a.agree;
    out->disagree = a.disagree;
    out->inconclusive = a.inconclusive;
    out->open = a.open;
    out->promise = audit_promise(a.metrics);
    out->demoted = a.demoted;
    out->demoted_ms = a.demoted_ms;
    free(a.metrics);
    if (rc)
        store_layer_trust_clear(out);
    return rc;
}

int store_layer_demoted(struct store *s, int64_t id, bool *demoted)
{
    struct conn *c = store_reader(s);
    int rc = store_audit_human_only(c, id, demoted);
    store_reader_put(s, c);
    return rc;
}

int store_layer_parent(struct store *s, int64_t id, int64_t *parent)
{
    *parent = 0;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_LAYER_PARENT);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, id);
        int step = store_step(st);
        if (step == SQLITE_ROW)
            *parent = col_int64(st, 0);
        rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT : -EIO;
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

/* ---- drift ---- */

static int drift_read(struct dbst *st, void *elem)
{
    struct store_settled *x = elem;
    x->item_seq = col_int64(st, 0);
    int rc = col_dup(st, 1, &x->prompt);
    rc = rc ? rc : col_dup(st, 2, &x->a);
    rc = rc ? rc : col_dup(st, 3, &x->b);
    return rc ? rc : (x->prompt && x->a && x->b) ? 0 : -EIO;
}

static void drift_undo(void *v, size_t n)
{
    store_settled_free(v, n);
}

int store_drift_items(struct store *s, bool recent, size_t max, struct store_settled **v, size_t *n)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, drift_read, drift_undo};
    const int64_t arg = (int64_t)max;
    struct rows rows;
    int rc = store_rows_args(s, recent ? ST_DRIFT_RECENT : ST_DRIFT_PROBE, &arg, 1, &spec, &rows);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

int store_drift_last(struct store *s, int64_t id, int64_t *at_ms)
{
    *at_ms = 0;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_DRIFT_GET);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, id);
        int step = store_step(st);
        if (step == SQLITE_ROW)
            *at_ms = col_int64(st, 2);
        rc = step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

struct drift_args {
    int64_t id, parent;
    const char *detail;
};

static int drift_job(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct drift_args *d = arg;
    struct dbst *st = conn_stmt(c, ST_DRIFT_SAVE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, d->id);
    bind_int64(st, 2, d->parent);
    bind_text(st, 3, d->detail, -1, SQLITE_STATIC);
    bind_int64(st, 4, util_now_ms());
    return conn_step_done(st);
}

int store_drift_save(struct store *s, int64_t id, int64_t parent, const char *detail)
{
    struct drift_args d = {id, parent, detail};
    return store_run(s, drift_job, &d);
}
