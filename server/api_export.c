/* GET /v1/export (admin): the collected data as JSON lines, streamed from
 * one read transaction with constant memory; GET /v1/openapi.json (public):
 * the description of every route, static/openapi.json. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "export.h"
#include "log.h"

/* Exports running at once. Each holds a read connection of the pool (whose
 * size is --threads + 2) for as long as its client reads; more would leave
 * the other requests waiting for a connection on the very threads that
 * must run the exports. */
#define EXPORTS_MAX 2

static atomic_int exports_running;

/* One streamed export: the cursor and the line being sent. */
struct stream {
    struct store_export *x;
    enum store_export_format fmt;
    char *line; /* malloc'd, the current row's line */
    size_t len; /* bytes of line */
    size_t off; /* bytes of line already sent */
    bool ended; /* the cursor gave its last row */
    bool failed;
    int64_t rows;
};

static void stream_free(void *cls)
{
    struct stream *s = cls;
    store_export_close(s->x);
    free(s->line);
    free(s);
    atomic_fetch_sub(&exports_running, 1);
}

/* Makes the next row the line to send: 1, 0 at the end, negative errno. */
static int stream_next_line(struct stream *s)
{
    const struct store_export_row *row;
    int rc = store_export_next(s->x, &row);
    if (rc <= 0)
        return rc;
    free(s->line);
    s->line = export_line(s->fmt, row, &s->len);
    s->off = 0;
    s->rows++;
    return s->line ? 1 : -ENOMEM;
}

/* libmicrohttpd's content reader: fills buf with whole or partial lines.
 * A failure after some bytes were sent can only cut the stream: the client
 * sees the chunked body end without its last chunk. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    size_t n = 0;
    while (n < max && !s->failed) {
        if (s->off == s->len) {
            int rc = s->ended ? 0 : stream_next_line(s);
            if (rc < 0) {
                s->failed = true;
                log_json("error", "export failed", "{s:s,s:I,s:s}", "format",
                         export_format_name(s->fmt), "rows", (json_int_t)s->rows, "why",
                         strerror(-rc));
            }
            if (rc <= 0) {
                s->ended = true;
                break;
            }
        }
        size_t k = s->len - s->off < max - n ? s->len - s->off : max - n;
        memcpy(buf + n, s->line + s->off, k);
        n += k;
        s->off += k;
    }
    if (n)
        return (ssize_t)n;
    return s->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

/* Reads the format and filters of the query into *fmt and *f (strings
 * borrowed from the request). False with a 400 reply set when one is bad. */
static bool export_query(struct req *r, enum store_export_format *fmt,
                         struct store_export_filter *f)
{
    const char *name = http_query(r, "format");
    if (export_format_parse(name, fmt)) {
        http_error(r, 400, "invalid_query", "'format' must be preference, steps or items.");
        return false;
    }
    static const char *const filters[] = {"since", "batch", "source", "min_agreement", NULL};
    char why[EXPORT_WHY_MAX];
    *f = (struct store_export_filter){0};
    for (size_t i = 0; filters[i]; i++) {
        const char *v = http_query(r, filters[i]);
        if (v && export_filter_set(f, filters[i], v, why)) {
            http_error(r, 400, "invalid_query", "%s", why);
            return false;
        }
    }
    if (export_filter_check(*fmt, f, why)) {
        http_error(r, 400, "invalid_query", "%s", why);
        return false;
    }
    return true;
}

void api_export(struct req *r, const char *param)
{
    (void)param;
    enum store_export_format fmt;
    struct store_export_filter f;
    if (!export_query(r, &fmt, &f))
        return;
    if (atomic_fetch_add(&exports_running, 1) >= EXPORTS_MAX) {
        atomic_fetch_sub(&exports_running, 1);
        http_error(r, 503, "busy", "%d exports are running; retry when one has ended.",
                   EXPORTS_MAX);
        http_reply_header(r, "Retry-After", "5");
        return;
    }
    struct stream *s = calloc(1, sizeof *s);
    int rc = s ? store_export_open(r->app->store, fmt, &f, &s->x) : -ENOMEM;
    if (rc) {
        free(s);
        atomic_fetch_sub(&exports_running, 1);
        api_store_error(r, rc, "starting the export");
        return;
    }
    s->fmt = fmt;
    http_reply_stream(r, 200, "application/x-ndjson", stream_read, s, stream_free);
}

void api_openapi(struct req *r, const char *param)
{
    (void)param;
    /* Read like the page's files, from the same directory: an installed
     * rungd finds it where meson installed the page. */
    api_static(r, "/openapi.json");
}
