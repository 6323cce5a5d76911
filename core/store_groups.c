/* store_groups.c - SQLite's sample-group lookup (issue 14): each group's
 * items in memory (core/group_seqs.h) instead of the b-tree index
 * items_group, which wrote a random leaf page for every new group on the
 * commit path. See store_internal.h and schema/013_group_log.sql.
 *
 * The map holds every row of the log item_groups up to `last` (caught up
 * on connections that see committed rows only, so `last` never passes a
 * row that a rollback could take back and a later commit reuse), and the
 * writer's hints for the items of its open transaction. Items are never
 * deleted (retraction marks them), so committed seqs only grow. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "group_seqs.h"
#include "log.h"
#include "store_internal.h"

#define CATCH_UP_ROWS 256 /* log rows read a statement (16 bytes each on the stack) */

struct store_groups {
    pthread_mutex_t mu; /* guards map and last */
    struct group_seqs *map;
    int64_t last; /* the log's last row in the map */
};

int store_groups_open(struct store *s)
{
    if (s->writer.pg)
        return 0;
    struct store_groups *g = calloc(1, sizeof *g);
    if (!g || !(g->map = group_seqs_new())) {
        free(g);
        return -ENOMEM;
    }
    pthread_mutex_init(&g->mu, NULL);
    s->groups = g;
    return store_groups_catch_up(s, &s->writer);
}

void store_groups_close(struct store *s)
{
    struct store_groups *g = s->groups;
    if (!g)
        return;
    group_seqs_free(g->map);
    pthread_mutex_destroy(&g->mu);
    free(g);
    s->groups = NULL;
}

/* Reads up to CATCH_UP_ROWS log rows past *from on c without the lock,
 * then adds them under it: the statement never holds up the readers'
 * lookups. Rows at or below g->last are in the map already; any
 * snapshot's rows are complete up to its last one (committed seqs only
 * grow), so g->last moves to it. The rows read, or a negative errno. */
static int catch_up_some(struct store_groups *g, struct conn *c, int64_t *from)
{
    struct row {
        int64_t seq;
        uint64_t h;
    } rows[CATCH_UP_ROWS];
    struct dbst *st = conn_stmt(c, ST_GROUP_LOG_SINCE);
    if (!st)
        return -EIO;
    bind_int64(st, 1, *from);
    bind_int64(st, 2, CATCH_UP_ROWS);
    int n = 0, step = SQLITE_DONE;
    while (n < CATCH_UP_ROWS && (step = store_step(st)) == SQLITE_ROW) {
        const char *group = col_text(st, 2);
        rows[n++] =
            (struct row){col_int64(st, 0), group_seqs_hash(col_int64(st, 1), group ? group : "")};
    }
    conn_done(st);
    if (n < CATCH_UP_ROWS && step != SQLITE_DONE)
        return -EIO;
    int rc = 0;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < n && !rc; i++)
        if (rows[i].seq > g->last)
            rc = group_seqs_add(g->map, rows[i].h, rows[i].seq);
    if (!rc && n && rows[n - 1].seq > g->last)
        g->last = rows[n - 1].seq;
    pthread_mutex_unlock(&g->mu);
    *from = n ? rows[n - 1].seq : *from;
    return rc ? rc : n;
}

int store_groups_catch_up(struct store *s, struct conn *c)
{
    struct store_groups *g = s->groups;
    if (!g)
        return 0;
    pthread_mutex_lock(&g->mu);
    int64_t from = g->last;
    pthread_mutex_unlock(&g->mu);
    int rc;
    while ((rc = catch_up_some(g, c, &from)) == CATCH_UP_ROWS)
        ;
    if (rc < 0)
        log_json("error", "cannot read the group log", "{s:i}", "errno", -rc);
    return rc < 0 ? rc : 0;
}

int store_groups_hint(struct store *s, int64_t key_id, const char *group, int64_t seq)
{
    struct store_groups *g = s->groups;
    if (!g)
        return 0;
    uint64_t h = group_seqs_hash(key_id, group);
    pthread_mutex_lock(&g->mu);
    int rc = group_seqs_add(g->map, h, seq);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

size_t store_groups_candidates(struct store *s, int64_t key_id, const char *group, int64_t after,
                               int64_t below, int64_t *seqs, size_t max)
{
    struct store_groups *g = s->groups;
    if (!g)
        return 0;
    uint64_t h = group_seqs_hash(key_id, group);
    pthread_mutex_lock(&g->mu);
    size_t n = group_seqs_get(g->map, h, after, below, seqs, max);
    pthread_mutex_unlock(&g->mu);
    return n;
}

void store_group_stats(struct store *s, struct store_group_stats *st)
{
    struct store_groups *g = s->groups;
    *st = (struct store_group_stats){0};
    if (!g)
        return;
    struct group_seqs_stats m;
    pthread_mutex_lock(&g->mu);
    group_seqs_stats(g->map, &m);
    pthread_mutex_unlock(&g->mu);
    *st = (struct store_group_stats){m.groups, m.seqs, m.bytes};
}
