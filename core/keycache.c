/* keycache.c - see keycache.h. */
#include "keycache.h"

#include "feat.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    bool used;
    char lookup[TOKEN_LOOKUP_LEN + 1];
    unsigned char hash[TOKEN_HASH_LEN];
    uint64_t stamp;
    int64_t at_ms;
};

struct keycache {
    size_t mask;       /* slots - 1, slots a power of two */
    size_t value_size; /* bytes of each value */
    struct entry *e;
    unsigned char *values; /* slot i's value at i * value_size */
};

struct keycache *keycache_new(size_t slots, size_t value_size)
{
    if (!slots || !value_size || slots > ((size_t)1 << 20))
        return NULL;
    size_t n = 1;
    while (n < slots)
        n <<= 1;
    struct keycache *kc = calloc(1, sizeof *kc);
    if (!kc)
        return NULL;
    kc->mask = n - 1;
    kc->value_size = value_size;
    kc->e = calloc(n, sizeof *kc->e);
    kc->values = calloc(n, value_size);
    if (!kc->e || !kc->values) {
        keycache_free(kc);
        return NULL;
    }
    return kc;
}

void keycache_free(struct keycache *kc)
{
    if (!kc)
        return;
    free(kc->e);
    free(kc->values);
    free(kc);
}

/* The slot of a lookup: a hash of its characters (random hex, so any
 * spread will do). */
static size_t slot_of(const struct keycache *kc, const char *lookup)
{
    uint64_t h = feat_fnv1a64(lookup, strnlen(lookup, TOKEN_LOOKUP_LEN));
    return (size_t)(h ^ (h >> 32)) & kc->mask;
}

int keycache_get(const struct keycache *kc, const char *lookup,
                 const unsigned char hash[TOKEN_HASH_LEN], uint64_t stamp, int64_t now_ms,
                 int64_t ttl_ms, void *out)
{
    size_t i = slot_of(kc, lookup);
    const struct entry *e = &kc->e[i];
    if (!e->used || e->stamp != stamp || now_ms < e->at_ms || now_ms - e->at_ms > ttl_ms ||
        strcmp(e->lookup, lookup) != 0 || !token_hash_equal(e->hash, hash))
        return -ENOENT;
    memcpy(out, kc->values + i * kc->value_size, kc->value_size);
    return 0;
}

void keycache_put(struct keycache *kc, const char *lookup, const unsigned char hash[TOKEN_HASH_LEN],
                  uint64_t stamp, int64_t now_ms, const void *value)
{
    size_t i = slot_of(kc, lookup);
    struct entry *e = &kc->e[i];
    e->used = true;
    util_strlcpy(e->lookup, lookup, sizeof e->lookup);
    memcpy(e->hash, hash, TOKEN_HASH_LEN);
    e->stamp = stamp;
    e->at_ms = now_ms;
    memcpy(kc->values + i * kc->value_size, value, kc->value_size);
}
