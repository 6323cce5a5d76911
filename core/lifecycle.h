/* lifecycle.h - layers trained and checked inside the daemon.
 *
 * POST /v1/layers queues a layer (store_layer_train_queue: a row with
 * status training and its request); one trainer thread, niced, trains the
 * queued layers one at a time, oldest first, on one core, with at most
 * max_rows comparisons in memory, and makes each a candidate (or rejected
 * when training fails), then, when its request asks for it, runs the
 * promotion check (promote.h). The queue is the database itself: a daemon
 * restarted after a crash resumes the layers still training. Promotion
 * checks asked over REST run on a worker of their own, so that a long
 * check never holds up ingest's scoring. */
#ifndef RUNG_LIFECYCLE_H
#define RUNG_LIFECYCLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "layer.h"
#include "store.h"
#include "train.h"

#define LIFECYCLE_NICE 19 /* the trainer thread's nice value: below every HTTP thread */

/* A training request (the body of POST /v1/layers), read. */
struct lifecycle_request {
    struct train_run run; /* params, include_layer, max_rows set from the body */
    bool auto_promote;    /* check and promote it once trained */
};

/* Reads a training request: {"kind": "hashed-bt"?, "seed", "members",
 * "bits", "target", "include_layer_verdicts", "max_rows", "auto_promote"},
 * every field optional (auto_promote defaults to auto_default). Returns 0,
 * or -EINVAL with *field naming the first bad or unknown field (static
 * text or the body's own key, valid while body is). */
int lifecycle_request_read(const json_t *body, bool auto_default, struct lifecycle_request *out,
                           const char **field);

/* The request as stored: the fields read, every default filled in, and
 * "requested_by" (may be NULL). A new object, NULL when memory is short. */
json_t *lifecycle_request_json(const struct lifecycle_request *req, const char *requested_by);

struct lifecycle;

/* Starts the trainer (it looks for queued layers at once) and the check
 * worker. activated(cls), when not NULL, is called on the trainer's
 * thread after an automatic promotion made a layer active (the daemon
 * then serves it at once). NULL on allocation or thread failure. */
struct lifecycle *lifecycle_new(struct store *s, void (*activated)(void *cls), void *cls);

/* Tells the trainer a layer was queued. */
void lifecycle_wake(struct lifecycle *lc);

/* How layer id's training stands while the trainer is on it: {"stage":
 * "reading" | "training" | "checking", "pairs", "points", "started_ms",
 * "elapsed_ms"} (the counts once read). A new object; NULL when the
 * trainer is not on it (or memory is short). */
json_t *lifecycle_progress(struct lifecycle *lc, int64_t id);

/* Raises the stop flag now (lifecycle_free raises it too): a training
 * or check under way gives up at its next look. The daemon calls it as
 * soon as it is told to stop, before it waits for the requests in flight:
 * a promotion asked over REST waits, suspended, for its check. Any
 * thread. */
void lifecycle_cancel(struct lifecycle *lc);

/* Raised when the daemon stops: promotion checks run on the worker give
 * up (promote_run's cancel). */
const atomic_bool *lifecycle_cancel_flag(struct lifecycle *lc);

/* Runs job on the check worker (promotion checks). 0 or -ESHUTDOWN. */
int lifecycle_submit_check(struct lifecycle *lc, struct layer_job *job);

/* Stops the trainer and the worker, and frees lc. A training under way
 * gives up between SGD steps: its layer stays queued (status training,
 * event layer_training_interrupted) and trains from the start at the next
 * start; a check under way gives up between pairs, recording nothing (an
 * automatic one writes the event layer_check_interrupted: the layer stays
 * a candidate). NULL is a no-op. */
void lifecycle_free(struct lifecycle *lc);

#endif
