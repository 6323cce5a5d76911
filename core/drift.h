/* drift.h - how much the active layer drifted from the one before it:
 * both score the same pairs, a fixed probe set (the first pairs stored)
 * and the latest pairs, and audit.h's rule counts how often they prefer
 * the same side. Scoring may call an external model: run it off the HTTP
 * threads (the daemon does it on its layer watcher). */
#ifndef RUNG_DRIFT_H
#define RUNG_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"

struct store;

/* Scores up to max probe pairs and max recent pairs with cur and with its
 * parent (the layer active when cur was stored), and keeps the outcome on
 * cur (store_drift_save): {"parent", "probe": {"items", "agreement",
 * "mean_abs_diff"}, "recent": {...}}. Pairs either layer cannot score are
 * left out. Returns 0 (also when cur has no parent: nothing is measured),
 * -ENOENT (cur is not stored), -EINVAL (the parent does not load),
 * -ENOMEM, -EIO. */
int drift_measure(struct store *s, const struct layer *cur, size_t max);

#endif
