/* The HTTP edge: per-request state on libmicrohttpd, body accumulation with
 * a hard cap, JSON replies and errors, suspend/resume for writes that wait
 * on the store's group commit, and one JSON log line per request. */
#ifndef RUNG_HTTP_H
#define RUNG_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "limits.h"
#include "store.h"

struct app;
struct req;

/* Finishes a request whose store work completed; must set the reply. */
typedef void (*req_finish_fn)(struct req *r);

struct req {
    struct app *app;
    struct MHD_Connection *conn;
    const char *method; /* MHD's, valid for the request */
    char *path;         /* owned copy of the URL path */
    char *body;         /* request body, NUL-terminated, owned */
    size_t body_len;
    size_t body_cap;
    size_t discarded; /* bytes dropped past the cap */
    bool too_big;
    bool has_body;  /* the headers announce a body */
    uint64_t t0_us; /* when the headers arrived */

    struct store_key key; /* the caller, when authenticated */
    bool authed;
    void (*handler)(struct req *r, const char *param); /* chosen on the headers */
    char param[HTTP_PARAM_MAX + 1];                    /* the route's path parameter */
    unsigned route; /* 1 + the index of the route matched (metrics), 0: none */

    /* The reply, queued by the access handler once set. */
    unsigned status;
    struct MHD_Response *resp;

    /* Async work: finish runs on an MHD thread after the store's done. */
    bool async;
    bool owed; /* went async once: counted in app->owed until completed */
    atomic_bool async_done;
    req_finish_fn finish;
    void *state; /* handler-owned, freed by state_free */
    void (*state_free)(void *state);
    int64_t wait_deadline_ms; /* long-poll deadline, 0 when not waiting */
    struct req *wait_next;    /* in the app's waiter list */
};

/* Builds the reply from a JSON value (reference stolen). */
void http_reply_json(struct req *r, unsigned status, json_t *body);

/* Builds {"error": {"code", "message"}} with this status. message is a
 * printf format. */
void http_error(struct req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a header to the pending reply (after a reply was built). */
void http_reply_header(struct req *r, const char *name, const char *value);

/* Builds a reply with no body (204 and the like). */
void http_reply_empty(struct req *r, unsigned status);

/* Builds a reply from malloc'd data (taken over, never copied: large
 * replies are held once), with a content type and Cache-Control: no-store.
 * data is freed also when building the reply fails (then a 503 is set). */
void http_reply_owned(struct req *r, unsigned status, const char *content_type, char *data,
                      size_t len);

/* Builds a reply from bytes (copied), with a content type. */
void http_reply_bytes(struct req *r, unsigned status, const char *content_type, const void *data,
                      size_t len);

/* Builds a streamed reply of unknown length (chunked): read(cls, pos, buf,
 * max) fills buf with up to max bytes and returns their count, or
 * MHD_CONTENT_READER_END_OF_STREAM / _END_WITH_ERROR; it runs on the
 * connection's MHD thread while the client reads. done(cls) runs when the
 * response is freed (sent, aborted, or never queued), also when building
 * the reply failed (then a 503 is set). */
void http_reply_stream(struct req *r, unsigned status, const char *content_type,
                       MHD_ContentReaderCallback read, void *cls,
                       MHD_ContentReaderFreeCallback done);

/* Suspends the request until http_async_done() is called for it; finish
 * then builds the reply on an MHD thread. Call before submitting the work
 * so that completion can never precede suspension. */
void http_go_async(struct req *r, req_finish_fn finish);

/* store_done_fn for async requests: wakes the request. Any thread. */
void http_async_done(void *r);

/* The value of a query argument, or NULL. */
const char *http_query(struct req *r, const char *name);

/* The value of a request header, or NULL. */
const char *http_header(struct req *r, const char *name);

/* Starts the daemon on host:port with n threads. Returns NULL on failure. */
struct MHD_Daemon *http_start(struct app *app, const char *host, uint16_t port, unsigned threads);

/* Stops accepting, waits (up to grace_ms) for requests in flight, stops. */
void http_stop(struct app *app, struct MHD_Daemon *d, unsigned grace_ms);

#endif
