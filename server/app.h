/* The daemon's shared state, passed to every handler through struct req. */
#ifndef RUNG_APP_H
#define RUNG_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "layer.h"
#include "store.h"

#define BODY_MAX_DEFAULT (16u * 1024u * 1024u) /* bytes */
#define BATCH_MAX_DEFAULT 10000u               /* items per request */

struct app {
    struct store *store;
    struct layer_holder *layers; /* the active reward layer, hot-swapped */
    size_t max_body;             /* bytes */
    size_t max_items;            /* items per ingest request */
    const char *static_dir;      /* where the web page's files are */

    atomic_int inflight;  /* requests between headers and completion */
    atomic_int suspended; /* of those, waiting suspended on the store or a long-poll */
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t by_class[6]; /* responses by status class 1xx..5xx */
    atomic_uint_fast64_t items_ingested;
    atomic_uint_fast64_t us_total; /* summed request microseconds */

    pthread_mutex_t wait_mu; /* guards waiters */
    struct req *waiters;     /* long-polling /v1/tasks/next */
    bool quiet;              /* no request log lines (benchmarks) */
    atomic_bool stopping;    /* shutting down: long-polls end at once */
};

#endif
