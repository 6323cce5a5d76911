/* reward.h - the built-in reward layer "hashed-bt": an ensemble of hashed
 * Bradley-Terry models with a calibrated deferral threshold.
 *
 * r(x) = w . phi(x) (feat.h); P(a > b) = sigmoid(r(a) - r(b)). phi may end
 * in a block of named dense checker features (check.h: final answer, its
 * agreement with the other samples of the prompt's group, arithmetic,
 * numbers, form); see struct reward_params.checks. Each member
 * is L2-regularised logistic regression on phi(a) - phi(b), trained by SGD on
 * its own bootstrap resample; the members' spread lowers the confidence. An
 * optional pointwise head answers yes/no on a single text. A trained layer is
 * immutable: any number of threads may score with it at once.
 */
#ifndef RUNG_REWARD_H
#define RUNG_REWARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "feat.h"

/* 2^18 buckets: 1 MiB of float32 per member, and for scoring (up to 8
 * members) a bucket-major copy of 8 floats a bucket, 8 MiB a head */
#define REWARD_BITS_DEFAULT 18u
#define REWARD_MEMBERS_MAX 64u  /* largest accepted ensemble */
#define REWARD_BLOB_VERSION 7u  /* bumped whenever the blob layout changes; 1 to 6 still load */
#define REWARD_NGRAM_SCALE 2.0f /* default training scale of the hashed features with checkers */

struct reward_params {
    unsigned members;   /* ensemble size, default 5 */
    unsigned bits;      /* log2 of hash buckets, default REWARD_BITS_DEFAULT */
    uint64_t seed;      /* default 1; same seed and data give the same layer */
    double l2;          /* per-example L2 strength lambda; <= 0 means 1/n_train (liblinear C=1) */
    double target;      /* accuracy target for the deferral threshold, default 0.95 */
    double calib_share; /* held-out share for calibration, default 0.2, in [0, 0.9] */
    unsigned epochs;    /* SGD passes; 0 (default) picks 3..30 from the data size */
    unsigned threads;   /* training threads; 0 (default) = online CPUs, at most members */
    unsigned checks;    /* 1 (default): phi ends in the checker block; 0: buckets only (the
                           layers of blob version 1) */

    /* token hash of phi: FEAT_HASH_FX (default) or FEAT_HASH_FNV1A (the
     * layers of blob versions 1 and 2) */
    enum feat_hash hash;

    /* May be NULL (the default). Once *cancel is true, training gives up
     * between SGD steps (reward_train and reward_train_rows return NULL):
     * a daemon that is stopping does not wait for it. */
    const atomic_bool *cancel;
    /* reward_train multiplies the hashed features of the pairs by this
     * while training (their L2 penalty is divided by its square, the
     * checker block's is not) and the layer's bucket weights by it after,
     * so the layer scores unscaled features; in (0, 64], or 0 (default):
     * REWARD_NGRAM_SCALE with checker features, 1 without. Not applied to
     * reward_train_rows' rows nor to the pointwise head. */
    double ngram_scale;
};

/* Fills *p with the defaults above. */
void reward_params_default(struct reward_params *p);

/* y = 1 a preferred, 0 b preferred, 0.5 tie; weight >= 0 (1 by default).
 * group: examples of one group fall on the same side of the calibration
 * split (and count as one piece of evidence for the threshold); 0 means
 * reward_group_of(prompt), so every copy or sample of a prompt is one
 * group. Give independent samples of one prompt (synthetic data) their own
 * nonzero groups. */
struct reward_pair_ex {
    const char *prompt;
    const char *a;
    const char *b;
    double y;
    double weight;
    uint64_t group;
};
/* y = 1 good/yes, 0 bad/no; group as for pairs. */
struct reward_point_ex {
    const char *prompt;
    const char *text;
    double y;
    double weight;
    uint64_t group;
};

/* The group key of a prompt: a 64-bit hash of its normalised text (ASCII
 * letters lowercased, runs of whitespace one space, none at either end),
 * never 0. NULL hashes as "". */
uint64_t reward_group_of(const char *prompt);

/* The content key of a comparison: a 64-bit hash of the normalised prompt
 * and the exact bytes of both responses, the same whichever side each is
 * on; never 0. NULL texts hash as "". */
uint64_t reward_pair_key(const char *prompt, const char *a, const char *b);

struct reward_layer; /* opaque, immutable after training, safe to score from many threads at once */

/* Trains an ensemble. Exact duplicates (same prompt, responses and label;
 * for points prompt, text and label) count once: the later copies are
 * skipped before anything else. Calibration is cross-fitted while a head
 * has at most 200000 rows: the groups are split (by hashing group and
 * seed, so every example of a group falls in one fold) into round(1 /
 * calib_share) folds (2..10), each fold is scored by members trained on
 * the others, and the layer's members then train on every row
 * (pairs_calibration == pairs_train, calibration.cross_fitted_folds > 0):
 * a small set would otherwise leave too few prompt groups held out to
 * vouch for any threshold. Past 200000 rows, calib_share of the groups is
 * held out and the members train on the rest (cross_fitted_folds 0). Each
 * member trains on its own bootstrap resample (a single member uses its
 * rows as is). Points, when given, train a pointwise head the same way,
 * with its own calibration and threshold.
 * The threshold tau is the lowest confidence t such that the one-sided 95%
 * Wilson lower bound of the accuracy on calibration items with confidence >= t
 * reaches target, counting Kish's effective trials: items / (1 + (items per
 * distinct group - 1) * icc), icc being the intraclass correlation of
 * correctness within groups over the whole calibration set
 * (reward_group_icc, "group_correlation" in the calibration object). Samples
 * of one prompt are not independent evidence as far as their correctness
 * goes together: with icc 1 (copies) each group is one trial, with icc 0
 * each item is; INFINITY (JSON null) when no t does:
 * everything goes to humans. Ties (y == 0.5) are skipped in accuracy, ECE and the threshold and
 * count as a soft label 0.5 in the training and log loss.
 * report (may be NULL) receives a new JSON object the caller decrefs:
 *   {"pairs_train","pairs_calibration","duplicates_skipped","points","members","bits","seed","l2",
 *    "epochs","calibration":{"items","accuracy","log_loss","ece","curve":[{"confidence",
 *    "coverage","accuracy"},...],"group_correlation","cross_fitted_folds"},"threshold",
 *    "threshold_note","target",
 *    "pointwise":{"points_train","points_calibration","duplicates_skipped","calibration":{...},
 *    "threshold","threshold_note"} or null,
 *    "checks":{"features","samples_max","weights":{"agree_share":w,...},"groups"} or null,
 *    "grouped":{"calibration","threshold","threshold_note"} or null}
 * where each checker feature's weight is the mean over members.
 * Checker features need each response's group: the distinct responses the
 * pairs hold for the same prompt (reward_group_of), the first 64 of them
 * (CHECK_GROUP_DEFAULT), in order of appearance; the calibration and
 * reward_evaluate group the same way within the pairs they are given. The
 * layer trains on the pairs with those groups; its calibration scores the
 * held-out pairs twice: with their groups ("grouped": its threshold is
 * reward_group_threshold) and each pair as its own group {a, b}, as
 * reward_score_pair scores them (the top-level "calibration" and
 * "threshold", reward_threshold): a pair item scored without its sample
 * group is auto-labelled only at a threshold calibrated that way. The
 * pointwise head does not use the checkers (its checker weights stay 0).
 * Returns NULL on bad parameters, NULL texts, npairs == 0 and npoints == 0,
 * or out of memory. The caller frees the layer with reward_free. */
/* The intraclass correlation of correctness (right[i] != 0) within groups
 * (group[i]) over n items: the one-way ANOVA estimator for unequal group
 * sizes, clamped to [0, 1]. It is 1 (each group counts as one trial) when
 * it cannot be estimated: fewer than two groups, no group of two items, or
 * every item right or every item wrong. Sets *icc; returns 0 or -ENOMEM. */
int reward_group_icc(const uint64_t *group, const unsigned char *right, size_t n, double *icc);

struct reward_layer *reward_train(const struct reward_params *p, const struct reward_pair_ex *pairs,
                                  size_t npairs, const struct reward_point_ex *points,
                                  size_t npoints, json_t **report);

/* p_a = members' mean P(a > b); p_sd their standard deviation; confidence =
 * max(p_a, 1 - p_a) - p_sd clamped to [0.5, 1]. ra/rb: mean reward, *_sd spread. */
struct reward_pair {
    double ra, ra_sd, rb, rb_sd;
    double p_a, p_sd;
    double confidence;
};
/* r: mean reward of the text; p_good: the pointwise head's mean P(yes) and its
 * confidence (0.5 and 0.5 when has_point is 0). */
struct reward_single {
    double r, r_sd;
    int has_point;
    double p_good, confidence;
};

/* Scores a against b for prompt (NUL-terminated UTF-8 or not; invalid bytes
 * are tolerated). With checker features the pair is its own group, {a, b}:
 * no store of other samples is consulted (a layer trained on larger groups
 * then sees less agreement than in training; its other features still
 * count). Returns 0, -EINVAL on NULL arguments, or -ENOMEM. */
int reward_score_pair(const struct reward_layer *l, const char *prompt, const char *a,
                      const char *b, struct reward_pair *out);

/* As reward_score_pair, with the pair's sample group: samples[0..n) are
 * the group's distinct responses in order (a and b among them, or not;
 * the first 64 are used), each side's others are those less itself, as
 * in training. n == 0 scores the pair as its own group. A layer without
 * checker features scores as reward_score_pair. Same results. */
int reward_score_pair_group(const struct reward_layer *l, const char *prompt, const char *a,
                            const char *b, const char *const *samples, size_t n,
                            struct reward_pair *out);

/* Scores one text (with checker features, a group of one). Returns 0,
 * -EINVAL on NULL arguments, or -ENOMEM. */
int reward_score_single(const struct reward_layer *l, const char *prompt, const char *text,
                        struct reward_single *out);

/* tau for pairs as reward_score_pair scores them (with checker features:
 * each pair its own group), INFINITY when none. */
double reward_threshold(const struct reward_layer *l);
/* tau for pairs scored with their sample groups (reward_evaluate's
 * "grouped"); equal to reward_threshold for a layer without checker
 * features. INFINITY when none. */
double reward_group_threshold(const struct reward_layer *l);
/* tau for the pointwise head, INFINITY when none or no head. */
double reward_point_threshold(const struct reward_layer *l);
unsigned reward_bits(const struct reward_layer *l);
unsigned reward_members(const struct reward_layer *l);
/* Checker features in phi: 0 (none) or CHECK_NFEAT of check.h. */
unsigned reward_checks(const struct reward_layer *l);
/* The token hash phi is built with: the one the layer was trained with. */
enum feat_hash reward_hash(const struct reward_layer *l);

/* Serialises l into a malloc'd *blob of *len bytes (the caller frees):
 * magic, version, sizes, thresholds, a checksum, which checker features it
 * uses (their count and a definition id), its token hash and float32
 * little-endian weights. Returns 0, -EINVAL or -ENOMEM. */
int reward_save(const struct reward_layer *l, void **blob, size_t *len);

/* Loads a layer from a blob written by reward_save (the blob is copied, not
 * kept); a version-1 blob (no checker features) and a version-2 one load
 * and score as they did, with FEAT_HASH_FNV1A (versions 1 and 2 predate the
 * hash field). Returns NULL on a bad magic, version, size, checksum or
 * threshold, a checker definition or token hash this build does not know,
 * or out of memory. */
struct reward_layer *reward_load(const void *blob, size_t len);

/* Frees l; NULL is a no-op. */
void reward_free(struct reward_layer *l);

/* Evaluates l on n pairs: new JSON object {"pairs","accuracy","log_loss","ece",
 * "threshold"(null if none),"coverage","accuracy_on_covered"(null if none
 * covered),"grouped"} (ties skipped in accuracy/coverage). The top-level
 * figures score each pair as reward_score_pair does; "grouped" has the same
 * figures with the pairs' sample groups (the distinct responses the pairs
 * hold for each prompt) at reward_group_threshold, JSON null for a layer
 * without checker features. NULL on error. */
json_t *reward_evaluate(const struct reward_layer *l, const struct reward_pair_ex *pairs, size_t n);

/* ---- Pre-featurised rows: a compact store of sparse examples (uint32 index,
 * bfloat16 value, 6 bytes per nonzero), used by training and the benchmark. */
struct reward_rows;

/* New empty store for indices < 2^bits; NULL on bad bits or out of memory. */
struct reward_rows *reward_rows_new(unsigned bits);

/* Appends one example: n (idx, val) nonzeros (any order, indices < 2^bits),
 * label y in [0, 1], weight >= 0. The row is its own group and is never
 * taken for a duplicate. Returns 0, -EINVAL or -ENOMEM. */
int reward_rows_add(struct reward_rows *r, const uint32_t *idx, const float *val, size_t n,
                    double y, double weight);

/* Like reward_rows_add with the row's group (see struct reward_pair_ex; 0
 * makes the row its own group) and content key: training skips a row
 * whose nonzero key an earlier row has. */
int reward_rows_add_ex(struct reward_rows *r, const uint32_t *idx, const float *val, size_t n,
                       double y, double weight, uint64_t group, uint64_t key);

size_t reward_rows_count(const struct reward_rows *r);
size_t reward_rows_nnz(const struct reward_rows *r);

/* Frees r; NULL is a no-op. */
void reward_rows_free(struct reward_rows *r);

/* Trains like reward_train from rows already holding phi(a) - phi(b) (pairs)
 * and phi(x) (points; may be NULL). The rows are only read. Both stores must
 * use p->bits. Same report and errors as reward_train. */
struct reward_layer *reward_train_rows(const struct reward_params *p,
                                       const struct reward_rows *pairs,
                                       const struct reward_rows *points, json_t **report);

/* Like reward_evaluate, on rows of phi(a) - phi(b). */
json_t *reward_evaluate_rows(const struct reward_layer *l, const struct reward_rows *rows);

/* For tests only: the per-example objective the solver descends,
 * weight * logloss(sigmoid(w . x + w[dim] * bias), y) + l2 / 2 * |w[0..dim)|^2,
 * and its gradient written to grad[0..dim] (dim + 1 entries). */
double reward_loss_grad_for_test(const double *w, size_t dim, int bias, const uint32_t *idx,
                                 const float *val, size_t n, double y, double weight, double l2,
                                 double *grad);

#endif
