/* The export cursor: rows streamed out of one read transaction.
 *
 * A cursor holds a read connection of the pool for its whole life, inside
 * BEGIN ... COMMIT, so every row comes from one snapshot however long the
 * client takes to read it, while the writer goes on committing (WAL). Rows
 * are handed out one at a time with their text borrowed from SQLite, so
 * memory does not grow with the export's size. */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct store_export {
    struct store *s;
    struct conn *c; /* borrowed from the pool until close */
    enum store_export_format fmt;
    struct dbst *st; /* the format's row query (steps: one row per response) */
    char *source;    /* the source filter, copied (steps bind it per response) */
    struct store_export_row row;
    struct store_export_step steps[STORE_EXPORT_STEPS_MAX];
};

static const char *text(struct dbst *st, int col)
{
    return col_text(st, col);
}

static const enum stmt_id row_query[] = {
    [STORE_EXPORT_PREFERENCE] = ST_EXPORT_PREFERENCE,
    [STORE_EXPORT_STEPS] = ST_EXPORT_STEP_SIDES,
    [STORE_EXPORT_ITEMS] = ST_EXPORT_ITEMS,
};

/* Binds the filter to the row query: ?1 since, ?2 batch, ?3 source, ?4
 * min_agreement where the query has it. 0 or -EIO. */
static int bind_filter(struct dbst *st, const struct store_export_filter *f)
{
    if (!st)
        return -EIO;
    int rc = bind_int64(st, 1, f->since_ms);
    rc = rc ? rc : bind_text_or_null(st, 2, f->batch);
    rc = rc ? rc : bind_text_or_null(st, 3, f->source);
    if (!rc && f->has_min_agreement && col_nparams(st) >= 4)
        rc = bind_double(st, 4, f->min_agreement);
    return rc == SQLITE_OK ? 0 : -EIO;
}

int store_export_open(struct store *s, enum store_export_format fmt,
                      const struct store_export_filter *f, struct store_export **out)
{
    *out = NULL;
    if ((size_t)fmt >= sizeof row_query / sizeof row_query[0])
        return -EINVAL;
    struct store_export *x = calloc(1, sizeof *x);
    if (!x || (f->source && !(x->source = strdup(f->source)))) {
        free(x);
        return -ENOMEM;
    }
    x->s = s;
    x->fmt = fmt;
    x->c = store_reader(s);
    int rc = conn_run(x->c, ST_BEGIN_READ);
    if (!rc) {
        x->st = conn_stmt(x->c, row_query[fmt]);
        rc = bind_filter(x->st, f);
    }
    if (rc) {
        /* Nothing was read: the transaction (if any) holds no snapshot. */
        conn_done(x->st);
        x->st = NULL;
        store_export_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

/* Where a text column of a row query goes in the row. */
struct text_col {
    int col;
    size_t off; /* of a const char * in struct store_export_row */
};

#define TEXT_COL(c, field)                                                                         \
    {                                                                                              \
        c, offsetof(struct store_export_row, field)                                                \
    }

static const struct text_col preference_texts[] = {
    TEXT_COL(1, item_id), TEXT_COL(2, batch),    TEXT_COL(3, source), TEXT_COL(4, prompt),
    TEXT_COL(5, chosen),  TEXT_COL(6, rejected), TEXT_COL(7, raters),
};
static const struct text_col item_texts[] = {
    TEXT_COL(1, item_id), TEXT_COL(2, external_id), TEXT_COL(3, batch), TEXT_COL(4, kind),
    TEXT_COL(5, domain),  TEXT_COL(6, status),      TEXT_COL(7, route), TEXT_COL(8, verdict),
    TEXT_COL(9, source),  TEXT_COL(12, scores),
};
static const struct text_col step_side_texts[] = {
    TEXT_COL(1, item_id),  TEXT_COL(2, batch), TEXT_COL(3, prompt),
    TEXT_COL(4, response), TEXT_COL(5, side),
};

#define TEXTS(t) t, sizeof t / sizeof t[0]

/* Points the row's text fields at the current row's columns, and reads
 * the row's id from column 0. */
static void read_texts(struct dbst *st, struct store_export_row *r, const struct text_col *t,
                       size_t n)
{
    r->id = col_int64(st, 0);
    for (size_t i = 0; i < n; i++)
        *(const char **)((char *)r + t[i].off) = text(st, t[i].col);
}

/* A real column, or has = false when it is NULL. */
static double col_real(struct dbst *st, int col, bool *has)
{
    *has = !col_null(st, col);
    return col_double(st, col);
}

static void read_preference(struct dbst *st, struct store_export_row *r)
{
    read_texts(st, r, TEXTS(preference_texts));
    r->agreement = col_real(st, 8, &r->has_agreement);
    r->layer_id = col_int64(st, 9);
}

static void read_item(struct dbst *st, struct store_export_row *r)
{
    read_texts(st, r, TEXTS(item_texts));
    r->confidence = col_real(st, 10, &r->has_confidence);
    r->layer_id = col_int64(st, 11);
    r->gold = col_int(st, 13) != 0;
    r->created_ms = col_int64(st, 14);
    r->updated_ms = col_int64(st, 15);
}

/* The answered steps of the response in the row query's current row, into
 * x->steps. The response's own text stays valid: the step query is another
 * statement. 0 or -EIO. */
static int read_steps(struct store_export *x)
{
    struct dbst *q = conn_stmt(x->c, ST_EXPORT_STEPS);
    if (!q)
        return -EIO;
    bind_int64(q, 1, col_int64(x->st, 0));
    bind_text(q, 2, text(x->st, 6), -1, SQLITE_TRANSIENT);
    bind_text_or_null(q, 3, x->source);
    size_t n = 0;
    int step;
    while ((step = store_step(q)) == SQLITE_ROW && n < STORE_EXPORT_STEPS_MAX) {
        const char *a = text(q, 2);
        x->steps[n++] = (struct store_export_step){
            .start = col_int64(q, 0),
            .end = col_int64(q, 1),
            /* Static strings: the statement is reset before the row is used. */
            .answer = !strcmp(a, "yes")  ? "yes"
                      : !strcmp(a, "no") ? "no"
                                         : "unsure",
        };
    }
    conn_done(q);
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        return -EIO;
    x->row.nsteps = n;
    x->row.steps = x->steps;
    return 0;
}

static int read_step_side(struct store_export *x)
{
    read_texts(x->st, &x->row, TEXTS(step_side_texts));
    return read_steps(x);
}

int store_export_next(struct store_export *x, const struct store_export_row **row)
{
    *row = NULL;
    int step = store_step(x->st);
    if (step == SQLITE_DONE)
        return 0;
    if (step != SQLITE_ROW)
        return -EIO;
    memset(&x->row, 0, sizeof x->row);
    int rc = 0;
    if (x->fmt == STORE_EXPORT_PREFERENCE)
        read_preference(x->st, &x->row);
    else if (x->fmt == STORE_EXPORT_ITEMS)
        read_item(x->st, &x->row);
    else
        rc = read_step_side(x);
    if (rc)
        return rc;
    *row = &x->row;
    return 1;
}

void store_export_close(struct store_export *x)
{
    if (!x)
        return;
    conn_done(x->st);
    /* A read transaction: COMMIT only ends it. Should it fail, ROLLBACK, so
     * the connection never goes back to the pool inside a transaction. */
    if (conn_in_tx(x->c) && conn_run(x->c, ST_COMMIT))
        conn_exec(x->c, "ROLLBACK");
    store_reader_put(x->s, x->c);
    free(x->source);
    free(x);
}
