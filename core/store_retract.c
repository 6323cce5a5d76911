/* Retraction: tombstones for items a pipeline or an admin takes back.
 * The rows stay (labels, comparisons and events keep pointing at them);
 * every read that serves data leaves them out by items.deleted_ms. */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A live item to retract: its seq, and its key and sample group (NULL:
 * none), which lose a sample. */
struct target {
    int64_t seq, key_id;
    char *group;
};

static int target_read(struct dbst *st, void *elem)
{
    struct target *t = elem;
    const char *g = col_text(st, 2);
    *t = (struct target){col_int64(st, 0), col_int64(st, 1), g ? strdup(g) : NULL};
    return g && !t->group ? -ENOMEM : 0;
}

static void targets_free(void *v, size_t n)
{
    struct target *t = v;
    for (size_t i = 0; i < n; i++)
        free(t[i].group);
    free(t);
}

/* Reads the live items r names into a malloc'd *out of *n (the caller
 * frees it with targets_free). 0, -ENOMEM, -EIO. */
static int retract_targets(struct conn *c, const struct store_retract *r, struct target **out,
                           size_t *n)
{
    static const struct rows_spec spec = {sizeof(struct target), SIZE_MAX, target_read,
                                          targets_free};
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
    *out = rows.v;
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

/* Orders targets by key, group and seq, those without a group last. */
static int target_cmp(const void *pa, const void *pb)
{
    const struct target *a = pa, *b = pb;
    if (!a->group || !b->group)
        return !a->group - !b->group;
    if (a->key_id != b->key_id)
        return a->key_id < b->key_id ? -1 : 1;
    int d = strcmp(a->group, b->group);
    return d ? d : (a->seq > b->seq) - (a->seq < b->seq);
}

/* The groups the retracted items t left (sorted here): each group whose
 * first live items lost one has its waiting items scored again
 * (store_group_lost_sample, with the group's earliest retracted item: the
 * one nearest its first items). 0 or negative errno. */
static int groups_lost_samples(struct store *s, struct conn *c, struct target *t, size_t n)
{
    qsort(t, n, sizeof *t, target_cmp);
    int rc = 0;
    for (size_t i = 0; !rc && i < n && t[i].group; i++)
        if (i == 0 || t[i].key_id != t[i - 1].key_id || strcmp(t[i].group, t[i - 1].group))
            rc = store_group_lost_sample(s, c, t[i].key_id, t[i].group, t[i].seq);
    return rc;
}

static int retract_job(struct store *s, struct conn *c, void *arg)
{
    struct store_retract *r = arg;
    struct target *t = NULL;
    size_t n = 0;
    int64_t now = util_now_ms();
    r->retracted = 0;
    int rc = retract_targets(c, r, &t, &n);
    if (!rc && n == 0)
        rc = -ENOENT;
    for (size_t i = 0; !rc && i < n; i++)
        rc = retract_one(c, t[i].seq, now);
    if (!rc)
        rc = groups_lost_samples(s, c, t, n);
    if (!rc) {
        r->retracted = (int64_t)n;
        rc = retract_event(c, r, now);
    }
    /* Closed tasks leave the open count; a failure is recounted by the
     * writer's after-group hook. */
    if (!rc)
        rc = store_tasks_recount(s, c);
    targets_free(t, n);
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
