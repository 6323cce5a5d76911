/* rungd copy-db: every row of one rung database into another, across
 * backends (store_copy.h). Generic over tables: rows are read with
 * SELECT * and written by column name, values with their storage types. */
#include "store_copy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "store.h"
#include "store_internal.h"

extern const size_t schema_migration_count;
extern const size_t schema_pg_migration_count;

/* A table of the schema (the .sql files of schema/ and schema/pg/). */
struct table_spec {
    const char *name;
    const char *key;     /* its integer primary key (identity sequence); NULL: none */
    const char *late[2]; /* self-references: written NULL, then set once the table is in */
    bool clear;          /* written by the destination's triggers: emptied before its rows */
};

/* Every table, in an order that satisfies the foreign keys. The webhook
 * outbox comes last and is emptied first: rows the destination's triggers
 * might add while items are copied are replaced by the source's. */
static const struct table_spec tables[] = {
    {"api_keys", "id", {NULL, NULL}, false},
    {"key_scopes", NULL, {NULL, NULL}, false},
    {"raters", "id", {NULL, NULL}, false},
    {"layers", "id", {"parent", "prev_active"}, false},
    {"layer_drift", NULL, {NULL, NULL}, false},
    {"items", "seq", {NULL, NULL}, false},
    {"subquestions", "id", {NULL, NULL}, false},
    {"rollups", NULL, {NULL, NULL}, false},
    {"tasks", "id", {NULL, NULL}, false},
    {"leases", NULL, {NULL, NULL}, false},
    {"skips", NULL, {NULL, NULL}, false},
    {"labels", "id", {NULL, NULL}, false},
    {"audits", NULL, {NULL, NULL}, false},
    {"comparisons", "id", {NULL, NULL}, false},
    {"flags", "id", {NULL, NULL}, false},
    {"events", "id", {NULL, NULL}, false},
    {"overlap_rules", NULL, {NULL, NULL}, false},
    {"batches", NULL, {NULL, NULL}, false},
    {"domains", NULL, {NULL, NULL}, false},
    {"webhooks", "id", {NULL, NULL}, false},
    {"webhook_outbox", "id", {NULL, NULL}, true},
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* Tables made from others: SQLite's group log (schema/013_group_log.sql),
 * filled from the copied items (dest_derived). Known, never copied. */
static const char *const derived[] = {"item_groups"};
_Static_assert(NTABLES <= STORE_COPY_TABLES_MAX, "STORE_COPY_TABLES_MAX");

/* The PostgreSQL cursor a table is read through. */
#define CURSOR "rung_copy"
#define COPY_BATCH 100 /* rows per INSERT statement, a divisor of STORE_COPY_CHUNK */
_Static_assert(STORE_COPY_CHUNK % COPY_BATCH == 0, "COPY_BATCH");
#define STR_(x) #x
#define STR(x) STR_(x)

struct copy {
    struct conn src, dst;
    store_copy_progress_fn progress;
    void *cls;
    struct store_copy_report *rep;
    char *err;
    size_t errlen;
    int pending; /* rows written in the destination's open transaction */
};

static int fail(struct copy *cp, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cp->err, cp->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- SQL text ---- */

/* A growing string; oom once an allocation failed. */
struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sbuf *b, const char *t)
{
    size_t k = strlen(t);
    if (b->oom)
        return;
    if (b->n + k + 1 > b->cap) {
        size_t cap = (b->n + k + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, t, k + 1);
    b->n += k;
}

/* A quoted identifier ("group" is a keyword). */
static void sb_ident(struct sbuf *b, const char *name)
{
    sb_add(b, "\"");
    for (const char *p = name; *p; p++)
        sb_add(b, *p == '"' ? "\"\"" : (char[]){*p, '\0'});
    sb_add(b, "\"");
}

/* Parameter n: ?n on SQLite, $n on PostgreSQL. */
static void sb_param(struct sbuf *b, const struct conn *c, int n)
{
    char p[16];
    snprintf(p, sizeof p, "%c%d", c->pg ? '$' : '?', n);
    sb_add(b, p);
}

/* Prepares the text of b on c and frees it; NULL when out of memory or
 * when it does not prepare. */
static struct dbst *sb_prepare(struct sbuf *b, struct conn *c)
{
    struct dbst *st = b->oom ? NULL : conn_adhoc(c, b->s);
    free(b->s);
    memset(b, 0, sizeof *b);
    return st;
}

/* Runs a query of one integer (sql with an optional text parameter 1,
 * written ?1 for either backend) into *v (0 without a row). 0 or -EIO. */
static int query_int(struct conn *c, const char *sql, const char *arg, int64_t *v)
{
    struct sbuf b = {0};
    for (const char *p = sql; *p; p++)
        sb_add(&b, *p == '?' && c->pg ? "$" : (char[]){*p, '\0'});
    struct dbst *st = sb_prepare(&b, c);
    int rc = st && (!arg || bind_text(st, 1, arg, -1, SQLITE_TRANSIENT) == SQLITE_OK)
                 ? store_step(st)
                 : SQLITE_ERROR;
    *v = rc == SQLITE_ROW ? col_int64(st, 0) : 0;
    conn_adhoc_free(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* Runs a query of one integer about table t: fmt has one %s for its
 * quoted name. */
static int table_int(struct conn *c, const char *fmt, const char *t, int64_t *v)
{
    struct sbuf q = {0};
    sb_ident(&q, t);
    char sql[256];
    int rc = q.oom ? -ENOMEM : 0;
    if (!rc)
        snprintf(sql, sizeof sql, fmt, q.s);
    free(q.s);
    return rc ? rc : query_int(c, sql, NULL, v);
}

static int table_exists(struct conn *c, const char *t, bool *yes)
{
    int64_t n = 0;
    int rc = query_int(c,
                       c->pg ? "SELECT count(*) FROM pg_tables WHERE schemaname = "
                               "current_schema() AND tablename = ?1"
                             : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                               "name = ?1",
                       t, &n);
    *yes = n > 0;
    return rc;
}

/* ---- the source: one snapshot ---- */

static bool known_table(const char *name)
{
    for (size_t i = 0; i < NTABLES; i++)
        if (strcmp(tables[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < sizeof derived / sizeof derived[0]; i++)
        if (strcmp(derived[i], name) == 0)
            return true;
    return false;
}

/* Refuses a source with a table copy-db does not know (a newer schema's):
 * it would be left behind. 0, -EPROTO or -EIO. */
static int source_tables_known(struct copy *cp)
{
    struct conn *c = &cp->src;
    struct dbst *st = conn_adhoc(
        c, c->pg ? "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND "
                   "tablename <> 'rung_schema'"
                 : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                   "'sqlite\\_%' ESCAPE '\\'");
    int rc = st ? 0 : -EIO, step;
    while (!rc && (step = store_step(st)) == SQLITE_ROW)
        if (!known_table(col_text(st, 0)))
            rc = fail(cp, -EPROTO, "the source has a table copy-db does not know: %s",
                      col_text(st, 0));
    if (!rc && step != SQLITE_DONE)
        rc = -EIO;
    conn_adhoc_free(st);
    return rc;
}

/* The source's schema version must be this rungd's for its backend. */
static int source_version(struct copy *cp)
{
    struct conn *c = &cp->src;
    int64_t v = 0;
    bool have = true;
    int rc = c->pg ? table_exists(c, "rung_schema", &have) : 0;
    if (!rc && have)
        rc = query_int(
            c, c->pg ? "SELECT coalesce(max(version), 0) FROM rung_schema" : "PRAGMA user_version",
            NULL, &v);
    if (rc)
        return fail(cp, rc, "cannot read the source's schema version: %s", conn_errmsg(c));
    size_t want = c->pg ? schema_pg_migration_count : schema_migration_count;
    if (v == 0)
        return fail(cp, -EPROTO, "the source is not a rung database (no schema)");
    if (v < (int64_t)want)
        return fail(cp, -EPROTO,
                    "the source's schema is version %lld, this rungd's is %zu: open it once "
                    "with this rungd (e.g. 'rungd keys list --db SOURCE') to migrate it",
                    (long long)v, want);
    if (v > (int64_t)want)
        return fail(cp, -EPROTO,
                    "the source's schema is version %lld, newer than this rungd's (%zu): use "
                    "the rungd that wrote it",
                    (long long)v, want);
    return 0;
}

/* Opens the source read-only and begins the read transaction every row
 * comes from: SQLite's starts at its first read, PostgreSQL's snapshot at
 * its first statement. */
static int source_open(struct copy *cp, const char *from)
{
    struct stat sb;
    if (!store_is_uri(from) && stat(from, &sb) != 0)
        return fail(cp, -ENOENT, "no database at '%s'", from);
    char why[256];
    if (conn_open(&cp->src, from, true, why, sizeof why))
        return fail(cp, -EIO, "cannot open the source: %s", why);
    int64_t v;
    int rc = conn_exec(&cp->src,
                       cp->src.pg ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
    if (!rc)
        rc = query_int(&cp->src, cp->src.pg ? "SELECT 1" : "SELECT count(*) FROM sqlite_master",
                       NULL, &v);
    if (rc)
        return fail(cp, -EIO, "cannot begin reading the source: %s", conn_errmsg(&cp->src));
    rc = source_version(cp);
    return rc ? rc : source_tables_known(cp);
}

/* ---- the destination: empty, migrated ---- */

/* Refuses a destination where any of rung's tables has a row. */
static int dest_empty(struct copy *cp, struct conn *c)
{
    for (size_t i = 0; i < NTABLES; i++) {
        bool exists = false;
        int64_t any = 0;
        int rc = table_exists(c, tables[i].name, &exists);
        if (!rc && exists)
            rc = table_int(c, "SELECT EXISTS (SELECT 1 FROM %s)", tables[i].name, &any);
        if (rc)
            return fail(cp, rc, "cannot read the destination: %s", conn_errmsg(c));
        if (any)
            return fail(cp, -EEXIST,
                        "the destination already holds rung data (table %s has rows); copy-db "
                        "writes only into an empty database and never overwrites",
                        tables[i].name);
    }
    return 0;
}

/* Checks the destination before anything touches it, migrates it with
 * store_open, and begins its first write transaction (checked again
 * inside it). */
static int dest_open(struct copy *cp, const char *to)
{
    struct stat sb;
    char why[256];
    int rc = 0;
    if (store_is_uri(to) || stat(to, &sb) == 0) {
        struct conn peek;
        rc = conn_open(&peek, to, true, why, sizeof why)
                 ? fail(cp, -EIO, "cannot open the destination: %s", why)
                 : dest_empty(cp, &peek);
        conn_close(&peek);
        if (rc)
            return rc;
    }
    struct store *s = store_open(to, 1, why, sizeof why);
    if (!s)
        return fail(cp, -EIO, "cannot open the destination: %s", why);
    store_close(s);
    if (conn_open(&cp->dst, to, false, why, sizeof why))
        return fail(cp, -EIO, "cannot open the destination: %s", why);
    /* A copy that stops half way is removed, not resumed: SQLite syncs
     * once, at the end (dest_sync), not at each chunk's commit. */
    if (cp->dst.db && conn_exec(&cp->dst, "PRAGMA synchronous = OFF"))
        return fail(cp, -EIO, "cannot set up the destination: %s", conn_errmsg(&cp->dst));
    if (conn_exec(&cp->dst, cp->dst.pg ? "BEGIN" : "BEGIN IMMEDIATE"))
        return fail(cp, -EIO, "cannot begin writing the destination: %s", conn_errmsg(&cp->dst));
    return dest_empty(cp, &cp->dst);
}

/* Counts n rows written; commits after each chunk and begins the next. */
static int dest_wrote(struct copy *cp, int n)
{
    cp->pending += n;
    if (cp->pending < STORE_COPY_CHUNK)
        return 0;
    cp->pending = 0;
    if (conn_exec(&cp->dst, "COMMIT") ||
        conn_exec(&cp->dst, cp->dst.pg ? "BEGIN" : "BEGIN IMMEDIATE"))
        return fail(cp, -EIO, "cannot commit to the destination: %s", conn_errmsg(&cp->dst));
    return 0;
}

/* ---- rows ---- */

/* The rows of a query on the source, streamed: SQLite steps its
 * statement; PostgreSQL fetches a cursor's rows STORE_COPY_CHUNK at a
 * time. */
struct reader {
    struct dbst *st;
    bool cursor;
    int64_t fetched; /* rows of the current fetch */
};

static int reader_open(struct copy *cp, struct reader *r, struct sbuf *select)
{
    struct conn *c = &cp->src;
    memset(r, 0, sizeof *r);
    r->cursor = c->pg != NULL;
    if (r->cursor) {
        struct sbuf d = {0};
        sb_add(&d, "DECLARE " CURSOR " NO SCROLL CURSOR FOR ");
        sb_add(&d, select->oom ? "" : select->s);
        int rc = d.oom || select->oom ? -ENOMEM : conn_exec(c, d.s);
        free(d.s);
        free(select->s);
        memset(select, 0, sizeof *select);
        if (rc)
            return rc;
        r->st = conn_adhoc(c, "FETCH " STR(STORE_COPY_CHUNK) " FROM " CURSOR);
    } else {
        r->st = sb_prepare(select, c);
    }
    return r->st ? 0 : -EIO;
}

/* SQLITE_ROW, SQLITE_DONE or an error code. */
static int reader_next(struct reader *r)
{
    int rc = store_step(r->st);
    if (rc == SQLITE_DONE && r->cursor && r->fetched > 0) {
        conn_done(r->st);
        r->fetched = 0;
        rc = store_step(r->st);
    }
    if (rc == SQLITE_ROW)
        r->fetched++;
    return rc;
}

static void reader_close(struct copy *cp, struct reader *r)
{
    conn_adhoc_free(r->st);
    if (r->cursor && r->st)
        conn_exec(&cp->src, "CLOSE " CURSOR);
    memset(r, 0, sizeof *r);
}

/* Binds column col of row to parameter i of st with its storage type. */
static int bind_from(struct dbst *st, int i, struct dbst *row, int col)
{
    switch (col_type(row, col)) {
    case SQLITE_INTEGER:
        return bind_int64(st, i, col_int64(row, col));
    case SQLITE_FLOAT:
        return bind_double(st, i, col_double(row, col));
    case SQLITE_BLOB: {
        const void *v = col_blob(row, col);
        int n = col_bytes(row, col);
        if (!v && n > 0)
            return SQLITE_NOMEM;
        return bind_blob(st, i, n > 0 ? v : "", n, SQLITE_TRANSIENT);
    }
    case SQLITE_TEXT: {
        const char *v = col_text(row, col);
        int n = col_bytes(row, col);
        if (!v)
            return SQLITE_NOMEM;
        return bind_text(st, i, v, n, SQLITE_TRANSIENT);
    }
    default:
        return bind_null(st, i);
    }
}

/* Whether column name is one of t's late columns. */
static bool is_late(const struct table_spec *t, const char *name)
{
    return (t->late[0] && strcmp(t->late[0], name) == 0) ||
           (t->late[1] && strcmp(t->late[1], name) == 0);
}

/* INSERT INTO t (its source columns) VALUES (...), ... for nrows rows,
 * prepared on the destination. */
static struct dbst *insert_for(struct copy *cp, const struct table_spec *t, struct dbst *row,
                               int nrows)
{
    int n = col_count(row);
    struct sbuf b = {0};
    sb_add(&b, "INSERT INTO ");
    sb_ident(&b, t->name);
    sb_add(&b, " (");
    for (int i = 0; i < n; i++) {
        sb_add(&b, i ? ", " : "");
        sb_ident(&b, col_name(row, i) ? col_name(row, i) : "?");
    }
    sb_add(&b, ") VALUES ");
    for (int r = 0; r < nrows; r++) {
        sb_add(&b, r ? ", (" : "(");
        for (int i = 0; i < n; i++) {
            sb_add(&b, i ? ", " : "");
            sb_param(&b, &cp->dst, r * n + i + 1);
        }
        sb_add(&b, ")");
    }
    return sb_prepare(&b, &cp->dst);
}

/* Writes a table's rows: COPY_BATCH to a statement while the snapshot's
 * count says that many are left, else one by one. */
struct inserter {
    struct dbst *one, *many;
    int bound;    /* rows bound to many, not yet written */
    bool batch;   /* the rows being bound go to many */
    int64_t left; /* rows of the table not yet read, by the snapshot's count */
    int first;    /* the first failing bind since the last write */
};

/* Binds the reader's current row (its late columns NULL) and writes
 * when a statement is full. */
static int insert_row(struct copy *cp, const struct table_spec *t, struct inserter *w,
                      struct dbst *row)
{
    if (w->bound == 0)
        w->batch = w->left >= COPY_BATCH;
    struct dbst **sp = w->batch ? &w->many : &w->one;
    if (!*sp && !(*sp = insert_for(cp, t, row, w->batch ? COPY_BATCH : 1)))
        return fail(cp, -EIO, "cannot write %s to the destination: %s", t->name,
                    conn_errmsg(&cp->dst));
    int n = col_count(row), base = w->bound * n;
    for (int i = 0; i < n; i++)
        bind_chk(&w->first, is_late(t, col_name(row, i)) ? bind_null(*sp, base + i + 1)
                                                         : bind_from(*sp, base + i + 1, row, i));
    w->left--;
    if (w->batch && ++w->bound < COPY_BATCH)
        return 0;
    int nrows = w->batch ? w->bound : 1;
    int rc = w->first == SQLITE_OK ? store_step(*sp) : w->first;
    conn_done(*sp);
    w->bound = 0;
    w->first = SQLITE_OK;
    if (rc != SQLITE_DONE)
        return fail(cp, store_sqlite_errno(rc) ? store_sqlite_errno(rc) : -EIO,
                    "cannot write rows of %s: %s", t->name, conn_errmsg(&cp->dst));
    return dest_wrote(cp, nrows);
}

/* Copies every row of table t (already counted into tab->source). */
static int copy_rows(struct copy *cp, const struct table_spec *t, struct store_copy_table *tab)
{
    struct sbuf sel = {0};
    sb_add(&sel, "SELECT * FROM ");
    sb_ident(&sel, t->name);
    struct reader r;
    struct inserter w = {.left = tab->source, .first = SQLITE_OK};
    int rc = reader_open(cp, &r, &sel), step = SQLITE_DONE;
    if (rc)
        rc = fail(cp, rc, "cannot read %s from the source: %s", t->name, conn_errmsg(&cp->src));
    while (!rc && (step = reader_next(&r)) == SQLITE_ROW) {
        rc = insert_row(cp, t, &w, r.st);
        if (!rc && ++tab->copied % STORE_COPY_PROGRESS == 0 && tab->copied < tab->source &&
            cp->progress)
            cp->progress(cp->cls, tab, false);
    }
    if (!rc && step != SQLITE_DONE)
        rc = fail(cp, -EIO, "cannot read %s from the source: %s", t->name, conn_errmsg(&cp->src));
    if (!rc && w.bound)
        rc = fail(cp, -EBADMSG, "table %s had fewer rows than its count", t->name);
    tab->copied -= w.bound;
    conn_adhoc_free(w.one);
    conn_adhoc_free(w.many);
    reader_close(cp, &r);
    return rc;
}

/* Sets t's late columns (self-references) on the rows that have them,
 * now that every row they may name is in. */
static int copy_late(struct copy *cp, const struct table_spec *t)
{
    int nlate = t->late[1] ? 2 : 1;
    struct sbuf sel = {0}, up = {0};
    sb_add(&sel, "SELECT ");
    sb_ident(&sel, t->key);
    sb_add(&up, "UPDATE ");
    sb_ident(&up, t->name);
    sb_add(&up, " SET ");
    for (int i = 0; i < nlate; i++) {
        sb_add(&sel, ", ");
        sb_ident(&sel, t->late[i]);
        sb_add(&up, i ? ", " : "");
        sb_ident(&up, t->late[i]);
        sb_add(&up, " = ");
        sb_param(&up, &cp->dst, i + 1);
    }
    sb_add(&sel, " FROM ");
    sb_ident(&sel, t->name);
    sb_add(&up, " WHERE ");
    sb_ident(&up, t->key);
    sb_add(&up, " = ");
    sb_param(&up, &cp->dst, nlate + 1);
    struct reader r;
    struct dbst *st = sb_prepare(&up, &cp->dst);
    int rc = st ? reader_open(cp, &r, &sel) : -EIO, step = SQLITE_DONE;
    while (!rc && (step = reader_next(&r)) == SQLITE_ROW) {
        int first = SQLITE_OK;
        for (int i = 0; i < nlate; i++)
            bind_chk(&first, bind_from(st, i + 1, r.st, i + 1));
        bind_chk(&first, bind_from(st, nlate + 1, r.st, 0));
        int done = first == SQLITE_OK ? store_step(st) : first;
        conn_done(st);
        rc = done == SQLITE_DONE ? dest_wrote(cp, 1) : -EIO;
    }
    if (!rc && step != SQLITE_DONE)
        rc = -EIO;
    if (rc)
        fail(cp, rc, "cannot copy the references of %s: %s", t->name, conn_errmsg(&cp->dst));
    if (st)
        reader_close(cp, &r);
    else
        free(sel.s);
    conn_adhoc_free(st);
    return rc;
}

/* One table: counted in the snapshot, emptied when triggers write it,
 * copied, its self-references set. */
static int copy_table(struct copy *cp, const struct table_spec *t, struct store_copy_table *tab)
{
    tab->name = t->name;
    tab->dest = -1;
    if (table_int(&cp->src, "SELECT count(*) FROM %s", t->name, &tab->source))
        return fail(cp, -EIO, "cannot count %s in the source: %s", t->name, conn_errmsg(&cp->src));
    if (cp->progress)
        cp->progress(cp->cls, tab, false);
    int64_t unused;
    if (t->clear && table_int(&cp->dst, "DELETE FROM %s", t->name, &unused))
        return fail(cp, -EIO, "cannot empty %s: %s", t->name, conn_errmsg(&cp->dst));
    int rc = copy_rows(cp, t, tab);
    if (!rc && t->late[0])
        rc = copy_late(cp, t);
    cp->rep->rows += tab->copied;
    if (!rc && cp->progress)
        cp->progress(cp->cls, tab, true);
    return rc;
}

/* ---- the end: sequences, counts ---- */

/* PostgreSQL: moves each identity sequence past the largest copied id
 * (SQLite's rowids and AUTOINCREMENT follow the rows by themselves). */
static int dest_sequences(struct copy *cp)
{
    if (!cp->dst.pg)
        return 0;
    for (size_t i = 0; i < NTABLES; i++) {
        if (!tables[i].key)
            continue;
        struct sbuf b = {0};
        sb_add(&b, "SELECT setval(pg_get_serial_sequence($1, $2), max(");
        sb_ident(&b, tables[i].key);
        sb_add(&b, ")) FROM ");
        sb_ident(&b, tables[i].name);
        sb_add(&b, " HAVING max(");
        sb_ident(&b, tables[i].key);
        sb_add(&b, ") IS NOT NULL");
        struct dbst *st = sb_prepare(&b, &cp->dst);
        int first = SQLITE_OK;
        if (st) {
            bind_chk(&first, bind_text(st, 1, tables[i].name, -1, SQLITE_STATIC));
            bind_chk(&first, bind_text(st, 2, tables[i].key, -1, SQLITE_STATIC));
        }
        int rc = st && first == SQLITE_OK ? store_step(st) : SQLITE_ERROR;
        conn_adhoc_free(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return fail(cp, -EIO, "cannot set the id sequence of %s: %s", tables[i].name,
                        conn_errmsg(&cp->dst));
    }
    return 0;
}

/* SQLite: the copy made durable, synced into the database file by a
 * checkpoint that empties the WAL. */
static int dest_sync(struct copy *cp)
{
    int64_t busy = 1;
    if (!cp->dst.db)
        return 0;
    if (conn_exec(&cp->dst, "PRAGMA synchronous = FULL") ||
        query_int(&cp->dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, &busy) || busy)
        return fail(cp, -EIO, "cannot sync the destination: %s",
                    busy ? "another connection uses it" : conn_errmsg(&cp->dst));
    return 0;
}

/* Counts every table in the destination and compares. */
static int dest_counts(struct copy *cp)
{
    struct store_copy_report *rep = cp->rep;
    for (size_t i = 0; i < rep->n; i++) {
        struct store_copy_table *t = &rep->tables[i];
        if (table_int(&cp->dst, "SELECT count(*) FROM %s", t->name, &t->dest))
            return fail(cp, -EIO, "cannot count %s in the destination: %s", t->name,
                        conn_errmsg(&cp->dst));
    }
    for (size_t i = 0; i < rep->n; i++) {
        const struct store_copy_table *t = &rep->tables[i];
        if (t->source != t->copied || t->source != t->dest)
            return fail(cp, -EBADMSG,
                        "table %s does not match: %lld rows in the source's snapshot, %lld "
                        "copied, %lld in the destination",
                        t->name, (long long)t->source, (long long)t->copied, (long long)t->dest);
    }
    return 0;
}

/* SQLite: the group log of the copied items, as migration 013 fills it. */
static int dest_derived(struct copy *cp)
{
    if (!cp->dst.db)
        return 0;
    if (conn_exec(&cp->dst, "INSERT INTO item_groups(seq, key_id, \"group\") SELECT seq, "
                            "key_id, \"group\" FROM items WHERE \"group\" IS NOT NULL"))
        return fail(cp, -EIO, "cannot fill the group log: %s", conn_errmsg(&cp->dst));
    return 0;
}

static int copy_all(struct copy *cp, const char *from, const char *to)
{
    int rc = source_open(cp, from);
    if (!rc)
        log_json("info", "source snapshot taken", "{s:s}", "isolation",
                 cp->src.pg ? "repeatable read" : "read transaction");
    if (!rc)
        rc = dest_open(cp, to);
    for (size_t i = 0; !rc && i < NTABLES; i++) {
        cp->rep->n = i + 1;
        rc = copy_table(cp, &tables[i], &cp->rep->tables[i]);
    }
    if (!rc)
        rc = dest_derived(cp);
    if (!rc && conn_exec(&cp->dst, "COMMIT"))
        rc = fail(cp, -EIO, "cannot commit to the destination: %s", conn_errmsg(&cp->dst));
    if (!rc)
        rc = dest_sync(cp);
    if (!rc)
        rc = dest_sequences(cp);
    if (!rc)
        rc = dest_counts(cp);
    return rc;
}

int store_copy(const char *from, const char *to, store_copy_progress_fn progress, void *cls,
               struct store_copy_report *out, char *err, size_t errlen)
{
    struct copy *cp = calloc(1, sizeof *cp);
    memset(out, 0, sizeof *out);
    if (!cp) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cp->progress = progress;
    cp->cls = cls;
    cp->rep = out;
    cp->err = err;
    cp->errlen = errlen;
    int rc = copy_all(cp, from, to);
    if (cp->dst.db || cp->dst.pg) {
        if (conn_in_tx(&cp->dst))
            conn_rollback(&cp->dst);
        conn_close(&cp->dst);
    }
    if (cp->src.db || cp->src.pg) {
        if (conn_in_tx(&cp->src))
            conn_rollback(&cp->src);
        conn_close(&cp->src);
    }
    free(cp);
    return rc;
}
