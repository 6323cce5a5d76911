/* PostgreSQL statements for the store (issue 16), through libpq.
 *
 * A struct pgst is one statement prepared on one connection: values are
 * bound by position (1-based, as SQLite's ?N), sent as text (blobs as
 * binary) and the statement's parameter types are what PostgreSQL infers
 * from the SQL. A step runs the statement the first time and walks its
 * result rows after; results are read as text and converted the way
 * sqlite3_column_* would convert them. Every result keeps SQLite's
 * vocabulary: SQLITE_OK, SQLITE_ROW, SQLITE_DONE, or the SQLite code a
 * PostgreSQL error maps to (pg_sqlite_code).
 *
 * Only the store's .c files use this (through store_internal.h). */
#ifndef RUNG_DB_PG_H
#define RUNG_DB_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_conn; /* libpq's PGconn */
struct pgst;

/* Whether path names a PostgreSQL database (postgresql:// or
 * postgres://) rather than an SQLite file. */
bool pg_is_uri(const char *path);

/* Connects to uri; readonly sets every transaction read-only. Returns the
 * connection, or NULL with the reason in err (the password never is). */
struct pg_conn *pg_connect(const char *uri, bool readonly, char *err, size_t errlen);

void pg_close(struct pg_conn *pc);

/* uri as scheme://user@host:port/dbname, without the password or any
 * other parameter (a malformed one: "postgresql://?"). */
void pg_redact(const char *uri, char *out, size_t outlen);

/* Runs SQL (several statements allowed) without results. *changes gets
 * the rows the last one changed (may be NULL). An SQLite code. */
int pg_exec(struct pg_conn *pc, const char *sql, int64_t *changes);

/* Runs SQL returning one integer in *v (0 for NULL). An SQLite code. */
int pg_query_int(struct pg_conn *pc, const char *sql, int64_t *v);

/* Whether the connection is inside a transaction (also a failed one). */
bool pg_in_tx(struct pg_conn *pc);

/* Whether it is inside a transaction no failed statement has aborted. */
bool pg_tx_ok(struct pg_conn *pc);

/* The connection's last error message. */
const char *pg_errmsg(struct pg_conn *pc);

/* Whether the connection was lost (the server went away); for an idle
 * connection, also when the server closed it since its last use. */
bool pg_lost(struct pg_conn *pc);

/* LISTEN on channel (an identifier of ours, not user input). An SQLite
 * code. */
int pg_listen(struct pg_conn *pc, const char *channel);

/* Waits up to timeout_ms for notifications on a listening connection, or
 * until wake_fd is readable: 1 when one came from another session than
 * ignore_pid (0: any), 0 when none came, -1 when the connection failed. */
int pg_wait_notify(struct pg_conn *pc, int timeout_ms, int ignore_pid, int wake_fd);

/* Takes, without waiting, the notifications that reached a listening
 * connection so far: whether one came from another session than
 * ignore_pid (0: any). */
bool pg_notified(struct pg_conn *pc, int ignore_pid);

/* Whether a statement on this thread failed on a conflict with another
 * session's transaction (a deadlock, a serialization failure) since the
 * last call; clears it. */
bool pg_take_conflict(void);

/* Whether a statement on this thread failed because the server could not
 * be reached (connection lost, statement timeout, server shutting down)
 * since the last call; clears it. */
bool pg_take_unavailable(void);

/* The server process of the connection (what a notification names). */
int pg_backend_pid(struct pg_conn *pc);

/* Prepares sql as statement name on pc. NULL on failure (logged).
 * stream: a statement whose rows may be many or large (exports, listing
 * pages): it runs as a cursor, fetched in batches, so the rows never all
 * sit in memory (libpq keeps a whole result otherwise). Other statements
 * may run on the connection between its steps. */
struct pgst *pgst_new(struct pg_conn *pc, const char *name, const char *sql, bool stream);

void pgst_free(struct pgst *p);

/* Drops the result and the bound values. */
void pgst_reset(struct pgst *p);

/* Binds v (n bytes; n < 0: up to its NUL) to parameter i, copied; NULL
 * binds SQL NULL. binary: a blob. An SQLite code (SQLITE_RANGE for a
 * parameter the statement lacks). */
int pgst_bind(struct pgst *p, int i, const void *v, int n, bool binary);
int pgst_bind_int64(struct pgst *p, int i, int64_t v);
int pgst_bind_double(struct pgst *p, int i, double v);

/* Runs the statement (first step) or moves to its next row: SQLITE_ROW,
 * SQLITE_DONE or an error code. A statement whose first column is named
 * last_insert_rowid (an INSERT ... RETURNING id AS last_insert_rowid)
 * reports SQLITE_DONE with that value in *last_id. *changes gets the rows
 * it changed. */
int pgst_step(struct pgst *p, int64_t *last_id, int64_t *changes);

int pgst_nparams(const struct pgst *p);
bool pgst_null(const struct pgst *p, int col);
int64_t pgst_int64(const struct pgst *p, int col);
double pgst_double(const struct pgst *p, int col);
const char *pgst_text(const struct pgst *p, int col);
const void *pgst_blob(struct pgst *p, int col);
int pgst_bytes(struct pgst *p, int col);

/* Result columns (copy-db, store_copy.c): their number and names once
 * the statement ran (0 / NULL before), and column col's storage type in
 * the current row as SQLite names it: SQLITE_NULL for a NULL; from the
 * column's type otherwise: int2, int4, int8, oid and bool SQLITE_INTEGER,
 * float4, float8 and numeric SQLITE_FLOAT, bytea SQLITE_BLOB, any other
 * SQLITE_TEXT. */
int pgst_ncols(const struct pgst *p);
const char *pgst_colname(const struct pgst *p, int col);
int pgst_coltype(const struct pgst *p, int col);

/* Frees p and drops its prepared statement from the server (errors
 * ignored: a connection in a failed transaction keeps it until it
 * closes). NULL is a no-op. */
void pgst_drop(struct pgst *p);

#endif
