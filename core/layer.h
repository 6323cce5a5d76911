/* layer.h - reward layers of every kind behind one table of operations.
 *
 * A layer scores a pair (which response is better), a single text (good or
 * bad), and a step in its context (prompt, the steps before it, the step).
 * The built-in kind is "hashed-bt" (layer_bt.c, on reward.h); an external
 * model server or any future kind adds one file with a struct layer_ops and
 * one line in layer.c's kind table; routing and the server never change.
 *
 * A loaded layer is immutable: any number of threads may score with it at
 * once. A kind whose scoring may block (a network call) sets may_block; the
 * server then scores off its HTTP threads (layer_worker below), never
 * inline. */
#ifndef RUNG_LAYER_H
#define RUNG_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "reward.h"

#define LAYER_KIND_HASHED_BT "hashed-bt"

struct store;

/* What a pair scores: mean reward and spread per side, P(a better) and its
 * spread across the layer's members, and confidence in [0.5, 1]. */
struct layer_pair {
    double ra, ra_sd, rb, rb_sd;
    double p_a, p_sd;
    double confidence;
};

/* What a single text (or a step) scores: its reward and spread; with a
 * pointwise head (has_point), P(good) and confidence in [0.5, 1]. */
struct layer_single {
    double r, r_sd;
    bool has_point;
    double p_good, confidence;
};

/* A layer's description: its kind (static text) and the deferral
 * thresholds, INFINITY when none was reached. */
struct layer_info {
    const char *kind;
    bool uses_groups;       /* pair scores depend on the pair's sample group */
    double group_threshold; /* with uses_groups: tau for a pair scored with a group
                               holding samples besides its own two */
    double threshold;       /* tau for pairs */
    double point_threshold; /* tau for single texts and steps */
    unsigned members;       /* ensemble size, 1 for a kind without one */
};

/* One kind. impl is the kind's own state, made by load. Each score
 * function returns 0, -EINVAL on NULL texts, -ENOMEM, or (for kinds that
 * call out) another negative errno. */
struct layer_ops {
    const char *kind; /* as stored in the layers table */
    bool may_block;   /* scoring may wait on I/O: never call it on an HTTP thread */
    /* A new impl from a stored parameter blob (copied, not kept); NULL on
     * a bad blob or out of memory. */
    void *(*load)(const void *blob, size_t len);
    int (*score_pair)(const void *impl, const char *prompt, const char *a, const char *b,
                      struct layer_pair *out);
    /* The pair with its sample group: samples[0..n) distinct, in order
     * (see group.h). NULL for a kind that does not use groups. */
    int (*score_pair_group)(const void *impl, const char *prompt, const char *a, const char *b,
                            const char *const *samples, size_t n, struct layer_pair *out);
    int (*score_single)(const void *impl, const char *prompt, const char *text,
                        struct layer_single *out);
    /* prior holds nprior earlier steps of the same response, in order. */
    int (*score_step)(const void *impl, const char *prompt, const char *const *prior, size_t nprior,
                      const char *step, struct layer_single *out);
    void (*describe)(const void *impl, struct layer_info *out);
    /* Evaluates on labelled pairs as reward_evaluate does; NULL when the
     * kind cannot (then layer_evaluate fails with -EOPNOTSUPP). */
    json_t *(*evaluate)(const void *impl, const struct reward_pair_ex *pairs, size_t n);
    void (*free)(void *impl);
};

struct layer; /* opaque: ops, impl and the stored id */

/* Wraps impl (ownership taken: freed with ops->free by layer_free, also
 * when this fails) as layer id. Returns NULL when out of memory. */
struct layer *layer_new(const struct layer_ops *ops, void *impl, int64_t id);

/* Loads a layer of a known kind from its parameter blob (copied, not
 * kept). Returns NULL for an unknown kind, a bad blob or out of memory. */
struct layer *layer_load(const char *kind, int64_t id, const void *blob, size_t len);

/* Loads stored layer id, or the active one when id is 0. Returns 0 with
 * *out set (NULL when id is 0 and no layer is active), -ENOENT when there
 * is no layer id, -EINVAL when its parameters do not load, -EIO, -ENOMEM.
 * The caller frees *out with layer_free. */
int layer_open(struct store *s, int64_t id, struct layer **out);

/* Frees l; NULL is a no-op. */
void layer_free(struct layer *l);

/* The stored id given at load. */
int64_t layer_id(const struct layer *l);

/* True when scoring with l may block (see struct layer_ops). */
bool layer_may_block(const struct layer *l);

/* l's kind-specific state when l is of kind ops (e.g. &layer_http_ops, to
 * read its health), else NULL. Borrowed: valid while l is. */
const void *layer_impl_of(const struct layer *l, const struct layer_ops *ops);

/* Scoring: as the ops above. Each returns 0 or a negative errno. */
int layer_score_pair(const struct layer *l, const char *prompt, const char *a, const char *b,
                     struct layer_pair *out);
int layer_score_single(const struct layer *l, const char *prompt, const char *text,
                       struct layer_single *out);
/* layer_score_pair with the pair's sample group (as score_pair_group); a
 * kind without groups, or n == 0, scores the pair alone. */
int layer_score_pair_group(const struct layer *l, const char *prompt, const char *a, const char *b,
                           const char *const *samples, size_t n, struct layer_pair *out);
int layer_score_step(const struct layer *l, const char *prompt, const char *const *prior,
                     size_t nprior, const char *step, struct layer_single *out);

/* A deadline for the calling thread's scoring, in util_mono_us() time (0
 * clears it): a kind that calls out (http) sends no request past it and
 * cuts its timeouts and retries to fit, failing with -ETIMEDOUT. The
 * server sets it around ingest's scoring (--layer-timeout), so that an
 * item waits at most that long before it goes to people. */
void layer_deadline_set(uint64_t mono_us);

/* Milliseconds left before the calling thread's deadline: -1 when none is
 * set, 0 once it has passed. */
long long layer_deadline_left_ms(void);

/* Fills *out with l's kind and thresholds. */
void layer_describe(const struct layer *l, struct layer_info *out);

/* New JSON object as reward_evaluate's, plus "layer_id". Returns 0 with
 * *out set, -EOPNOTSUPP when the kind cannot evaluate, -ENOMEM. */
int layer_evaluate(const struct layer *l, const struct reward_pair_ex *pairs, size_t n,
                   json_t **out);

/* The built-in kind (layer_bt.c). */
extern const struct layer_ops layer_bt_ops;

/* ---- scoring off the caller's thread ---- */

/* A job for a layer_worker: run(cls) on the worker thread, then done(cls).
 * The caller owns the job (typically inside its per-request state) and
 * keeps it alive until done runs. */
struct layer_job {
    void (*run)(void *cls);
    void (*done)(void *cls); /* must not block: typically resumes a request */
    void *cls;
    struct layer_job *next; /* the worker's queue */
};

struct layer_worker; /* one thread running jobs in submission order */

/* Starts a worker thread. Returns NULL on allocation or thread failure. */
struct layer_worker *layer_worker_new(void);

/* Queues job. Returns 0, or -ESHUTDOWN when the worker is stopping (job
 * not run, done not called). */
int layer_worker_submit(struct layer_worker *w, struct layer_job *job);

/* Runs every queued job, stops the thread and frees w. NULL is a no-op. */
void layer_worker_free(struct layer_worker *w);

#endif
