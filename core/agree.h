/* agree.h - agreement between raters on nominal answers: Cohen's kappa for
 * two raters, Fleiss' kappa and Krippendorff's alpha for many, each with a
 * bootstrap interval over the units it rests on. Pure: no store, no I/O.
 *
 * Answers are category indices 0..k-1 (the caller maps "a"/"b"/"tie" or
 * "yes"/"no"/"unsure" to indices). A unit is one task; its row of counts
 * says how many raters put it in each category. */
#ifndef RUNG_AGREE_H
#define RUNG_AGREE_H

#include <stddef.h>
#include <stdint.h>

#define AGREE_MAX_CATEGORIES 16  /* answers are a/b/tie, yes/no/unsure: room to spare */
#define AGREE_BOOTSTRAP 500      /* resamples for the interval */
#define AGREE_SEED 0x5eed5eedULL /* fixed: the same data gives the same interval */

/* A statistic with its 95% percentile-bootstrap interval. value, lo and hi
 * are NaN when the statistic is undefined on the data: fewer than two units
 * with two or more ratings, or no variation at all (every rating in one
 * category, so chance agreement is already perfect). units is how many units
 * it rests on (those with at least two ratings); ratings their ratings. */
struct agree_stat {
    double value, lo, hi;
    size_t units;
    size_t ratings;
};

/* Cohen's kappa of two raters over the n units both answered: a[i] and b[i]
 * are their categories (< k) for unit i. Returns 0 (out filled, possibly
 * NaN as above), -EINVAL for k outside 2..AGREE_MAX_CATEGORIES or a category
 * >= k, -ENOMEM. */
int agree_cohen(const uint8_t *a, const uint8_t *b, size_t n, unsigned k, struct agree_stat *out);

/* Fleiss' kappa over units rated by any number of raters: counts[u * k + c]
 * is how many raters put unit u in category c. Units with fewer than two
 * ratings are left out; with unequal numbers of raters each unit's observed
 * agreement is computed over its own pairs. Returns 0, -EINVAL, -ENOMEM. */
int agree_fleiss(const unsigned *counts, size_t units, unsigned k, struct agree_stat *out);

/* Krippendorff's alpha for nominal data, from the same counts: 1 minus
 * observed over expected disagreement on the coincidence matrix. Missing
 * ratings are simply absent from a unit's counts. Returns 0, -EINVAL,
 * -ENOMEM. */
int agree_alpha_nominal(const unsigned *counts, size_t units, unsigned k, struct agree_stat *out);

/* A statistic of n units computed under weights: w[i] copies of unit i
 * (w NULL: one each). Returns NaN when undefined on those units. */
typedef double (*agree_stat_fn)(const void *cls, const uint32_t *w);

/* The 95% percentile-bootstrap interval of stat over n units: resamples
 * draws of n units with replacement, from seed (the same inputs give the
 * same interval); resamples where stat is undefined are left out. *lo and
 * *hi are NaN when none is defined. Returns 0 or -ENOMEM. */
int agree_bootstrap(size_t n, agree_stat_fn stat, const void *cls, unsigned resamples,
                    uint64_t seed, double *lo, double *hi);

/* The 95% Wilson score interval of a proportion right/n into *lo, *hi
 * (both NaN when n is 0). */
void agree_wilson(size_t right, size_t n, double *lo, double *hi);

#endif
