/* ratelimit.c - a token bucket (see ratelimit.h). */
#include "ratelimit.h"

#include <math.h>

bool bucket_take(struct bucket *b, double rate, double burst, uint64_t now_us, unsigned *retry_s)
{
    if (!b->last_us) {
        b->tokens = burst;
    } else if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) / 1e6 * rate;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_us = now_us ? now_us : 1;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    double wait = ceil((1.0 - b->tokens) / rate);
    *retry_s = wait < 1.0 ? 1u : wait > 86400.0 ? 86400u : (unsigned)wait;
    return false;
}
