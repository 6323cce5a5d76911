/* store_copy.h - rungd copy-db: every row of one rung database into
 * another, SQLite or PostgreSQL either side (issue 16).
 *
 * The source is read in one read transaction (SQLite: BEGIN on a read
 * connection; PostgreSQL: REPEATABLE READ), so the copy holds exactly what
 * was committed when it began, whatever a running daemon writes meanwhile.
 * Rows are streamed: read with a cursor, written STORE_COPY_CHUNK to a
 * destination transaction, never a whole table in memory. Columns are
 * copied by name with their values' types; ids stay as they are. The
 * store's rules take no part: nothing is checked, derived or recomputed. */
#ifndef RUNG_STORE_COPY_H
#define RUNG_STORE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_COPY_CHUNK 1000     /* rows per destination transaction */
#define STORE_COPY_TABLES_MAX 32  /* tables of the schema, at most */
#define STORE_COPY_PROGRESS 50000 /* rows between progress calls within a table */

/* One table's rows. */
struct store_copy_table {
    const char *name;
    int64_t source; /* rows in the source's snapshot */
    int64_t copied; /* rows written so far */
    int64_t dest;   /* rows the destination holds after the copy (-1 before) */
};

/* What a copy did. */
struct store_copy_report {
    struct store_copy_table tables[STORE_COPY_TABLES_MAX];
    size_t n;     /* tables, in the order they were copied */
    int64_t rows; /* rows copied in all */
};

/* Called when a table starts (copied 0), every STORE_COPY_PROGRESS rows
 * within it and when it is done (done true). */
typedef void (*store_copy_progress_fn)(void *cls, const struct store_copy_table *t, bool done);

/* Copies the rung database from (a path or a postgresql:// URI) into to.
 * The source is only read, and must have this rungd's schema version and
 * no table it does not know. to must hold no rung data (a missing file, a
 * database without rung's tables or with its empty schema); it is opened
 * with store_open (so migrated) and nothing in it is ever overwritten.
 * What triggers of the destination would write (the webhook outbox) is
 * replaced by the source's rows. On PostgreSQL each identity sequence is
 * moved past the largest copied id. At the end every table's rows are
 * counted on both sides. progress may be NULL; *out is filled as far as
 * the copy went.
 *
 * Returns 0; -ENOENT when from does not exist; -EEXIST when to holds rung
 * data; -EPROTO when from's schema is not this rungd's; -EBADMSG when a
 * table's counts differ after the copy; -EIO (or -ENOMEM) when a read or
 * write fails. On failure err holds a sentence (never a password). */
int store_copy(const char *from, const char *to, store_copy_progress_fn progress, void *cls,
               struct store_copy_report *out, char *err, size_t errlen);

#endif
