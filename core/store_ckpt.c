/* store_ckpt.c - WAL checkpoints off the commit path.
 *
 * SQLite's automatic checkpoint runs inside the commit that crosses its
 * threshold and, with synchronous=FULL, fsyncs the database file while every
 * request of the group waits for that commit. Here the writer only counts:
 * its WAL hook (which replaces the automatic checkpoint) records how many
 * frames the WAL holds after each commit and wakes a checkpointer thread,
 * which runs on its own connection:
 *
 *   - PASSIVE once the WAL holds CKPT_PASSIVE_PAGES frames that no
 *     checkpoint has copied yet: copies what no reader still needs and never
 *     waits for, or blocks, anyone. When it has copied everything, the
 *     writer's next transaction starts the WAL over. Counting the frames
 *     not yet copied (not the WAL's length) matters: under a steady stream
 *     of commits the WAL rarely starts over (a commit lands while each
 *     checkpoint copies), and a PASSIVE after every commit once the WAL was
 *     past the threshold fsynced the database file about 500 times a
 *     second beside the writer's own WAL syncs (8,455 in 16 s at 4,000
 *     single-item requests a second).
 *   - RESTART once the WAL holds CKPT_CAP_PAGES frames (a stream of commits
 *     or readers kept it from starting over). The writer does not start its
 *     next group until that RESTART is done (store_ckpt_gate; CKPT_GATE_MS
 *     guards against a checkpointer that cannot run), so the WAL never
 *     holds more than CKPT_CAP_PAGES frames
 *     plus one group's: the one case where a write waits for a checkpoint,
 *     and only past the bound. The PASSIVE ones have copied nearly
 *     everything by then, so the wait is about one fsync.
 *   - TRUNCATE when nothing was committed for a second: the WAL file shrinks
 *     to nothing while there is nothing to delay.
 *
 * A crash during any checkpoint loses nothing: committed frames stay in the
 * WAL until SQLite has copied and synced them. */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "limits.h"
#include "log.h"
#include "util.h"

struct store_ckpt {
    sqlite3 *db; /* the checkpointer's own connection */
    pthread_t thread;
    pthread_mutex_t mu;     /* guards the fields below up to the counters */
    pthread_cond_t cv;      /* wakes the checkpointer */
    pthread_cond_t gate_cv; /* wakes a writer waiting at the gate */
    bool stopping;
    int wal_pages;         /* frames in the WAL after the latest commit */
    int copied;            /* frames of it the last checkpoint copied */
    uint64_t starts;       /* times the WAL started over (seen by the hook) */
    uint64_t commits;      /* commits seen by the WAL hook */
    uint64_t done_at;      /* commits when the last checkpoint ran */
    uint64_t restart_at;   /* commits when the last RESTART ran */
    uint64_t truncated_at; /* commits when the WAL was last truncated */
    struct store_ckpt_stats stats;
};

/* The writer's WAL hook, called on the writer thread after each commit. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    struct store_ckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    if (pages < k->wal_pages) { /* the WAL started over */
        k->copied = 0;
        k->starts++;
        k->stats.frames += (uint64_t)pages;
    } else
        k->stats.frames += (uint64_t)(pages - k->wal_pages);
    k->wal_pages = pages;
    k->commits++;
    if (pages > k->stats.wal_pages_max)
        k->stats.wal_pages_max = pages;
    if (pages - k->copied >= CKPT_PASSIVE_PAGES)
        pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    return SQLITE_OK;
}

/* Runs one checkpoint of mode and counts it (k->mu held on entry and on
 * return; released while SQLite works). */
static void checkpoint(struct store_ckpt *k, int mode, uint64_t *counter)
{
    uint64_t starts = k->starts;
    pthread_mutex_unlock(&k->mu);
    int log = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, mode, &log, &copied);
    pthread_mutex_lock(&k->mu);
    if (rc == SQLITE_OK) {
        (*counter)++;
        /* After a RESTART or TRUNCATE the writer's next commit starts the
         * WAL over. */
        if (mode != SQLITE_CHECKPOINT_PASSIVE) {
            k->wal_pages = 0;
            k->copied = 0;
        } else if (starts == k->starts) /* else copied counts an older WAL */
            k->copied = copied;
        pthread_cond_broadcast(&k->gate_cv);
    } else if (rc == SQLITE_BUSY) {
        k->stats.busy++;
        pthread_cond_broadcast(&k->gate_cv);
    } else
        log_json("error", "checkpoint failed", "{s:i,s:s}", "mode", mode, "why",
                 sqlite3_errmsg(k->db));
}

/* The checkpoint the WAL needs now, or -1: RESTART at the bound, PASSIVE
 * past its threshold, TRUNCATE after an idle second; each at most once per
 * commit count, so that nothing repeats while no commit comes. k->mu held. */
static int needed(const struct store_ckpt *k, bool idle)
{
    if (k->wal_pages >= CKPT_CAP_PAGES && k->commits != k->restart_at)
        return SQLITE_CHECKPOINT_RESTART;
    if (k->wal_pages - k->copied >= CKPT_PASSIVE_PAGES && k->commits != k->done_at)
        return SQLITE_CHECKPOINT_PASSIVE;
    if (idle && k->commits != k->truncated_at)
        return SQLITE_CHECKPOINT_TRUNCATE;
    return -1;
}

/* Waits until the WAL needs work, a second has passed, or stop. Returns
 * true when the last second saw no commit. k->mu held. */
static bool wait_for_work(struct store_ckpt *k)
{
    uint64_t before = k->commits;
    if (needed(k, false) < 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
    }
    return k->commits == before;
}

static void *ckpt_main(void *arg)
{
    struct store_ckpt *k = arg;
    pthread_setname_np(pthread_self(), "rung-ckpt");
    pthread_mutex_lock(&k->mu);
    while (!k->stopping) {
        bool idle = wait_for_work(k);
        int mode = k->stopping ? -1 : needed(k, idle);
        uint64_t now = k->commits;
        if (mode == SQLITE_CHECKPOINT_RESTART) {
            checkpoint(k, mode, &k->stats.restart);
            k->restart_at = now;
        } else if (mode == SQLITE_CHECKPOINT_PASSIVE) {
            checkpoint(k, mode, &k->stats.passive);
        } else if (mode == SQLITE_CHECKPOINT_TRUNCATE) {
            checkpoint(k, mode, &k->stats.truncate);
            k->truncated_at = now;
        } else
            continue;
        k->done_at = now;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

int store_ckpt_start(struct store *s)
{
    struct store_ckpt *k = calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    pthread_cond_init(&k->gate_cv, NULL);
    int rc = -EIO;
    if (sqlite3_open_v2(s->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL))
        goto fail;
    /* RESTART and TRUNCATE wait this long for readers before giving up
     * (counted as busy, tried again on the next round). */
    sqlite3_busy_timeout(k->db, CKPT_BUSY_MS);
    if (sqlite3_exec(k->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL))
        goto fail;
    /* The hook replaces the automatic checkpoint (also turned off by name,
     * so that nobody re-enables it by accident). */
    if (conn_exec(&s->writer, "PRAGMA wal_autocheckpoint = 0"))
        goto fail;
    sqlite3_wal_hook(s->writer.db, wal_hook, k);
    if (pthread_create(&k->thread, NULL, ckpt_main, k)) {
        sqlite3_wal_hook(s->writer.db, NULL, NULL);
        goto fail;
    }
    s->ckpt = k;
    return 0;
fail:
    sqlite3_close(k->db);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    pthread_cond_destroy(&k->gate_cv);
    free(k);
    return rc;
}

void store_ckpt_stop(struct store *s)
{
    struct store_ckpt *k = s->ckpt;
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stopping = true;
    pthread_cond_signal(&k->cv);
    pthread_cond_broadcast(&k->gate_cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    sqlite3_wal_hook(s->writer.db, NULL, NULL);
    sqlite3_close(k->db);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    pthread_cond_destroy(&k->gate_cv);
    free(k);
    s->ckpt = NULL;
}

void store_ckpt_gate(struct store *s)
{
    struct store_ckpt *k = s->ckpt;
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    if (k->wal_pages >= CKPT_CAP_PAGES && !k->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)CKPT_GATE_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        k->stats.gated++;
        pthread_cond_signal(&k->cv);
        /* Until the RESTART has started the WAL over (wal_pages back to 0).
         * A RESTART that gave way to readers (busy) lets the writer go on,
         * and the next group asks again; so does the time limit, a guard
         * against a checkpointer that cannot run at all. */
        uint64_t busy = k->stats.busy, t0 = util_mono_us();
        while (k->wal_pages >= CKPT_CAP_PAGES && !k->stopping && k->stats.busy == busy)
            if (pthread_cond_timedwait(&k->gate_cv, &k->mu, &ts) == ETIMEDOUT)
                break;
        k->stats.gated_us += util_mono_us() - t0;
    }
    pthread_mutex_unlock(&k->mu);
}

void store_ckpt_stats(struct store *s, struct store_ckpt_stats *out)
{
    struct store_ckpt *k = s->ckpt;
    *out = (struct store_ckpt_stats){0};
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    *out = k->stats;
    out->wal_pages = k->wal_pages;
    out->commits = k->commits;
    pthread_mutex_unlock(&k->mu);
}
