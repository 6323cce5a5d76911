/* Prometheus /metrics: the daemon's counters, a request latency histogram
 * by route, and the store's figures as gauges, in the text exposition
 * format that `promtool check metrics` accepts. */
#ifndef RUNG_METRICS_H
#define RUNG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define METRICS_ROUTES_MAX 64 /* routes the histogram keeps apart; api.c asserts it has fewer */
#define METRICS_BUCKETS 12    /* finite bucket bounds (metrics.c), +Inf beside them */

/* One route's latencies: counts per bucket (not cumulative; the last is
 * +Inf) and their sum. */
struct metrics_route {
    atomic_uint_fast64_t bucket[METRICS_BUCKETS + 1];
    atomic_uint_fast64_t sum_us; /* microseconds */
};

/* Latency by route: [0] is every request no route matched ("other"),
 * [1 + i] the route api_route(i). Zeroed with the struct app it sits in;
 * lock-free, any thread. */
struct metrics {
    struct metrics_route route[METRICS_ROUTES_MAX + 1];
};

/* Counts a completed request that took us microseconds; route is 1 + the
 * index of its route, 0 for none. */
void metrics_observe(struct metrics *m, unsigned route, uint64_t us);

struct req;

/* GET /metrics: replies with the text format (or a JSON error when the
 * store cannot be read or memory is short). */
void metrics_reply(struct req *r, const char *param);

#endif
