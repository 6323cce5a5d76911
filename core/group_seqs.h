/* group_seqs.h - the items of each sample group, kept in memory (issue 14).
 *
 * A map from a group's 64-bit hash (group_seqs_hash: its key and name) to
 * the seqs of its items, ascending. It replaces a b-tree index keyed by
 * the group's name, whose every new group wrote a leaf page of its own at
 * a random place on each commit. The map is a superset hint: an entry may
 * name an item that is not (or no longer) the group's, when two groups'
 * hashes meet or a transaction that added it rolled back, so whoever reads
 * it checks each item it names against the database. It never misses an
 * item it was given. Pure and not thread-safe: the store holds a lock. */
#ifndef RUNG_GROUP_SEQS_H
#define RUNG_GROUP_SEQS_H

#include <stddef.h>
#include <stdint.h>

struct group_seqs;

/* An empty map, or NULL when out of memory. */
struct group_seqs *group_seqs_new(void);

/* Frees m and everything in it (NULL is fine). */
void group_seqs_free(struct group_seqs *m);

/* The hash of key key_id's group name (key_id 0: items of no key), keyed
 * with this process's random secret (libsodium's SipHash-2-4), so that no
 * client can choose names whose hashes meet. */
uint64_t group_seqs_hash(int64_t key_id, const char *group);

/* Adds seq to the items of hash h, once: 0, or -ENOMEM with m unchanged. */
int group_seqs_add(struct group_seqs *m, uint64_t h, int64_t seq);

/* Copies into out the seqs of hash h above `after` and below `below`,
 * ascending, at most max of them, and returns how many it copied: a
 * binary search and the copy, whatever the group's size. Read a group
 * chunk by chunk with `after` the last seq of the chunk before (INT64_MIN
 * for the first): seqs added meanwhile below it are not read, none is
 * read twice. */
size_t group_seqs_get(const struct group_seqs *m, uint64_t h, int64_t after, int64_t below,
                      int64_t *out, size_t max);

/* Groups and seqs held, and the bytes the map takes. */
struct group_seqs_stats {
    size_t groups, seqs, bytes;
};
void group_seqs_stats(const struct group_seqs *m, struct group_seqs_stats *st);

#endif
