/* agree_set.h - agreement over a set of stored labels: the answers mapped
 * to categories, Cohen's kappa for every pair of raters that share enough
 * units, Fleiss' kappa and Krippendorff's alpha over all of them. Pure: the
 * labels come from the caller (the store), the statistics from agree.h.
 *
 * All answers share one category space (a, b, tie, good, bad, yes, no,
 * unsure): a unit (one task) only ever gets the answers of its kind, so a
 * category no unit of a kind can take simply stays empty. With kinds mixed,
 * chance agreement is taken over the pooled answers, which differs from a
 * per-kind figure; per batch the kinds are usually one. */
#ifndef RUNG_AGREE_SET_H
#define RUNG_AGREE_SET_H

#include <stddef.h>
#include <stdint.h>

#include "agree.h"

#define AGREE_SET_CATEGORIES 8    /* a b tie good bad yes no unsure */
#define AGREE_SET_MIN_SHARED 20   /* units two raters share before their kappa is given */
#define AGREE_SET_RATERS_MAX 2048 /* raters a pairwise table is built for (4 bytes each pair) */

/* The category of a stored answer, 0..AGREE_SET_CATEGORIES-1, or -EINVAL
 * for another string. */
int agree_set_category(const char *answer);

/* One rating: rater gave category on unit. */
struct agree_set_label {
    int64_t unit;
    int64_t rater;
    uint8_t category; /* < AGREE_SET_CATEGORIES */
};

/* Cohen's kappa of two raters (rater_a < rater_b) over the units both rated. */
struct agree_set_pair {
    int64_t rater_a, rater_b;
    struct agree_stat kappa;
};

struct agree_set {
    struct agree_set_pair *pairs; /* by (rater_a, rater_b); malloc'd, NULL when none */
    size_t npairs;
    struct agree_stat fleiss, alpha; /* over every unit with two or more ratings */
};

/* Computes the statistics of n ratings v (in ascending order of unit; a
 * rater rates a unit once) into *out, with a pair's kappa only
 * where the two share at least min_shared units. Returns 0 (free *out with
 * agree_set_clear), -EINVAL (a category out of range, units out of order),
 * -E2BIG (more than AGREE_SET_RATERS_MAX raters), -ENOMEM; on failure *out
 * holds nothing. */
int agree_set_compute(const struct agree_set_label *v, size_t n, size_t min_shared,
                      struct agree_set *out);

/* Frees the pairs of *s and zeroes it. NULL is a no-op. */
void agree_set_clear(struct agree_set *s);

#endif
