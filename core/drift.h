/* drift.h - how much the active layer drifted from the one before it:
 * both score the same pairs, a fixed probe set (the first pairs stored)
 * and the latest pairs, and audit.h's rule counts how often they prefer
 * the same side. Scoring may call an external model: run it off the HTTP
 * threads (the daemon does it on its layer watcher). */
#ifndef RUNG_DRIFT_H
#define RUNG_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layer.h"

struct store;

/* How a drift pass may be cut short. */
struct drift_run {
    /* Asked between pairs: true gives the pass up (nothing is kept), e.g.
     * on shutdown or when another layer became active. NULL: never. */
    bool (*stop)(void *cls);
    void *cls;
    int64_t budget_ms; /* the pass's wall time at most (0: none); the probe
                        * set gets half of it, the recent pairs the rest */
    bool stopped;      /* out: stop gave the pass up */
    bool complete;     /* out: every pair was scored within the budget */
};

/* Scores up to max probe pairs and max recent pairs with cur and with its
 * parent (the layer active when cur was stored), and keeps the outcome on
 * cur (store_drift_save): {"parent", "probe": {"items", "agreement",
 * "mean_abs_diff"}, "recent": {...}, "complete"}; "complete" is false
 * when the budget ran out first (the items say how many were compared).
 * Pairs either layer cannot score are left out. Returns 0 (also when cur
 * has no parent: nothing is measured), -ECANCELED (run->stop gave it up:
 * nothing kept), -ENOENT (cur is not stored), -EINVAL (the parent does
 * not load), -ENOMEM, -EIO. */
int drift_measure(struct store *s, const struct layer *cur, size_t max, struct drift_run *run);

#endif
