/* The daemon's shared state, passed to every handler through struct req. */
#ifndef RUNG_APP_H
#define RUNG_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "layer_holder.h"
#include "lifecycle.h"
#include "limits.h"
#include "metrics.h"
#include "netguard.h"
#include "store.h"

#define APP_STATIC_DIR_MAX 4096 /* bytes of the static directory's path, incl. NUL */

struct app {
    struct store *store;
    struct layer_holder *layers; /* the active reward layer, hot-swapped */
    struct lifecycle *lifecycle; /* trains queued layers, runs promotion checks */
    bool auto_promote;           /* --auto-promote: a trained layer is checked and promoted */
    unsigned layer_timeout_ms;   /* --layer-timeout: ingest waits this long for a layer */
    size_t max_body;             /* bytes */
    size_t max_items;            /* items per ingest request */
    const char *static_dir;      /* where the web page's files are */
    const char *tls_cert;        /* PEM certificate chain for HTTPS; NULL: plain HTTP */
    const char *tls_key;         /* PEM private key, with tls_cert */
    /* issue 15: slow clients and memory per request (rungd serve options) */
    struct net_limits net; /* connections, deadlines, rates */
    struct guard *guard;   /* enforces net's deadlines and rates */
    size_t max_text;       /* an item's prompt or response, bytes */
    size_t max_metadata;   /* an item's metadata (compact JSON), bytes */
    size_t page_bytes;     /* a listing page's item text, bytes */

    atomic_int inflight; /* requests between headers and completion */
    atomic_int owed;     /* of those, ones that went async (suspended on the store or a
                            long-poll) and are not complete: their reply is owed */
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t by_class[6]; /* responses by status class 1xx..5xx */
    atomic_uint_fast64_t items_ingested;
    struct metrics metrics; /* request latency by route */

    pthread_mutex_t wait_mu; /* guards waiters */
    struct req *waiters;     /* long-polling /v1/tasks/next */
    bool quiet;              /* no request log lines (benchmarks) */
    bool hook_allow_private; /* --webhook-allow-private: hooks may reach private addresses */
    atomic_bool stopping;    /* shutting down: long-polls end at once */
};

/* Finds the web page's files when --static is not given: next to an
 * installed binary (RUNG_STATIC_REL, e.g. ../share/rung/static, relative to
 * the directory of /proc/self/exe) when that holds index.html, else the
 * source tree's static/ the binary was built from. Writes the path into
 * buf (cap bytes) and returns buf; never fails (the source tree's path is
 * the fallback). */
const char *static_find_dir(char *buf, size_t cap);

#endif
