/* The active reward layer of a running daemon, swapped without a restart:
 * a watcher thread polls the store and loads a newly active layer; requests
 * hold a reference while they score, so a swap never frees a layer in use.
 * The holder also runs the worker that scores for layers that may block
 * (layer_may_block), so that no HTTP thread ever waits on a layer. */
#ifndef RUNG_LAYER_HOLDER_H
#define RUNG_LAYER_HOLDER_H

#include <stdint.h>

#include "layer.h"
#include "store.h"

struct layer_ref {
    struct layer *model; /* owned by the reference count */
    int64_t id;          /* layer_id(model) */
    int refs;            /* guarded by the holder's mutex */
    /* The layer was demoted by its audits: it still scores (assistance)
     * but settles nothing (route_human_only). Read every poll. */
    _Atomic bool human_only;
};

struct layer_holder;

/* Loads the active layer (if any), starts polling every poll_ms (0:
 * LAYER_POLL_MS) and starts the scoring worker. Returns NULL on allocation
 * or thread failure. */
struct layer_holder *layer_holder_new(struct store *s, unsigned poll_ms);

/* Stops the watcher, runs the worker's queued jobs, stops it and frees
 * everything. Call once no request can submit more. NULL is a no-op. */
void layer_holder_free(struct layer_holder *h);

/* Sets how often the active layer's drift from its parent is measured
 * (seconds; 0: DRIFT_SECONDS_DEFAULT). It is also measured whenever
 * another layer becomes active. */
void layer_holder_set_drift(struct layer_holder *h, unsigned seconds);

/* Checks the store now; returns the active id (0 none) or negative errno. */
int64_t layer_holder_refresh(struct layer_holder *h);

/* Wakes the watcher now (it also looks every poll): items whose sample
 * group grew wait to be scored again (route_group_rescore). Any thread. */
void layer_holder_kick(struct layer_holder *h);

/* Returns a reference to the active layer, or NULL when none is active.
 * Release it with layer_release(). */
struct layer_ref *layer_acquire(struct layer_holder *h);
void layer_release(struct layer_holder *h, struct layer_ref *ref);

/* Runs job on the scoring worker (see layer_worker_submit). Returns 0 or
 * -ESHUTDOWN. */
int layer_holder_submit(struct layer_holder *h, struct layer_job *job);

#endif
