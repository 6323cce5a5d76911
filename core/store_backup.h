/* store_backup.h - a consistent copy of a rung database while it serves.
 *
 * The copy is SQLite's online backup of one read transaction: it holds
 * exactly what was committed when the copy began (every write the daemon
 * had acknowledged by then), whatever commits meanwhile. In WAL mode the
 * read blocks no writer; a checkpoint that must wait for it gives way
 * after its busy timeout (store_ckpt.c), so the WAL may grow past its
 * bound until the copy ends.
 */
#ifndef RUNG_STORE_BACKUP_H
#define RUNG_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

/* What a backup copied. */
struct store_backup_stats {
    int64_t pages;        /* database pages copied */
    int64_t bytes;        /* size of the copy */
    int64_t user_version; /* the copy's schema version */
};

/* Copies the database at src into a new file dst: written as dst.tmp next
 * to it, checked with PRAGMA integrity_check, made a self-contained file
 * (rollback journal, not WAL), synced, renamed to dst, and the folder
 * synced. Never overwrites: dst must not exist. Fills *st when not NULL.
 * Returns 0; -ENOENT when src does not exist; -EEXIST when dst (or
 * dst.tmp) does; -EIO when the copy fails its integrity check; another
 * negative errno otherwise. On failure err (cap bytes) holds a sentence,
 * and no dst or dst.tmp is left behind (except a dst.tmp that was there
 * before). */
int store_backup(const char *src, const char *dst, struct store_backup_stats *st, char *err,
                 size_t cap);

#endif
