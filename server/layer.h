/* The active reward layer of a running daemon, swapped without a restart:
 * a watcher thread polls the store and loads a newly active layer; requests
 * hold a reference while they score, so a swap never frees a layer in use. */
#ifndef RUNG_LAYER_H
#define RUNG_LAYER_H

#include <stdint.h>

#include "reward.h"
#include "store.h"

struct layer_ref {
    struct reward_layer *model;
    int64_t id;
    int refs; /* guarded by the holder's mutex */
};

struct layer_holder;

/* Loads the active layer (if any) and starts polling every poll_ms.
 * Returns NULL on allocation or thread failure. */
struct layer_holder *layer_holder_new(struct store *s, unsigned poll_ms);

/* Stops the watcher and frees everything. NULL is a no-op. */
void layer_holder_free(struct layer_holder *h);

/* Checks the store now; returns the active id (0 none) or negative errno. */
int64_t layer_holder_refresh(struct layer_holder *h);

/* Returns a reference to the active layer, or NULL when none is active.
 * Release it with layer_release(). */
struct layer_ref *layer_acquire(struct layer_holder *h);
void layer_release(struct layer_holder *h, struct layer_ref *ref);

#endif
