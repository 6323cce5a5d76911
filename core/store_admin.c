/* The admin's view in the store: batches listed and counted, a rater in
 * detail, the labels agreement statistics rest on, the gauges of
 * /metrics. Reads only; every figure that must agree with the others of
 * the same reply comes from one read transaction. */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int batch_row_read(struct dbst *st, void *elem)
{
    struct store_batch_row *b = elem;
    const char *name = col_text(st, 0);
    if (!name || util_strlcpy(b->batch, name, sizeof b->batch))
        return -EIO;
    b->items = col_int64(st, 1);
    b->decided = col_int64(st, 2);
    b->outstanding = col_int64(st, 3);
    return 0;
}

int store_batch_list(struct store *s, const char *after, unsigned limit, struct store_batch_row **v,
                     size_t *n, bool *more)
{
    const struct rows_spec spec = {sizeof **v, limit, batch_row_read, NULL};
    struct rows rows = {0};
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_BATCH_LIST);
    if (st) {
        /* "" sorts before every name: the first page. */
        bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
        bind_int64(st, 2, (int64_t)limit + 1);
    }
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    store_reader_put(s, c);
    *v = rows.v;
    *n = rows.n;
    *more = rows.more;
    return rc;
}

void store_batch_stats_clear(struct store_batch_stats *st)
{
    if (!st)
        return;
    store_counts_clear(&st->by_status);
    store_counts_clear(&st->by_route);
    store_counts_clear(&st->by_verdict);
    store_counts_clear(&st->by_source);
    memset(st, 0, sizeof *st);
}

/* Reads statement id's (value, count) rows for batch into *out. */
static int batch_counts(struct conn *c, enum stmt_id id, const char *batch,
                        struct store_counts *out)
{
    struct dbst *st = conn_stmt(c, id);
    if (st)
        bind_text(st, 1, batch, -1, SQLITE_STATIC);
    int rc = store_counts_read(st, out);
    conn_done(st);
    return rc;
}

/* The batch's task figures and labels per hour into *out. 0 or -EIO. */
static int batch_tasks(struct conn *c, const char *batch, int64_t now_ms,
                       struct store_batch_stats *out)
{
    struct dbst *st = conn_stmt(c, ST_BATCH_TASKS);
    if (!st)
        return -EIO;
    bind_text(st, 1, batch, -1, SQLITE_STATIC);
    int rc = store_step(st) == SQLITE_ROW ? 0 : -EIO;
    if (!rc) {
        out->tasks_done = col_int64(st, 0);
        out->tasks_open = col_int64(st, 1);
        out->labels_wanted = col_int64(st, 2);
    }
    conn_done(st);
    st = rc ? NULL : conn_stmt(c, ST_BATCH_HOURLY);
    if (!st)
        return -EIO;
    bind_text(st, 1, batch, -1, SQLITE_STATIC);
    bind_int64(st, 2, now_ms);
    int step;
    while ((step = store_step(st)) == SQLITE_ROW) {
        int64_t ago = col_int64(st, 0); /* whole hours before now_ms */
        if (ago >= 0 && ago < STORE_HOURS)
            out->labels_per_hour[STORE_HOURS - 1 - ago] = col_int64(st, 1);
    }
    conn_done(st);
    return step == SQLITE_DONE ? 0 : -EIO;
}

int store_batch_stats(struct store *s, const char *batch, int64_t now_ms,
                      struct store_batch_stats *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store_reader(s);
    int rc = conn_run(c, ST_BEGIN_READ);
    if (rc)
        goto out;
    rc = batch_counts(c, ST_BATCH_COUNT_STATUS, batch, &out->by_status);
    rc = rc ? rc : batch_counts(c, ST_BATCH_COUNT_ROUTE, batch, &out->by_route);
    rc = rc ? rc : batch_counts(c, ST_BATCH_COUNT_VERDICT, batch, &out->by_verdict);
    rc = rc ? rc : batch_counts(c, ST_BATCH_COUNT_SOURCE, batch, &out->by_source);
    rc = rc ? rc : batch_tasks(c, batch, now_ms, out);
    for (size_t i = 0; !rc && i < out->by_status.n; i++)
        out->items += out->by_status.v[i].n;
    if (conn_run(c, ST_COMMIT) && !rc)
        rc = -EIO;
out:
    store_reader_put(s, c);
    if (rc)
        store_batch_stats_clear(out);
    return rc;
}

static int unit_label_read(struct dbst *st, void *elem)
{
    struct store_unit_label *l = elem;
    const char *answer = col_text(st, 2);
    l->task_id = col_int64(st, 0);
    l->rater_id = col_int64(st, 1);
    return !answer || util_strlcpy(l->answer, answer, sizeof l->answer) ? -EIO : 0;
}

int store_agreement_labels(struct store *s, const char *batch, struct store_unit_label **v,
                           size_t *n)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, unit_label_read, NULL};
    struct rows rows = {0};
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_AGREE_LABELS);
    if (st)
        bind_text_or_null(st, 1, batch);
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    store_reader_put(s, c);
    *v = rows.v;
    *n = rows.n;
    return rc;
}

int store_rater_get(struct store *s, int64_t rater_id, int64_t now_ms,
                    struct store_rater_detail *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, ST_RATER_DETAIL);
    int rc = -EIO;
    if (st) {
        bind_int64(st, 1, rater_id);
        bind_int64(st, 2, now_ms);
        int step = store_step(st);
        rc = step == SQLITE_ROW    ? store_rater_row_read(st, &out->r)
             : step == SQLITE_DONE ? -ENOENT
                                   : -EIO;
    }
    if (!rc) {
        out->skips = col_int64(st, 8);
        out->lease_expiries = col_int64(st, 9);
        out->verdicts_seen = col_int64(st, 10);
        out->verdicts_same = col_int64(st, 11);
        out->has_median = !col_null(st, 12);
        out->median_seconds = col_double(st, 12);
    }
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

/* Adds the open tasks by kind to *out. 0 or -EIO. */
static int gauge_queue(struct conn *c, struct store_gauges *out)
{
    struct store_counts q = {0};
    struct dbst *st = conn_stmt(c, ST_GAUGE_QUEUE);
    int rc = store_counts_read(st, &q);
    conn_done(st);
    for (size_t i = 0; !rc && i < q.n; i++) {
        const char *kind = q.v[i].value ? q.v[i].value : "";
        if (!strcmp(kind, "pair"))
            out->queue_pair = q.v[i].n;
        else if (!strcmp(kind, "single"))
            out->queue_single = q.v[i].n;
        else if (!strcmp(kind, "subquestion"))
            out->queue_subq = q.v[i].n;
    }
    store_counts_clear(&q);
    return rc;
}

/* The audits' and webhooks' figures into *out. 0 or -EIO. */
static int gauge_trust(struct conn *c, struct store_gauges *out)
{
    struct dbst *st = conn_stmt(c, ST_GAUGE_TRUST);
    int rc = st && store_step(st) == SQLITE_ROW ? 0 : -EIO;
    if (!rc) {
        out->audits_agree = col_int64(st, 0);
        out->audits_disagree = col_int64(st, 1);
        out->audits_inconclusive = col_int64(st, 2);
        out->audits_open = col_int64(st, 3);
        out->active_agree = col_int64(st, 4);
        out->active_disagree = col_int64(st, 5);
        out->active_demoted = col_int64(st, 6) != 0;
        out->hook_delivered = col_int64(st, 7);
        out->hook_failed = col_int64(st, 8);
        out->hook_pending = col_int64(st, 9);
    }
    conn_done(st);
    return rc;
}

int store_gauges(struct store *s, int64_t now_ms, struct store_gauges *out)
{
    memset(out, 0, sizeof *out);
    struct conn *c = store_reader(s);
    int rc = conn_run(c, ST_BEGIN_READ);
    if (rc)
        goto out;
    rc = gauge_queue(c, out);
    struct dbst *st = rc ? NULL : conn_stmt(c, ST_GAUGES);
    if (st) {
        bind_int64(st, 1, now_ms);
        rc = store_step(st) == SQLITE_ROW ? 0 : -EIO;
    } else {
        rc = -EIO;
    }
    if (!rc) {
        out->leases_live = col_int64(st, 0);
        out->labels = col_int64(st, 1);
        out->items_auto = col_int64(st, 2);
        out->items = col_int64(st, 3);
        out->active_layer = col_int64(st, 4);
    }
    conn_done(st);
    rc = rc ? rc : gauge_trust(c, out);
    if (conn_run(c, ST_COMMIT) && !rc)
        rc = -EIO;
out:
    store_reader_put(s, c);
    return rc;
}
