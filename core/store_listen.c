/* Several daemons on one PostgreSQL database (issue 16): each writer
 * NOTIFYs STORE_TASKS_CHANNEL after a commit that made tasks claimable
 * (store_tasks.c); each daemon listens here, on a connection of its own,
 * and when another session notified (another daemon, `rungd import`),
 * counts the open tasks again on its writer and wakes its long-polls.
 * SQLite needs none of it: the writer's data_version tells it. */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define LISTEN_POLL_MS 250   /* how often the thread looks at its stop flag */
#define LISTEN_BACKOFF_MAX 8 /* seconds between reconnects at most */

struct store_listen {
    pthread_t thread;
    struct pg_conn *pc;
    int writer_pid; /* our own writer's notifications are not news */
    _Atomic bool stop;
};

static int foreign_job(struct store *s, struct conn *c, void *arg)
{
    (void)arg;
    return store_tasks_foreign(s, c);
}

static struct pg_conn *listen_connect(struct store *s)
{
    char err[256];
    struct pg_conn *pc = pg_connect(s->path, true, err, sizeof err);
    if (pc && pg_listen(pc, STORE_TASKS_CHANNEL) != SQLITE_OK) {
        pg_close(pc);
        pc = NULL;
    }
    if (!pc)
        log_json("warn", "postgresql listener cannot connect", "{s:s}", "why", err);
    return pc;
}

/* Sleeps up to secs seconds, waking early to stop. */
static void backoff(struct store_listen *l, unsigned secs)
{
    for (unsigned i = 0; i < secs * 4 && !atomic_load(&l->stop); i++)
        nanosleep(&(struct timespec){.tv_nsec = 250000000L}, NULL);
}

static void *listen_main(void *arg)
{
    struct store *s = arg;
    struct store_listen *l = s->listen;
    unsigned wait_s = 1;
    pthread_setname_np(pthread_self(), "rung-listen");
    while (!atomic_load(&l->stop)) {
        if (!l->pc) {
            backoff(l, wait_s);
            wait_s = wait_s * 2 > LISTEN_BACKOFF_MAX ? LISTEN_BACKOFF_MAX : wait_s * 2;
            if ((l->pc = listen_connect(s)) == NULL)
                continue;
            wait_s = 1;
            store_run(s, foreign_job, NULL); /* what the gap may have missed */
        }
        int r = pg_wait_notify(l->pc, LISTEN_POLL_MS, l->writer_pid);
        if (r > 0)
            store_run(s, foreign_job, NULL);
        if (r < 0) {
            log_json("warn", "postgresql listener lost its connection", "{}");
            pg_close(l->pc);
            l->pc = NULL;
        }
    }
    return NULL;
}

int store_listen_start(struct store *s)
{
    if (!s->writer.pg)
        return 0;
    struct store_listen *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    s->listen = l;
    l->writer_pid = pg_backend_pid(s->writer.pg);
    l->pc = listen_connect(s);
    if (!l->pc || pthread_create(&l->thread, NULL, listen_main, s)) {
        pg_close(l->pc);
        free(l);
        s->listen = NULL;
        return -EIO;
    }
    return 0;
}

void store_listen_stop(struct store *s)
{
    struct store_listen *l = s->listen;
    if (!l)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    pg_close(l->pc);
    free(l);
    s->listen = NULL;
}
