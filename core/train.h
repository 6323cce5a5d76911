/* train.h - training a layer from the store: read every comparison, train
 * the built-in hashed-bt ensemble (with its calibration report), store it
 * as a candidate, and decide whether it becomes active. The command line
 * only parses options and prints; a future admin endpoint calls the same. */
#ifndef RUNG_TRAIN_H
#define RUNG_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "reward.h"
#include "store.h"

/* A growable list of labelled pairs whose strings it owns (copies). */
struct train_pairs {
    struct reward_pair_ex *v;
    size_t n, cap;
};

/* Appends a copy of the pair (NULL texts become ""). Returns 0 or -ENOMEM
 * (the list is unchanged then). */
int train_pairs_add(struct train_pairs *t, const char *prompt, const char *a, const char *b,
                    double y, double weight);

/* Frees the copies and the array and empties t. */
void train_pairs_clear(struct train_pairs *t);

/* Marks which of pairs[0..n) also appear among the comparisons stored in s
 * (the same prompt after normalisation and the same two responses, in
 * either order: reward_pair_key): seen[i] becomes true or false (seen has
 * pairs->n entries), *nseen counts the true ones. Every stored comparison
 * counts, also those added after a layer was trained. Returns 0, the
 * store's negative errno, or -ENOMEM. */
int train_pairs_seen(struct store *s, const struct train_pairs *pairs, bool *seen, size_t *nseen);

/* True when comparison x rests on people's judgements alone: a human
 * label (source human), people's verdict on a hidden audit (audit), an
 * import, or a roll-up (aggregate) whose deciding
 * answers (its provenance's decided_by) are all human. A roll-up that a
 * layer's or checker's answer helped decide, or any other source, is not:
 * training leaves those out unless asked, so that a layer's errors do not
 * feed the next layer. */
bool train_human_derived(const struct store_comparison *x);

#define TRAIN_ROWS_DEFAULT 200000 /* newest comparisons a training reads at most */
#define TRAIN_ROWS_MAX 2000000    /* largest max_rows */

/* Where train_layer stopped when it failed. */
enum train_stage {
    TRAIN_READ,  /* reading the comparisons */
    TRAIN_EMPTY, /* there are none (rc -ENODATA) */
    TRAIN_FIT,   /* training or serialising the layer */
    TRAIN_STORE, /* storing it */
    TRAIN_CHECK, /* the consistency check of --activate (or of the first layer) */
};

struct train_run {
    struct reward_params params; /* reward_params_default, then options */
    bool activate;               /* check it and make it active when it passes, even when
                                    another layer is active (a new layer only) */
    bool include_layer;          /* also train on comparisons that rest on a layer's verdicts */
    size_t max_rows;             /* the newest rows read at most; 0: TRAIN_ROWS_DEFAULT */
    int64_t layer_id;            /* a layer queued by store_layer_train_queue to train
                                    into; 0: store a new one */
    const char *actor;           /* who asked, for the events; may be NULL */
    /* Told the training set's size before training starts; may be NULL. */
    void (*progress)(void *cls, size_t npairs, size_t npoints);
    void *cls;

    enum train_stage stage; /* out: where a failure happened */
    json_t *report;         /* out: new object, the caller decrefs: reward_train's report
                               plus "layer_id", "status", "sources" and "lineage" (and
                               "consistency" when a new layer was checked) */
};

/* Trains a layer from the newest max_rows comparisons that people
 * decided (all of them with include_layer; pairs, and pointwise verdicts
 * for the pointwise head), read newest first and trained on in id order.
 * Its lineage says exactly which: "comparisons" {"count", "first_id",
 * "last_id", "by_source", "digest" (BLAKE2b-256 of their ids as 8-byte
 * little-endian integers, in id order, as hex), "excluded" (rows in that
 * range left out as resting on a layer), "include_layer_verdicts",
 * "max_rows", "truncated" (older rows were not read)}.
 * With run->layer_id the queued layer becomes a candidate with it (or,
 * when training fails, rejected with the error as its report). Without,
 * a new candidate is stored; when run->activate is set or no layer is
 * active it goes through the promotion check (promote.h) and becomes
 * active only if it passes, else rejected. Returns 0 with run->report
 * set; -ENODATA when there is nothing to train on; -ECANCELED when
 * run->params.cancel was raised during training (nothing stored: a queued
 * layer stays queued); -EIO, -ENOMEM, or -EINVAL (training refused the
 * parameters), with run->stage saying where. */
int train_layer(struct store *s, struct train_run *run);

#endif
