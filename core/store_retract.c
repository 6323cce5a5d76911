/* Retraction: tombstones for items a pipeline or an admin takes back.
 * The rows stay (labels, comparisons and events keep pointing at them);
 * every read that serves data leaves them out by items.deleted_ms. */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int seq_read(struct dbst *st, void *elem)
{
    *(int64_t *)elem = col_int64(st, 0);
    return 0;
}

/* Reads the seqs of the live items r names into a malloc'd *seqs of *n
 * (the caller frees it). 0, -ENOMEM, -EIO. */
static int retract_targets(struct conn *c, const struct store_retract *r, int64_t **seqs, size_t *n)
{
    static const struct rows_spec spec = {sizeof(int64_t), SIZE_MAX, seq_read, NULL};
    struct dbst *st = conn_stmt(c, r->item_id ? ST_RETRACT_ITEM_SEQ : ST_RETRACT_BATCH_SEQS);
    if (st && r->item_id) {
        bind_text(st, 1, r->item_id, -1, SQLITE_STATIC);
        bind_int64(st, 2, r->key_id);
    } else if (st) {
        bind_text(st, 1, r->batch, -1, SQLITE_STATIC);
    }
    struct rows rows;
    int rc = store_rows_read(st, &spec, &rows);
    conn_done(st);
    *seqs = rows.v;
    *n = rows.n;
    return rc;
}

/* Tombstones one item and takes its tasks out of the queue. 0 or -EIO. */
static int retract_one(struct conn *c, int64_t seq, int64_t now)
{
    if (conn_run_id(c, ST_RETRACT_LEASES, seq) || conn_run_id(c, ST_RESCORE_CLOSE_TASKS, seq))
        return -EIO;
    struct dbst *st = conn_stmt(c, ST_RETRACT_MARK);
    if (!st)
        return -EIO;
    bind_int64(st, 1, seq);
    bind_int64(st, 2, now);
    return conn_step_done(st);
}

/* Writes the event of a retraction. 0 or -EIO. */
static int retract_event(struct conn *c, const struct store_retract *r, int64_t now)
{
    char subject[STORE_LABEL_MAX + 16], detail[48];
    snprintf(subject, sizeof subject, "%s:%s", r->item_id ? "item" : "batch",
             r->item_id ? r->item_id : r->batch);
    snprintf(detail, sizeof detail, "{\"items\":%lld}", (long long)r->retracted);
    struct dbst *st = conn_stmt(c, ST_LAYER_EVENT);
    if (!st)
        return -EIO;
    bind_int64(st, 1, now);
    bind_text_or_null(st, 2, r->actor);
    bind_text(st, 3, r->item_id ? "item_deleted" : "batch_deleted", -1, SQLITE_STATIC);
    bind_text(st, 4, subject, -1, SQLITE_TRANSIENT);
    if (r->item_id)
        bind_null(st, 5);
    else
        bind_text(st, 5, detail, -1, SQLITE_TRANSIENT);
    return conn_step_done(st);
}

/* A sample group an item left: its key, name and the item's seq. */
struct lost {
    int64_t key_id, seq;
    char *group;
};

static int lost_cmp(const void *pa, const void *pb)
{
    const struct lost *a = pa, *b = pb;
    if (a->key_id != b->key_id)
        return a->key_id < b->key_id ? -1 : 1;
    int d = strcmp(a->group, b->group);
    return d ? d : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Reads the groups of the n items seqs into *out (malloc'd, *nout of them,
 * the items without a group left out). 0, -ENOMEM, -EIO. */
static int lost_groups(struct conn *c, const int64_t *seqs, size_t n, struct lost **out,
                       size_t *nout)
{
    struct lost *l = calloc(n ? n : 1, sizeof *l);
    size_t k = 0;
    int rc = l ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        struct dbst *st = conn_stmt(c, ST_ITEM_GROUP_OF);
        if (st)
            bind_int64(st, 1, seqs[i]);
        int step = st ? store_step(st) : SQLITE_ERROR;
        if (step == SQLITE_ROW) {
            l[k] = (struct lost){col_int64(st, 0), col_int64(st, 2), strdup(col_text(st, 1))};
            rc = l[k++].group ? 0 : -ENOMEM;
        } else if (step != SQLITE_DONE)
            rc = -EIO;
        conn_done(st);
    }
    *out = l;
    *nout = k;
    return rc;
}

/* The groups the retracted items left: each group whose first live items
 * lost one has its waiting items scored again (store_group_lost_sample,
 * with the group's earliest retracted item: the one nearest its first
 * items). 0 or negative errno. */
static int groups_lost_samples(struct store *s, struct conn *c, const int64_t *seqs, size_t n)
{
    struct lost *l;
    size_t k;
    int rc = lost_groups(c, seqs, n, &l, &k);
    if (!rc)
        qsort(l, k, sizeof *l, lost_cmp);
    for (size_t i = 0; !rc && i < k; i++)
        if (i == 0 || l[i].key_id != l[i - 1].key_id || strcmp(l[i].group, l[i - 1].group))
            rc = store_group_lost_sample(s, c, l[i].key_id, l[i].group, l[i].seq);
    for (size_t i = 0; i < k; i++)
        free(l[i].group);
    free(l);
    return rc;
}

static int retract_job(struct store *s, struct conn *c, void *arg)
{
    struct store_retract *r = arg;
    int64_t *seqs = NULL;
    size_t n = 0;
    int64_t now = util_now_ms();
    r->retracted = 0;
    int rc = retract_targets(c, r, &seqs, &n);
    if (!rc && n == 0)
        rc = -ENOENT;
    for (size_t i = 0; !rc && i < n; i++)
        rc = retract_one(c, seqs[i], now);
    if (!rc)
        rc = groups_lost_samples(s, c, seqs, n);
    if (!rc) {
        r->retracted = (int64_t)n;
        rc = retract_event(c, r, now);
    }
    /* Closed tasks leave the open count; a failure is recounted by the
     * writer's after-group hook. */
    if (!rc)
        rc = store_tasks_recount(s, c);
    free(seqs);
    return rc;
}

int store_retract(struct store *s, struct store_retract *r)
{
    if (!r->item_id && !r->batch)
        return -EINVAL;
    int rc = store_run(s, retract_job, r);
    if (rc)
        r->retracted = 0;
    return rc;
}
