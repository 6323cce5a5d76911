/* ratelimit.h - a token bucket: rate tokens a second, at most burst held.
 * Pure arithmetic; the caller keeps the buckets and their lock. */
#ifndef RUNG_RATELIMIT_H
#define RUNG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct bucket {
    double tokens;    /* held now */
    uint64_t last_us; /* when tokens was computed; 0: never (a full bucket) */
};

/* Takes one token at now_us (monotonic microseconds) when one is held:
 * returns true. Otherwise returns false and sets *retry_s to the whole
 * seconds (at least 1) until a token is there. rate > 0, burst >= 1. */
bool bucket_take(struct bucket *b, double rate, double burst, uint64_t now_us, unsigned *retry_s);

#endif
