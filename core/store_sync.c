/* store_sync.c - the WAL's fdatasync off the writer's path.
 *
 * With synchronous=FULL SQLite syncs the WAL inside every COMMIT, and the
 * writer thread waits for the disk before it may run the next group: under
 * load it spent most of its time there (at 4,000 single items a second,
 * 10 of 16 seconds in COMMIT, half a millisecond each at the median), and
 * every request queued behind that wait.
 *
 * Here the writer's connection runs with synchronous=NORMAL: COMMIT writes
 * the group's frames to the WAL and returns. The writer hands the group's
 * jobs to this syncer thread and goes on with the next group; the syncer
 * calls fdatasync on the WAL (its own descriptor of the same file) and only
 * then runs the jobs' done callbacks, which answer the requests. One sync
 * covers every group committed before it began, so groups that commit
 * while a sync runs share the next one. Nothing is acknowledged before the
 * frames holding it are on disk; what a crash of the machine can lose is
 * a suffix of the WAL that nobody was told was stored. Readers may see a
 * group's rows a moment before its sync ends, as they would see any
 * committed transaction.
 *
 * SQLite itself still syncs where NORMAL does: the WAL before each
 * checkpoint, the database after it, the WAL's header when the WAL starts
 * over.
 *
 * A failed sync is final: the kernel may have dropped the pages it could
 * not write, so a later sync that succeeds proves nothing about them. The
 * jobs waiting for it, and every write after it, fail with -EIO until the
 * daemon is restarted (and SQLite's recovery reads what the WAL holds). */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

struct store_sync {
    int fd; /* the WAL file, opened by us */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wjob *head, *tail; /* committed jobs waiting for the next sync */
    bool stopping;
    bool failed;    /* a sync failed: no write is acknowledged any more */
    uint64_t syncs; /* fdatasync calls */
};

static int sync_wal(int fd)
{
    int rc;
    while ((rc = fdatasync(fd)) != 0 && errno == EINTR)
        ;
    return rc ? -errno : 0;
}

static void *sync_main(void *arg)
{
    struct store *s = arg;
    struct store_sync *y = s->sync;
    pthread_setname_np(pthread_self(), "rung-sync");
    pthread_mutex_lock(&y->mu);
    for (;;) {
        while (!y->head && !y->stopping)
            pthread_cond_wait(&y->cv, &y->mu);
        if (!y->head)
            break;
        struct wjob *jobs = y->head;
        y->head = y->tail = NULL;
        bool failed = y->failed;
        pthread_mutex_unlock(&y->mu);
        int rc = failed ? -EIO : sync_wal(y->fd);
        pthread_mutex_lock(&y->mu);
        y->syncs += !failed;
        if (rc && !y->failed) {
            y->failed = true;
            log_json("error", "the WAL could not be synced: writes fail until restart", "{s:s,s:i}",
                     "db", s->path, "errno", -rc);
        }
        pthread_mutex_unlock(&y->mu);
        store_jobs_finish(s, jobs, rc ? -EIO : 0);
        pthread_mutex_lock(&y->mu);
    }
    pthread_mutex_unlock(&y->mu);
    return NULL;
}

static void sync_free(struct store_sync *y)
{
    if (y->fd >= 0)
        close(y->fd);
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->cv);
    free(y);
}

int store_sync_start(struct store *s)
{
    if (!s->writer.db)
        return 0;
    struct store_sync *y = calloc(1, sizeof *y);
    if (!y)
        return -ENOMEM;
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, NULL);
    char wal[4096];
    int n = snprintf(wal, sizeof wal, "%s-wal", s->path);
    y->fd = n > 0 && (size_t)n < sizeof wal ? open(wal, O_RDWR | O_CLOEXEC) : -1;
    if (y->fd < 0) {
        int rc = n > 0 && (size_t)n < sizeof wal ? -errno : -ENAMETOOLONG;
        sync_free(y);
        return rc;
    }
    s->sync = y;
    if (conn_exec(&s->writer, "PRAGMA synchronous = NORMAL") ||
        pthread_create(&y->thread, NULL, sync_main, s)) {
        conn_exec(&s->writer, "PRAGMA synchronous = FULL");
        s->sync = NULL;
        sync_free(y);
        return -EIO;
    }
    return 0;
}

bool store_sync_push(struct store *s, struct wjob *head, struct wjob *tail)
{
    struct store_sync *y = s->sync;
    if (!y)
        return false;
    pthread_mutex_lock(&y->mu);
    if (y->tail)
        store_job_link(y->tail, head);
    else
        y->head = head;
    y->tail = tail;
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
    return true;
}

bool store_sync_failed(struct store *s)
{
    struct store_sync *y = s->sync;
    if (!y)
        return false;
    pthread_mutex_lock(&y->mu);
    bool failed = y->failed;
    pthread_mutex_unlock(&y->mu);
    return failed;
}

uint64_t store_sync_count(struct store *s)
{
    struct store_sync *y = s->sync;
    if (!y)
        return 0;
    pthread_mutex_lock(&y->mu);
    uint64_t n = y->syncs;
    pthread_mutex_unlock(&y->mu);
    return n;
}

int store_sync_break(struct store *s)
{
    struct store_sync *y = s->sync;
    int p[2];
    if (!y || pipe(p))
        return -EINVAL;
    /* fdatasync on a pipe fails with EINVAL, as on a file it could not
     * write. */
    int rc = dup2(p[0], y->fd) < 0 ? -errno : 0;
    close(p[0]);
    close(p[1]);
    return rc;
}

void store_sync_stop(struct store *s)
{
    struct store_sync *y = s->sync;
    if (!y)
        return;
    pthread_mutex_lock(&y->mu);
    y->stopping = true;
    pthread_cond_signal(&y->cv);
    pthread_mutex_unlock(&y->mu);
    pthread_join(y->thread, NULL);
    s->sync = NULL;
    sync_free(y);
}
