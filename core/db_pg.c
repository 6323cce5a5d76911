/* PostgreSQL statements for the store: see db_pg.h. */
#include "db_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BYTEA_OID 17

/* One bound value: text in num for numbers, else a heap copy. */
struct pgval {
    char *heap;
    char num[32];
};

struct pgst {
    PGconn *pc;
    char name[24];
    int nparams;
    struct pgval *vals;
    const char **ptrs; /* per parameter: NULL (SQL NULL), num or heap */
    int *lens;
    int *fmts;
    PGresult *res;
    int row;
    char *cursor_sql;    /* a streamed statement: its text, run as a cursor */
    bool open;           /* its cursor is open */
    bool last;           /* the rows in res are the cursor's last */
    int fetch_n;         /* rows the next FETCH asks for */
    unsigned char *blob; /* the last decoded bytea column */
    size_t blob_len;
    int blob_col;
};

bool pg_is_uri(const char *path)
{
    return path &&
           (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0);
}

/* libpq prints notices on stderr by default; the store logs none. */
static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

struct pg_conn *pg_connect(const char *uri, bool readonly, char *err, size_t errlen)
{
    PGconn *pc = PQconnectdb(uri);
    if (!pc || PQstatus(pc) != CONNECTION_OK) {
        const char *why = pc ? PQerrorMessage(pc) : "out of memory";
        snprintf(err, errlen, "%.*s", (int)strcspn(why, "\n"), why);
        PQfinish(pc);
        return NULL;
    }
    PQsetNoticeProcessor(pc, quiet, NULL);
    /* A statement never runs for minutes, and a transaction left open by a
     * stuck daemon does not hold its locks for ever. */
    const char *setup = readonly ? "SET statement_timeout = '60s'; SET client_encoding = 'UTF8'; "
                                   "SET default_transaction_read_only = on"
                                 : "SET statement_timeout = '60s'; SET client_encoding = 'UTF8'; "
                                   "SET idle_in_transaction_session_timeout = '120s'";
    if (pg_exec(pc, setup, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up the session: %s", PQerrorMessage(pc));
        PQfinish(pc);
        return NULL;
    }
    return pc;
}

void pg_redact(const char *uri, char *out, size_t outlen)
{
    PQconninfoOption *opts = PQconninfoParse(uri, NULL);
    const char *user = "", *host = "", *port = "", *dbname = "";
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        const char *v = o->val ? o->val : "";
        if (strcmp(o->keyword, "user") == 0)
            user = v;
        else if (strcmp(o->keyword, "host") == 0)
            host = v;
        else if (strcmp(o->keyword, "port") == 0)
            port = v;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = v;
    }
    if (!opts)
        snprintf(out, outlen, "postgresql://?");
    else
        snprintf(out, outlen, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", host,
                 *port ? ":" : "", port, dbname);
    PQconninfoFree(opts);
}

void pg_close(struct pg_conn *pc)
{
    if (pc)
        PQfinish(pc);
}

/* The server could not be reached since pg_take_unavailable (per thread). */
static _Thread_local bool unavailable;

/* A conflict with another session's transaction since pg_take_conflict:
 * per thread, as a connection is used by one thread at a time. */
static _Thread_local bool conflict;

bool pg_take_unavailable(void)
{
    bool was = unavailable;
    unavailable = false;
    return was;
}

bool pg_take_conflict(void)
{
    bool was = conflict;
    conflict = false;
    return was;
}

/* The SQLite code for a failed result (NULL: the connection failed). */
static int pg_sqlite_code(PGconn *pc, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state) {
        unavailable = PQstatus(pc) != CONNECTION_OK;
        return unavailable ? SQLITE_BUSY : SQLITE_ERROR;
    }
    /* serialization_failure, deadlock_detected */
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        conflict = true;
    if (strncmp(state, "23", 2) == 0)
        return SQLITE_CONSTRAINT;
    if (strcmp(state, "22021") == 0) /* character_not_in_repertoire: not UTF-8 */
        return SQLITE_MISMATCH;
    if (strcmp(state, "53100") == 0)
        return SQLITE_FULL;
    if (strcmp(state, "53200") == 0)
        return SQLITE_NOMEM;
    if (strncmp(state, "54", 2) == 0)
        return SQLITE_TOOBIG;
    /* Lost connections, serialization failures, deadlocks, timeouts and a
     * server shutting down: the request may be tried again. */
    if (strncmp(state, "08", 2) == 0 || strcmp(state, "57014") == 0 ||
        strncmp(state, "57P", 3) == 0) {
        unavailable = true;
        return SQLITE_BUSY;
    }
    if (strncmp(state, "40", 2) == 0)
        return SQLITE_BUSY;
    return SQLITE_ERROR;
}

static void log_failure(PGconn *pc, const char *what)
{
    if (PQstatus(pc) != CONNECTION_OK)
        unavailable = true; /* also a failed prepare or a failed BEGIN */
    const char *msg = PQerrorMessage(pc);
    log_json("error", "postgresql failed", "{s:s,s:s#}", "sql", what, "why", msg,
             (int)strcspn(msg, "\n"));
}

int pg_exec(struct pg_conn *pc, const char *sql, int64_t *changes)
{
    PGresult *res = PQexec(pc, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? SQLITE_OK : pg_sqlite_code(pc, res);
    if (rc == SQLITE_OK && changes)
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
    if (rc != SQLITE_OK)
        log_failure(pc, sql);
    PQclear(res);
    return rc;
}

int pg_query_int(struct pg_conn *pc, const char *sql, int64_t *v)
{
    PGresult *res = PQexec(pc, sql);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? SQLITE_OK : pg_sqlite_code(pc, res);
    if (rc == SQLITE_OK)
        *v = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return rc;
}

bool pg_in_tx(struct pg_conn *pc)
{
    PGTransactionStatusType t = PQtransactionStatus(pc);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

bool pg_tx_ok(struct pg_conn *pc)
{
    PGTransactionStatusType t = PQtransactionStatus(pc);
    return t == PQTRANS_INTRANS || t == PQTRANS_ACTIVE;
}

const char *pg_errmsg(struct pg_conn *pc)
{
    return pc ? PQerrorMessage(pc) : "no connection";
}

bool pg_lost(struct pg_conn *pc)
{
    if (!pc || PQstatus(pc) != CONNECTION_OK)
        return true;
    /* An idle connection has nothing to read, unless the server closed it
     * (terminated, restarted): then libpq learns it now, not from the next
     * statement, which would fail. */
    struct pollfd p = {.fd = PQsocket(pc), .events = POLLIN};
    if (p.fd >= 0 && poll(&p, 1, 0) > 0)
        PQconsumeInput(pc);
    return PQstatus(pc) != CONNECTION_OK;
}

/* ---- notifications ---- */

int pg_listen(struct pg_conn *pc, const char *channel)
{
    char sql[96];
    snprintf(sql, sizeof sql, "LISTEN %s", channel);
    return pg_exec(pc, sql, NULL);
}

/* Takes the notifications that arrived: whether one came from another
 * session than ignore_pid. */
static bool drain_notifies(PGconn *pc, int ignore_pid)
{
    bool foreign = false;
    PGnotify *n;
    while ((n = PQnotifies(pc)) != NULL) {
        foreign = foreign || ignore_pid == 0 || n->be_pid != ignore_pid;
        PQfreemem(n);
    }
    return foreign;
}

int pg_wait_notify(struct pg_conn *pc, int timeout_ms, int ignore_pid, int wake_fd)
{
    if (drain_notifies(pc, ignore_pid))
        return 1;
    struct pollfd p[2] = {{.fd = PQsocket(pc), .events = POLLIN},
                          {.fd = wake_fd, .events = POLLIN}};
    if (p[0].fd < 0)
        return -1;
    int n = poll(p, 2, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0 || !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    if (!PQconsumeInput(pc))
        return -1;
    return drain_notifies(pc, ignore_pid) ? 1 : 0;
}

bool pg_notified(struct pg_conn *pc, int ignore_pid)
{
    /* libpq's socket does not block: this reads only what has come. A lost
     * connection is left to the next statement to find. */
    if (PQstatus(pc) == CONNECTION_OK)
        PQconsumeInput(pc);
    return drain_notifies(pc, ignore_pid);
}

int pg_backend_pid(struct pg_conn *pc)
{
    return PQbackendPID(pc);
}

/* ---- statements ---- */

struct pgst *pgst_new(struct pg_conn *pc, const char *name, const char *sql, bool stream)
{
    PGresult *res = PQprepare(pc, name, sql, 0, NULL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    res = ok ? PQdescribePrepared(pc, name) : NULL;
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    struct pgst *p = ok ? calloc(1, sizeof *p) : NULL;
    int n = ok ? PQnparams(res) : 0;
    PQclear(res);
    if (!p) {
        log_failure(pc, sql);
        return NULL;
    }
    p->pc = pc;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->nparams = n;
    p->row = -1;
    p->blob_col = -1;
    size_t k = n > 0 ? (size_t)n : 1;
    p->vals = calloc(k, sizeof *p->vals);
    p->ptrs = calloc(k, sizeof *p->ptrs);
    p->lens = calloc(k, sizeof *p->lens);
    p->fmts = calloc(k, sizeof *p->fmts);
    p->cursor_sql = stream ? strdup(sql) : NULL;
    if (!p->vals || !p->ptrs || !p->lens || !p->fmts || (stream && !p->cursor_sql)) {
        pgst_free(p);
        return NULL;
    }
    return p;
}

static void blob_drop(struct pgst *p)
{
    if (p->blob)
        PQfreemem(p->blob);
    p->blob = NULL;
    p->blob_len = 0;
    p->blob_col = -1;
}

/* Closes a streamed statement's cursor (a failed transaction dropped it
 * already: the error is of no interest). */
static void cursor_close(struct pgst *p)
{
    if (!p->open)
        return;
    char sql[48];
    snprintf(sql, sizeof sql, "CLOSE c%s", p->name);
    PQclear(PQexec(p->pc, sql));
    p->open = false;
}

void pgst_reset(struct pgst *p)
{
    if (!p)
        return;
    cursor_close(p);
    PQclear(p->res);
    p->res = NULL;
    p->row = -1;
    blob_drop(p);
    for (int i = 0; i < p->nparams; i++) {
        free(p->vals[i].heap);
        p->vals[i].heap = NULL;
        p->ptrs[i] = NULL;
        p->lens[i] = 0;
        p->fmts[i] = 0;
    }
}

void pgst_free(struct pgst *p)
{
    if (!p)
        return;
    if (p->vals)
        pgst_reset(p);
    free(p->vals);
    free(p->ptrs);
    free(p->lens);
    free(p->fmts);
    free(p->cursor_sql);
    free(p);
}

/* Parameter i's slot with its old value dropped, or NULL when the
 * statement has no parameter i. */
static struct pgval *slot(struct pgst *p, int i)
{
    if (i < 1 || i > p->nparams)
        return NULL;
    struct pgval *v = &p->vals[i - 1];
    free(v->heap);
    v->heap = NULL;
    p->ptrs[i - 1] = NULL;
    p->lens[i - 1] = 0;
    p->fmts[i - 1] = 0;
    return v;
}

int pgst_bind(struct pgst *p, int i, const void *v, int n, bool binary)
{
    struct pgval *s = slot(p, i);
    if (!s)
        return SQLITE_RANGE;
    if (!v)
        return SQLITE_OK;
    size_t len = n >= 0 ? (size_t)n : strlen(v);
    s->heap = malloc(len + 1);
    if (!s->heap)
        return SQLITE_NOMEM;
    memcpy(s->heap, v, len);
    s->heap[len] = '\0';
    p->ptrs[i - 1] = s->heap;
    p->lens[i - 1] = (int)len;
    p->fmts[i - 1] = binary;
    return SQLITE_OK;
}

int pgst_bind_int64(struct pgst *p, int i, int64_t v)
{
    struct pgval *s = slot(p, i);
    if (!s)
        return SQLITE_RANGE;
    snprintf(s->num, sizeof s->num, "%" PRId64, v);
    p->ptrs[i - 1] = s->num;
    return SQLITE_OK;
}

int pgst_bind_double(struct pgst *p, int i, double v)
{
    struct pgval *s = slot(p, i);
    if (!s)
        return SQLITE_RANGE;
    if (isnan(v))
        snprintf(s->num, sizeof s->num, "NaN");
    else if (isinf(v))
        snprintf(s->num, sizeof s->num, "%sInfinity", v < 0 ? "-" : "");
    else
        snprintf(s->num, sizeof s->num, "%.17g", v);
    p->ptrs[i - 1] = s->num;
    return SQLITE_OK;
}

#define FETCH_FIRST 1 /* then doubling while rows are small */
#define FETCH_MAX 1024
#define FETCH_BYTES 262144 /* a batch under this: the next asks for twice as many */

/* A streamed statement's next batch of rows: SQLITE_ROW, SQLITE_DONE or
 * an error. The batch size adapts to the rows' size, so a batch of large
 * items stays a few hundred kB. */
static int fetch(struct pgst *p)
{
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH %d FROM c%s", p->fetch_n, p->name);
    PQclear(p->res);
    p->res = PQexec(p->pc, sql);
    if (PQresultStatus(p->res) != PGRES_TUPLES_OK) {
        log_failure(p->pc, sql);
        return pg_sqlite_code(p->pc, p->res);
    }
    int n = PQntuples(p->res), cols = PQnfields(p->res);
    size_t bytes = 0;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < cols; c++)
            bytes += (size_t)PQgetlength(p->res, r, c);
    p->last = n < p->fetch_n;
    if (bytes < FETCH_BYTES && p->fetch_n < FETCH_MAX)
        p->fetch_n *= 2;
    else if (bytes > 4 * FETCH_BYTES && p->fetch_n > 1)
        p->fetch_n /= 2;
    p->row = 0;
    return n > 0 ? SQLITE_ROW : SQLITE_DONE;
}

/* The first step of a streamed statement: declares its cursor (held past
 * the transaction, so it also streams outside one) and fetches. */
static int cursor_run(struct pgst *p)
{
    size_t n = strlen(p->cursor_sql) + 64;
    char *sql = malloc(n);
    if (!sql)
        return SQLITE_NOMEM;
    snprintf(sql, n, "DECLARE c%s NO SCROLL CURSOR WITH HOLD FOR %s", p->name, p->cursor_sql);
    p->res = PQexecParams(p->pc, sql, p->nparams, NULL, p->ptrs, p->lens, p->fmts, 0);
    free(sql);
    if (PQresultStatus(p->res) != PGRES_COMMAND_OK) {
        log_failure(p->pc, p->name);
        return pg_sqlite_code(p->pc, p->res);
    }
    p->open = true;
    p->fetch_n = FETCH_FIRST;
    return fetch(p);
}

/* The first step: runs the statement. */
static int run(struct pgst *p, int64_t *last_id, int64_t *changes)
{
    if (p->cursor_sql)
        return cursor_run(p);
    p->res = PQexecPrepared(p->pc, p->name, p->nparams, p->ptrs, p->lens, p->fmts, 0);
    ExecStatusType st = PQresultStatus(p->res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pg_sqlite_code(p->pc, p->res);
        if (rc != SQLITE_CONSTRAINT)
            log_failure(p->pc, p->name);
        return rc;
    }
    const char *cmd = PQcmdStatus(p->res);
    if (strncmp(cmd, "SELECT", 6) != 0)
        *changes = strtoll(PQcmdTuples(p->res), NULL, 10);
    if (st == PGRES_COMMAND_OK)
        return SQLITE_DONE;
    if (PQnfields(p->res) > 0 && strcmp(PQfname(p->res, 0), "last_insert_rowid") == 0) {
        if (PQntuples(p->res) > 0)
            *last_id = strtoll(PQgetvalue(p->res, 0, 0), NULL, 10);
        return SQLITE_DONE;
    }
    p->row = 0;
    return PQntuples(p->res) > 0 ? SQLITE_ROW : SQLITE_DONE;
}

int pgst_step(struct pgst *p, int64_t *last_id, int64_t *changes)
{
    blob_drop(p);
    if (!p->res)
        return run(p, last_id, changes);
    if (p->row < 0)
        return SQLITE_DONE;
    if (++p->row < PQntuples(p->res))
        return SQLITE_ROW;
    return p->open && !p->last ? fetch(p) : SQLITE_DONE;
}

int pgst_nparams(const struct pgst *p)
{
    return p->nparams;
}

static bool have(const struct pgst *p, int col)
{
    return p->res && p->row >= 0 && p->row < PQntuples(p->res) && col >= 0 &&
           col < PQnfields(p->res);
}

bool pgst_null(const struct pgst *p, int col)
{
    return !have(p, col) || PQgetisnull(p->res, p->row, col);
}

const char *pgst_text(const struct pgst *p, int col)
{
    return pgst_null(p, col) ? NULL : PQgetvalue(p->res, p->row, col);
}

/* Booleans come back as t / f; SQLite's are 1 / 0. */
int64_t pgst_int64(const struct pgst *p, int col)
{
    const char *v = pgst_text(p, col);
    if (!v)
        return 0;
    if (v[0] == 't' || v[0] == 'f')
        return v[0] == 't';
    if (strpbrk(v, ".eE"))
        return (int64_t)strtod(v, NULL);
    return strtoll(v, NULL, 10);
}

double pgst_double(const struct pgst *p, int col)
{
    const char *v = pgst_text(p, col);
    if (!v)
        return 0;
    if (v[0] == 't' || v[0] == 'f')
        return v[0] == 't';
    return strtod(v, NULL);
}

const void *pgst_blob(struct pgst *p, int col)
{
    const char *v = pgst_text(p, col);
    if (!v || PQftype(p->res, col) != BYTEA_OID)
        return v;
    if (p->blob_col != col) {
        blob_drop(p);
        p->blob = PQunescapeBytea((const unsigned char *)v, &p->blob_len);
        p->blob_col = p->blob ? col : -1;
    }
    return p->blob;
}

int pgst_bytes(struct pgst *p, int col)
{
    if (pgst_null(p, col))
        return 0;
    if (PQftype(p->res, col) == BYTEA_OID)
        pgst_blob(p, col); /* the decoded length, as SQLite gives it */
    if (p->blob_col == col)
        return (int)p->blob_len;
    return PQgetlength(p->res, p->row, col);
}

/* ---- result columns and dropping (copy-db) ---- */

int pgst_ncols(const struct pgst *p)
{
    return p->res ? PQnfields(p->res) : 0;
}

const char *pgst_colname(const struct pgst *p, int col)
{
    return p->res && col >= 0 && col < PQnfields(p->res) ? PQfname(p->res, col) : NULL;
}

int pgst_coltype(const struct pgst *p, int col)
{
    if (pgst_null(p, col))
        return SQLITE_NULL;
    switch (PQftype(p->res, col)) {
    case 16: /* bool */
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
    case 26: /* oid */
        return SQLITE_INTEGER;
    case 700:  /* float4 */
    case 701:  /* float8 */
    case 1700: /* numeric */
        return SQLITE_FLOAT;
    case BYTEA_OID:
        return SQLITE_BLOB;
    default:
        return SQLITE_TEXT;
    }
}

void pgst_drop(struct pgst *p)
{
    if (!p)
        return;
    char sql[48];
    snprintf(sql, sizeof sql, "DEALLOCATE \"%s\"", p->name);
    PQclear(PQexec(p->pc, sql));
    pgst_free(p);
}
