/* keycache.h - tokens the store has verified, kept in memory (issue 14).
 *
 * Authenticating a request read the key's row with an SQLite read
 * transaction, about a tenth of an HTTP worker's time per ingested item.
 * This cache remembers a verified token by its lookup part and its hash,
 * with the value the store read for it, under a stamp: a number every
 * process that revokes a key changes after its commit (store_keys.c). An
 * entry only answers for the stamp it was filed under and for ttl_ms after
 * it was filed, so a revocation that committed and changed the stamp is
 * seen by the next request, and one whose stamp change was lost (a crash
 * between the two) within ttl_ms. Only valid tokens are kept: an unknown
 * or revoked token is read from the database every time.
 *
 * Direct-mapped: a lookup has one slot, and a newer token of the same slot
 * replaces the older one. Pure and not thread-safe: the store holds a lock. */
#ifndef RUNG_KEYCACHE_H
#define RUNG_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct keycache;

/* A cache of `slots` entries (rounded up to a power of two) of value_size
 * bytes each, or NULL when out of memory or either is 0. */
struct keycache *keycache_new(size_t slots, size_t value_size);

/* Frees kc (NULL is fine). */
void keycache_free(struct keycache *kc);

/* Copies the value filed for lookup into out and returns 0 when the entry
 * holds the same token hash (compared in constant time), was filed under
 * this stamp and at most ttl_ms before now_ms; -ENOENT otherwise. */
int keycache_get(const struct keycache *kc, const char *lookup,
                 const unsigned char hash[TOKEN_HASH_LEN], uint64_t stamp, int64_t now_ms,
                 int64_t ttl_ms, void *out);

/* Files value for lookup and hash under stamp at now_ms, replacing what the
 * slot held. The stamp must be the one read before the database was. */
void keycache_put(struct keycache *kc, const char *lookup, const unsigned char hash[TOKEN_HASH_LEN],
                  uint64_t stamp, int64_t now_ms, const void *value);

#endif
