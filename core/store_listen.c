/* Several daemons on one PostgreSQL database (issue 16): each writer
 * NOTIFYs STORE_TASKS_CHANNEL after a commit that made tasks claimable
 * (store_tasks.c); each daemon listens here, on a connection of its own,
 * and when another session notified (another daemon, `rungd import`),
 * counts the open tasks again on its writer and wakes its long-polls.
 * SQLite needs none of it: the writer's data_version tells it. */
#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

#define LISTEN_POLL_MS 1000  /* how often the thread looks at its stop flag at least */
#define LISTEN_BACKOFF_MAX 8 /* seconds between reconnects at most */

struct store_listen {
    pthread_t thread;
    struct pg_conn *pc;
    int wake_fd; /* an eventfd: stop at once */
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
    struct pollfd p = {.fd = l->wake_fd, .events = POLLIN};
    if (!atomic_load(&l->stop))
        poll(&p, 1, (int)secs * 1000);
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
            log_json("info", "postgresql listener reconnected", "{}");
            store_run(s, foreign_job, NULL); /* what the gap may have missed */
        }
        /* Our own writer's notifications are not news; it may have
         * connected again since (store.c keeps its pid). */
        int r = pg_wait_notify(l->pc, LISTEN_POLL_MS, atomic_load(&s->writer_pid), l->wake_fd);
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
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->pc = l->wake_fd >= 0 ? listen_connect(s) : NULL;
    if (!l->pc || pthread_create(&l->thread, NULL, listen_main, s)) {
        pg_close(l->pc);
        if (l->wake_fd >= 0)
            close(l->wake_fd);
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
    uint64_t one = 1;
    if (write(l->wake_fd, &one, sizeof one) < 0) {
        /* it stops at its next poll (LISTEN_POLL_MS) */
    }
    pthread_join(l->thread, NULL);
    close(l->wake_fd);
    pg_close(l->pc);
    free(l);
    s->listen = NULL;
}
