/* netguard.h - what keeps slow or greedy clients from taking the daemon
 * (issue 15): a deadline for a request's headers, a bytes-per-second floor
 * for its body, and per-key request rates. libmicrohttpd does the counting
 * of connections (in all and per address); this watches each connection's
 * phase and cuts the ones past their deadline from the serve loop. */
#ifndef RUNG_NETGUARD_H
#define RUNG_NETGUARD_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The limits, as the options set them (rungd serve --help). */
struct net_limits {
    unsigned max_connections; /* in all */
    unsigned per_ip;          /* from one address, 0: no limit */
    unsigned idle_s;          /* a connection without traffic closes */
    unsigned header_s;        /* a request's headers must be in within */
    uint64_t body_rate;       /* a body's average bytes a second at least, 0: no floor */
    double rate;              /* requests a second per key, 0: no limit */
    double burst;             /* requests a key may make at once */
};

/* Where a connection stands. */
enum guard_phase {
    GUARD_HEADERS, /* waiting for a request's headers (also between requests) */
    GUARD_BODY,    /* reading a request's body */
    GUARD_BUSY,    /* the request is being answered: no deadline here */
};

struct guard;

/* A guard for these limits, or NULL when out of memory. */
struct guard *guard_new(const struct net_limits *lim);
void guard_free(struct guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the guard). */
void guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                  enum MHD_ConnectionNotificationCode code);

/* Moves conn to phase p (now). */
void guard_phase(struct guard *g, struct MHD_Connection *conn, enum guard_phase p);

/* Counts n more body bytes read on conn. */
void guard_body_bytes(struct guard *g, struct MHD_Connection *conn, uint64_t n);

/* Cuts (shuts the socket of) every connection past its deadline: headers
 * not in header_s after the connection opened or its last request ended, a
 * body slower than body_rate on average after BODY_RATE_GRACE_S. Call
 * periodically from any thread. */
void guard_sweep(struct guard *g);

/* Takes one request from key_id's bucket: true when allowed (always
 * without a rate); else false with *retry_s the seconds until the next. */
bool guard_rate_take(struct guard *g, int64_t key_id, unsigned *retry_s);

/* Connections cut and requests refused so far, for the metrics. */
uint64_t guard_cut_headers(struct guard *g);
uint64_t guard_cut_body(struct guard *g);
uint64_t guard_rate_limited(struct guard *g);

#endif
