/* netguard.c - deadlines per connection and rates per key (see netguard.h). */
#include "netguard.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "limits.h"
#include "ratelimit.h"
#include "util.h"

/* One open connection. */
struct gconn {
    int fd;
    enum guard_phase phase;
    uint64_t since_us; /* when the phase began */
    uint64_t bytes;    /* body bytes read in GUARD_BODY */
    bool cut;          /* shut down by the sweep */
    struct gconn *prev, *next;
};

/* A key's bucket in an open-addressing table (id 0: a free slot). */
struct kbucket {
    int64_t id;
    struct bucket b;
};

struct guard {
    struct net_limits lim;
    pthread_mutex_t mu; /* guards the list, every gconn's fields and the table */
    struct gconn *head;
    struct kbucket *tab;
    size_t cap, used;
    atomic_uint_fast64_t cut_headers, cut_body, rate_limited;
};

struct guard *guard_new(const struct net_limits *lim)
{
    struct guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->lim = *lim;
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void guard_free(struct guard *g)
{
    if (!g)
        return;
    /* libmicrohttpd has closed every connection (and told us) by now. */
    pthread_mutex_destroy(&g->mu);
    free(g->tab);
    free(g);
}

static struct gconn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
    struct guard *g = cls;
    struct gconn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof *c);
        if (!c || !ci) {
            free(c); /* unwatched: libmicrohttpd's idle timeout still applies */
            return;
        }
        c->fd = ci->connect_fd;
        c->since_us = util_mono_us();
        pthread_mutex_lock(&g->mu);
        c->next = g->head;
        if (g->head)
            g->head->prev = c;
        g->head = c;
        pthread_mutex_unlock(&g->mu);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    /* libmicrohttpd closes the socket only after this returns, so the sweep
     * (under the same lock) never shuts a descriptor reused by another. */
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&g->mu);
    free(c);
    *socket_context = NULL;
}

void guard_phase(struct guard *g, struct MHD_Connection *conn, enum guard_phase p)
{
    struct gconn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    c->phase = p;
    c->since_us = util_mono_us();
    c->bytes = 0;
    pthread_mutex_unlock(&g->mu);
}

void guard_body_bytes(struct guard *g, struct MHD_Connection *conn, uint64_t n)
{
    struct gconn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&g->mu);
    c->bytes += n;
    pthread_mutex_unlock(&g->mu);
}

/* True when c is past its deadline at now_us (counted in g). */
static bool overdue(struct guard *g, const struct gconn *c, uint64_t now_us)
{
    uint64_t age_us = now_us > c->since_us ? now_us - c->since_us : 0;
    if (c->phase == GUARD_HEADERS && age_us > (uint64_t)g->lim.header_s * 1000000u) {
        atomic_fetch_add(&g->cut_headers, 1);
        return true;
    }
    uint64_t grace_us = (uint64_t)BODY_RATE_GRACE_S * 1000000u;
    if (c->phase == GUARD_BODY && g->lim.body_rate && age_us > grace_us &&
        (double)c->bytes < (double)g->lim.body_rate * (double)(age_us - grace_us) / 1e6) {
        atomic_fetch_add(&g->cut_body, 1);
        return true;
    }
    return false;
}

void guard_sweep(struct guard *g)
{
    uint64_t now = util_mono_us();
    pthread_mutex_lock(&g->mu);
    for (struct gconn *c = g->head; c; c = c->next) {
        if (c->cut || !overdue(g, c, now))
            continue;
        /* libmicrohttpd sees the end of the stream and closes it. */
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
    }
    pthread_mutex_unlock(&g->mu);
}

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

/* The bucket of id, added when new. NULL when out of memory. */
static struct bucket *bucket_of(struct guard *g, int64_t id)
{
    if (g->cap) {
        for (size_t i = slot_of(id, g->cap);; i = (i + 1) & (g->cap - 1)) {
            if (g->tab[i].id == id)
                return &g->tab[i].b;
            if (!g->tab[i].id)
                break;
        }
    }
    if ((g->used + 1) * 2 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        struct kbucket *tab = calloc(cap, sizeof *tab);
        if (!tab)
            return NULL;
        for (size_t k = 0; k < g->cap; k++) {
            if (!g->tab[k].id)
                continue;
            size_t i = slot_of(g->tab[k].id, cap);
            while (tab[i].id)
                i = (i + 1) & (cap - 1);
            tab[i] = g->tab[k];
        }
        free(g->tab);
        g->tab = tab;
        g->cap = cap;
    }
    size_t i = slot_of(id, g->cap);
    while (g->tab[i].id)
        i = (i + 1) & (g->cap - 1);
    g->tab[i].id = id;
    g->used++;
    return &g->tab[i].b;
}

bool guard_rate_take(struct guard *g, int64_t key_id, unsigned *retry_s)
{
    if (g->lim.rate <= 0 || key_id == 0)
        return true;
    pthread_mutex_lock(&g->mu);
    struct bucket *b = bucket_of(g, key_id);
    /* Out of memory: let the request through rather than refuse a key. */
    bool ok = !b || bucket_take(b, g->lim.rate, g->lim.burst, util_mono_us(), retry_s);
    pthread_mutex_unlock(&g->mu);
    if (!ok)
        atomic_fetch_add(&g->rate_limited, 1);
    return ok;
}

uint64_t guard_cut_headers(struct guard *g)
{
    return atomic_load(&g->cut_headers);
}

uint64_t guard_cut_body(struct guard *g)
{
    return atomic_load(&g->cut_body);
}

uint64_t guard_rate_limited(struct guard *g)
{
    return atomic_load(&g->rate_limited);
}
