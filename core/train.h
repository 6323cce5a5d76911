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

/* Where train_layer stopped when it failed. */
enum train_stage {
    TRAIN_READ,  /* reading the comparisons */
    TRAIN_EMPTY, /* there are none (rc -ENODATA) */
    TRAIN_FIT,   /* training or serialising the layer */
    TRAIN_STORE, /* storing it */
};

struct train_run {
    struct reward_params params; /* reward_params_default, then options */
    bool activate;               /* activate even when another layer is active */
    /* Told the training set's size before training starts; may be NULL. */
    void (*progress)(void *cls, size_t npairs, size_t npoints);
    void *cls;

    enum train_stage stage; /* out: where a failure happened */
    json_t *report;         /* out: new object, the caller decrefs: reward_train's report
                               plus "layer_id", "status" and "sources" */
};

/* Trains a layer from every comparison in s (pairs; pointwise verdicts
 * train the pointwise head), stores it, and makes it active when
 * run->activate is set or no layer is active. Returns 0 with run->report
 * set; -ENODATA when the store holds no comparisons; -EIO, -ENOMEM, or
 * -EINVAL (training refused the parameters), with run->stage saying where. */
int train_layer(struct store *s, struct train_run *run);

#endif
