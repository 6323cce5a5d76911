/* Listings that page: raters, flags and events, each page a read of
 * limit rows after a cursor (the last name or id of the page before). */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>

int store_page(struct store *s, enum stmt_id id, int64_t after, const char *after_text,
               unsigned limit, const struct rows_spec *spec, struct rows *out)
{
    struct rows_spec page = *spec;
    page.max = limit;
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, id);
    if (st) {
        if (after_text)
            bind_text(st, 1, after_text, -1, SQLITE_STATIC);
        else
            bind_int64(st, 1, after);
        /* One row more than asked tells whether a next page exists. */
        bind_int64(st, 2, (int64_t)limit + 1);
    }
    int rc = store_rows_read(st, &page, out);
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

int store_raters_page(struct store *s, const char *after, unsigned limit,
                      struct store_rater **raters, size_t *n, bool *more)
{
    static const struct rows_spec spec = {sizeof **raters, SIZE_MAX, store_rater_row_read, NULL};
    struct rows rows;
    int rc = store_page(s, ST_RATERS_PAGE, 0, after ? after : "", limit, &spec, &rows);
    *raters = rows.v;
    *n = rows.n;
    *more = rows.more;
    return rc;
}

/* ---- flags ---- */

void store_flags_free(struct store_flag *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].item_id);
        free(v[i].reason);
        free(v[i].state);
    }
    free(v);
}

static void flags_undo(void *v, size_t n)
{
    store_flags_free(v, n);
}

/* Reads a row of ST_FLAGS_PAGE into a zeroed struct store_flag. */
static int flag_read(struct dbst *st, void *elem)
{
    struct store_flag *f = elem;
    f->id = col_int64(st, 0);
    f->layer_id = col_int64(st, 2);
    f->created_ms = col_int64(st, 5);
    int rc = col_dup(st, 1, &f->item_id);
    rc = rc ? rc : col_dup(st, 3, &f->reason);
    return rc ? rc : col_dup(st, 4, &f->state);
}

int store_flags_list(struct store *s, int64_t after, unsigned limit, struct store_flag **v,
                     size_t *n, bool *more)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, flag_read, flags_undo};
    struct rows rows;
    int rc = store_page(s, ST_FLAGS_PAGE, after, NULL, limit, &spec, &rows);
    *v = rows.v;
    *n = rows.n;
    *more = rows.more;
    return rc;
}

/* ---- events ---- */

void store_events_free(struct store_event *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].actor);
        free(v[i].kind);
        free(v[i].subject);
        free(v[i].detail);
    }
    free(v);
}

static void events_undo(void *v, size_t n)
{
    store_events_free(v, n);
}

/* Reads a row of ST_EVENTS_PAGE into a zeroed struct store_event. */
static int event_read(struct dbst *st, void *elem)
{
    struct store_event *e = elem;
    e->id = col_int64(st, 0);
    e->at_ms = col_int64(st, 1);
    int rc = col_dup(st, 2, &e->actor);
    rc = rc ? rc : col_dup(st, 3, &e->kind);
    rc = rc ? rc : col_dup(st, 4, &e->subject);
    return rc ? rc : col_dup(st, 5, &e->detail);
}

int store_events_list(struct store *s, int64_t after, unsigned limit, struct store_event **v,
                      size_t *n, bool *more)
{
    static const struct rows_spec spec = {sizeof **v, SIZE_MAX, event_read, events_undo};
    struct rows rows;
    int rc = store_page(s, ST_EVENTS_PAGE, after, NULL, limit, &spec, &rows);
    *v = rows.v;
    *n = rows.n;
    *more = rows.more;
    return rc;
}
