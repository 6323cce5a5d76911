#include "http.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "log.h"

/* GnuTLS priorities for --tls-cert: its defaults, less TLS 1.1 and older. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Every response carries these: the page loads only its own files and runs
 * no inline script, so model text can never become code. */
static void add_common_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self'; connect-src 'self'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

static void set_reply(struct req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp)
        MHD_destroy_response(r->resp);
    r->status = status;
    r->resp = resp;
    if (resp)
        add_common_headers(resp);
}

void http_reply_bytes(struct req *r, unsigned status, const char *content_type, const void *data,
                      size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp && content_type)
        MHD_add_response_header(resp, "Content-Type", content_type);
    set_reply(r, status, resp);
}

void http_reply_owned(struct req *r, unsigned status, const char *content_type, char *data,
                      size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    set_reply(r, status, resp);
}

void http_reply_json(struct req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"Out of memory.\"}}";
        http_reply_bytes(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t len = strlen(text);
    text[len] = '\0';
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        set_reply(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    set_reply(r, status, resp);
}

void http_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[HTTP_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The message may quote a path or a field name from the request, or be
     * cut inside a character: JSON needs valid UTF-8. */
    util_utf8_sanitize(msg, strlen(msg));
    http_reply_json(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void http_reply_header(struct req *r, const char *name, const char *value)
{
    if (r->resp)
        MHD_add_response_header(r->resp, name, value);
}

void http_reply_empty(struct req *r, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    set_reply(r, status, resp);
}

#define HTTP_STREAM_BLOCK (64u * 1024u) /* bytes a streamed reply's read fills at most */

void http_reply_stream(struct req *r, unsigned status, const char *content_type,
                       MHD_ContentReaderCallback read, void *cls,
                       MHD_ContentReaderFreeCallback done)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, read, cls, done);
    if (!resp) {
        done(cls);
        http_error(r, 503, "out_of_memory", "The server is out of memory; retry later.");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    set_reply(r, status, resp);
}

const char *http_query(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_go_async(struct req *r, req_finish_fn finish)
{
    if (!r->owed) {
        r->owed = true;
        atomic_fetch_add(&r->app->owed, 1);
    }
    r->async = true;
    r->finish = finish;
    atomic_store(&r->async_done, false);
    MHD_suspend_connection(r->conn);
}

void http_async_done(void *cls)
{
    struct req *r = cls;
    atomic_store(&r->async_done, true);
    MHD_resume_connection(r->conn);
}

static struct req *req_new(struct app *app, struct MHD_Connection *conn, const char *url,
                           const char *method)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->app = app;
    r->conn = conn;
    r->method = method;
    r->path = strdup(url);
    r->t0_us = util_mono_us();
    if (!r->path) {
        free(r);
        return NULL;
    }
    return r;
}

static void req_free(struct req *r)
{
    if (r->state_free)
        r->state_free(r->state);
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r->path);
    free(r);
}

/* Appends upload data, keeping at most max_body bytes. */
static void req_append(struct req *r, const char *data, size_t len)
{
    size_t max = r->app->max_body;
    if (r->too_big || r->body_len + len > max) {
        r->too_big = true;
        r->discarded += len;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            r->too_big = true;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result queue(struct req *r)
{
    if (!r->resp) {
        http_error(r, 500, "internal", "The server built no reply.");
        if (!r->resp)
            return MHD_NO;
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    return ok;
}

/* ---- strict framing (issue 15) ---- */

/* What the request's header lines say about its framing. */
struct framing {
    const char *cl; /* the first Content-Length */
    size_t cl_len;
    bool cl_differs;     /* another Content-Length with a different value */
    bool te;             /* a Transfer-Encoding */
    bool odd_line;       /* a NUL byte in a line, a bare LF, or a folded line */
    const char *val_end; /* where the last value seen ends */
};

/* libmicrohttpd 0.9.75 hands over each header as C strings cut out of its
 * read buffer in place, where every line's CR LF became two NUL bytes, so
 * a NUL inside a value silently shortens it ("Bearer token\0x" reads as
 * "Bearer token"). In place, a line that held only its name and value ends
 * in exactly two NUL bytes right before the next line's name: anything
 * else there is a NUL in the value, a bare LF, or a folded line (copied
 * elsewhere), all refused. The last line is followed by the blank line's
 * two NUL bytes. */
static bool line_ends_clean(const char *end, const char *next)
{
    if (next)
        return next == end + 2 && !end[0] && !end[1];
    return !end[0] && !end[1] && !end[2] && !end[3];
}

static enum MHD_Result framing_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)key_size;
    struct framing *f = cls;
    if (!key || !value) {
        f->odd_line = true;
        return MHD_NO;
    }
    if (f->val_end && !line_ends_clean(f->val_end, key))
        f->odd_line = true;
    f->val_end = value + value_size;
    if (!strcasecmp(key, "Transfer-Encoding"))
        f->te = true;
    if (strcasecmp(key, "Content-Length"))
        return MHD_YES;
    if (!f->cl) {
        f->cl = value;
        f->cl_len = value_size;
    } else if (f->cl_len != value_size || memcmp(f->cl, value, value_size)) {
        f->cl_differs = true;
    }
    return MHD_YES;
}

/* Refuses a request whose framing two parties could read two ways (a
 * proxy one way, libmicrohttpd the other): 400, connection closed. True
 * when refused (the reply is set). */
static bool refuse_framing(struct req *r)
{
    struct framing f = {0};
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, framing_one, &f);
    if (f.val_end && !line_ends_clean(f.val_end, NULL))
        f.odd_line = true;
    if (f.odd_line)
        http_error(r, 400, "bad_header",
                   "A header line holds a NUL byte, ends in a bare LF, or is folded.");
    else if (f.cl_differs)
        http_error(r, 400, "ambiguous_length",
                   "The request has two different Content-Length headers.");
    else if (f.cl && f.te)
        http_error(r, 400, "ambiguous_length",
                   "The request has both Content-Length and Transfer-Encoding.");
    else
        return false;
    http_reply_header(r, "Connection", "close");
    return true;
}

/* The first call of a request, on its headers: framing, the body's
 * declared size, then routing and authentication. */
static enum MHD_Result on_headers(struct req *r)
{
    struct app *app = r->app;
    /* Answering has no deadline; reading a body (below) has its floor. */
    if (app->guard)
        guard_phase(app->guard, r->conn, GUARD_BUSY);
    if (refuse_framing(r))
        return queue(r);
    /* A declared body over the cap is refused before reading it. */
    const char *cl = http_header(r, "Content-Length");
    int64_t n;
    if (cl && util_parse_i64(cl, 0, INT64_MAX, &n) == 0 && (uint64_t)n > app->max_body) {
        http_error(r, 413, "body_too_large", "The body is %lld bytes; the limit is %zu.",
                   (long long)n, app->max_body);
        return queue(r);
    }
    /* Route and authenticate on the headers. A refused request that
     * comes with a body is answered now, before the body is read (the
     * connection then closes); one without a body is answered on the
     * next call, which keeps the connection alive with libmicrohttpd
     * 0.9.75. */
    r->has_body = (cl && strcmp(cl, "0") != 0) || http_header(r, "Transfer-Encoding");
    api_prepare(r);
    if (r->resp && r->has_body)
        return queue(r);
    if (app->guard && r->has_body)
        guard_phase(app->guard, r->conn, GUARD_BODY);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    struct app *app = cls;
    struct req *r = *req_cls;
    if (!r) {
        r = req_new(app, conn, url, method);
        if (!r)
            return MHD_NO;
        *req_cls = r;
        atomic_fetch_add(&app->inflight, 1);
        return on_headers(r);
    }
    if (*upload_data_size) {
        if (app->guard)
            guard_body_bytes(app->guard, conn, *upload_data_size);
        req_append(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        /* A chunked body far past the cap is not worth reading to the end:
         * drop the connection. Up to twice the cap it gets a 413. */
        if (r->too_big && r->discarded > app->max_body)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->async) {
        if (!atomic_load(&r->async_done))
            return MHD_YES; /* resumed before we asked: wait for the real wake-up */
        r->async = false;
        r->finish(r);
        if (r->async)
            return MHD_YES; /* finish started another round of work */
        return queue(r);
    }
    if (r->resp)
        return queue(r); /* refused on the headers */
    if (r->too_big) {
        http_error(r, 413, "body_too_large", "The body is over the limit of %zu bytes.",
                   app->max_body);
        return queue(r);
    }
    if (app->guard)
        guard_phase(app->guard, conn, GUARD_BUSY);
    api_dispatch(r);
    if (r->async)
        return MHD_YES;
    return queue(r);
}

static void log_request(struct req *r, uint64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    /* The decoded path can hold any bytes: log a UTF-8-safe copy. */
    char path[HTTP_LOG_PATH_MAX];
    util_strlcpy(path, r->path, sizeof path);
    util_utf8_sanitize(path, strlen(path));
    log_write(stdout, json_pack("{s:s,s:s,s:s,s:i,s:I,s:s?}", "time", when, "method", r->method,
                                "path", path, "status", (int)r->status, "us", (json_int_t)us, "key",
                                r->authed ? r->key.name : NULL));
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct app *app = cls;
    struct req *r = *req_cls;
    if (!r)
        return;
    uint64_t us = util_mono_us() - r->t0_us;
    atomic_fetch_add(&app->requests, 1);
    unsigned cls_idx = r->status / 100;
    if (cls_idx < 6)
        atomic_fetch_add(&app->by_class[cls_idx], 1);
    if (!app->quiet)
        log_request(r, us);
    api_request_done(r);
    if (app->guard && conn)
        guard_phase(app->guard, conn, GUARD_HEADERS);
    if (r->owed)
        atomic_fetch_sub(&app->owed, 1);
    req_free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&app->inflight, 1);
}

/* libmicrohttpd's own messages, as JSON lines like the rest of stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[HTTP_MESSAGE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_json("warn", msg, "{s:s}", "source", "libmicrohttpd");
}

struct MHD_Daemon *http_start(struct app *app, const char *host, uint16_t port, unsigned threads)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return NULL;
    /* ITC lets MHD_quiesce_daemon() stop the accepting at shutdown. poll(),
     * not epoll: with epoll and a thread pool, libmicrohttpd 0.9.75's
     * MHD_quiesce_daemon() races a worker that removes the listening socket
     * from its epoll set itself, and panics (abort) when it loses; seen at
     * SIGTERM in the API tests. poll() keeps no such set. */
    const struct net_limits *n = &app->net;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    /* HTTPS through libmicrohttpd's GnuTLS, TLS 1.2 and 1.3 only. */
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)app->tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)app->tls_key},
                                   {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
                                   {MHD_OPTION_END, 0, NULL}};
    if (app->tls_cert)
        flags |= MHD_USE_TLS;
    else
        tls[0].option = MHD_OPTION_END;
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, app, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, n->idle_s, MHD_OPTION_CONNECTION_LIMIT,
                            n->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, n->per_ip,
                            MHD_OPTION_NOTIFY_CONNECTION, guard_notify, app->guard,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, app,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, HTTP_LISTEN_BACKLOG, MHD_OPTION_END);
}

void http_stop(struct app *app, struct MHD_Daemon *d, unsigned grace_ms)
{
    if (!d)
        return;
    /* Stop accepting: MHD stops polling the listening socket, and shutting
     * it down makes the kernel refuse new connections instead of queueing
     * them in the backlog where nobody would answer. */
    MHD_socket lfd = MHD_quiesce_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        shutdown(lfd, SHUT_RDWR);
    atomic_store(&app->stopping, true);
    /* Requests in flight get grace_ms to finish. libmicrohttpd must never be
     * stopped with a suspended request (it aborts), nor with a resumed one
     * whose reply is queued but not yet sent (it would close the connection
     * without one), and those always end: long-polls answer 204 once woken,
     * store work completes or fails, and the reply goes out. So past the
     * grace, wait for the requests that went async until they complete. */
    for (unsigned waited = 0;; waited += 10) {
        api_wake_all_waiters(app);
        if (atomic_load(&app->inflight) == 0)
            break;
        if (waited >= grace_ms && atomic_load(&app->owed) == 0)
            break;
        usleep(10000);
    }
    MHD_stop_daemon(d);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
}
