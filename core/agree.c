/* agree.c - Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (nominal),
 * with percentile-bootstrap intervals. Each statistic is computed with unit
 * weights (a unit drawn twice by a resample counts twice), so one function
 * serves both the value (all weights 1) and the resamples. */
#include "agree.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The units a statistic rests on, and how to compute it under weights w
 * (w[i] copies of unit i). Returns NaN when undefined. */
struct agree_data {
    const uint8_t *a, *b;   /* Cohen: the two raters' answers */
    const unsigned *counts; /* Fleiss, alpha: category counts per unit */
    const size_t *unit;     /* Fleiss, alpha: the units with >= 2 ratings */
    size_t n;               /* units */
    unsigned k;             /* categories */
    double (*fn)(const struct agree_data *d, const uint32_t *w);
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* chance = 1 means nothing can be told from chance: undefined. */
static double kappa_of(double observed, double chance)
{
    return 1.0 - chance < 1e-12 ? NAN : (observed - chance) / (1.0 - chance);
}

static double cohen_fn(const struct agree_data *d, const uint32_t *w)
{
    double pa[AGREE_MAX_CATEGORIES] = {0}, pb[AGREE_MAX_CATEGORIES] = {0};
    double tot = 0.0, same = 0.0, chance = 0.0;
    for (size_t i = 0; i < d->n; i++) {
        double wi = w ? (double)w[i] : 1.0;
        tot += wi;
        same += d->a[i] == d->b[i] ? wi : 0.0;
        pa[d->a[i]] += wi;
        pb[d->b[i]] += wi;
    }
    if (tot < 2.0)
        return NAN;
    for (unsigned c = 0; c < d->k; c++)
        chance += (pa[c] / tot) * (pb[c] / tot);
    return kappa_of(same / tot, chance);
}

/* Sums over the units under weights w: what Fleiss and alpha are made of. */
struct tally {
    double units;   /* weighted units */
    double ratings; /* weighted ratings (alpha's n) */
    double pbar;    /* sum of each unit's share of agreeing rating pairs */
    double diag;    /* alpha's agreeing coincidences */
    double sq;      /* sum over categories of (ratings in it)^2 */
};

static void tally(const struct agree_data *d, const uint32_t *w, struct tally *t)
{
    double nc[AGREE_MAX_CATEGORIES] = {0};
    *t = (struct tally){0};
    for (size_t i = 0; i < d->n; i++) {
        const unsigned *row = d->counts + d->unit[i] * d->k;
        double wi = w ? (double)w[i] : 1.0, m = 0.0, same = 0.0;
        for (unsigned c = 0; c < d->k; c++) {
            m += row[c];
            same += (double)row[c] * ((double)row[c] - 1.0);
            nc[c] += wi * row[c];
        }
        t->pbar += wi * same / (m * (m - 1.0));
        t->diag += wi * same / (m - 1.0);
        t->units += wi;
        t->ratings += wi * m;
    }
    for (unsigned c = 0; c < d->k; c++)
        t->sq += nc[c] * nc[c];
}

static double fleiss_fn(const struct agree_data *d, const uint32_t *w)
{
    struct tally t;
    tally(d, w, &t);
    if (t.units < 2.0)
        return NAN;
    return kappa_of(t.pbar / t.units, t.sq / (t.ratings * t.ratings));
}

static double alpha_fn(const struct agree_data *d, const uint32_t *w)
{
    struct tally t;
    tally(d, w, &t);
    double n = t.ratings;
    if (t.units < 2.0 || n * n - t.sq < 1e-9)
        return NAN;
    return 1.0 - (n - 1.0) * (n - t.diag) / (n * n - t.sq);
}

int agree_bootstrap(size_t n, agree_stat_fn stat, const void *cls, unsigned resamples,
                    uint64_t seed, double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (!n || !resamples)
        return 0;
    uint32_t *w = malloc(n * sizeof(*w));
    double *vals = malloc(resamples * sizeof(*vals));
    if (!w || !vals) {
        free(w);
        free(vals);
        return -ENOMEM;
    }
    size_t nv = 0;
    for (unsigned r = 0; r < resamples; r++) {
        memset(w, 0, n * sizeof(*w));
        for (size_t i = 0; i < n; i++)
            w[splitmix(&seed) % n]++;
        double v = stat(cls, w);
        if (!isnan(v))
            vals[nv++] = v;
    }
    if (nv) {
        qsort(vals, nv, sizeof(*vals), cmp_double);
        *lo = vals[(size_t)(0.025 * (double)(nv - 1) + 0.5)];
        *hi = vals[(size_t)(0.975 * (double)(nv - 1) + 0.5)];
    }
    free(w);
    free(vals);
    return 0;
}

static double data_stat(const void *cls, const uint32_t *w)
{
    const struct agree_data *d = cls;
    return d->fn(d, w);
}

/* Fills out from d: the value and its interval over AGREE_BOOTSTRAP
 * resamples of the units. 0 or -ENOMEM. */
static int estimate(const struct agree_data *d, struct agree_stat *out)
{
    out->value = out->lo = out->hi = d->fn(d, NULL);
    if (isnan(out->value))
        return 0;
    int rc = agree_bootstrap(d->n, data_stat, d, AGREE_BOOTSTRAP, AGREE_SEED, &out->lo, &out->hi);
    if (!rc && isnan(out->lo))
        out->lo = out->hi = out->value;
    return rc;
}

static void stat_undefined(struct agree_stat *out)
{
    out->value = out->lo = out->hi = NAN;
    out->units = out->ratings = 0;
}

int agree_cohen(const uint8_t *a, const uint8_t *b, size_t n, unsigned k, struct agree_stat *out)
{
    if (k < 2 || k > AGREE_MAX_CATEGORIES || (n && (!a || !b)))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (a[i] >= k || b[i] >= k)
            return -EINVAL;
    stat_undefined(out);
    struct agree_data d = {.a = a, .b = b, .n = n, .k = k, .fn = cohen_fn};
    out->units = n;
    out->ratings = 2 * n;
    return estimate(&d, out);
}

/* Shared by Fleiss and alpha: checks the counts, picks the units with two
 * or more ratings, and estimates fn over them. */
static int from_counts(const unsigned *counts, size_t units, unsigned k,
                       double (*fn)(const struct agree_data *, const uint32_t *),
                       struct agree_stat *out)
{
    if (k < 2 || k > AGREE_MAX_CATEGORIES || (units && !counts))
        return -EINVAL;
    stat_undefined(out);
    size_t *unit = malloc((units ? units : 1) * sizeof(*unit));
    if (!unit)
        return -ENOMEM;
    struct agree_data d = {.counts = counts, .unit = unit, .k = k, .fn = fn};
    for (size_t u = 0; u < units; u++) {
        size_t m = 0;
        for (unsigned c = 0; c < k; c++)
            m += counts[u * k + c];
        if (m >= 2) {
            unit[d.n++] = u;
            out->ratings += m;
        }
    }
    out->units = d.n;
    int rc = estimate(&d, out);
    free(unit);
    return rc;
}

int agree_fleiss(const unsigned *counts, size_t units, unsigned k, struct agree_stat *out)
{
    return from_counts(counts, units, k, fleiss_fn, out);
}

int agree_alpha_nominal(const unsigned *counts, size_t units, unsigned k, struct agree_stat *out)
{
    return from_counts(counts, units, k, alpha_fn, out);
}

void agree_wilson(size_t right, size_t n, double *lo, double *hi)
{
    if (!n) {
        *lo = *hi = NAN;
        return;
    }
    const double z = 1.959964;
    double nn = (double)n, p = (double)right / nn, z2 = z * z;
    double mid = (p + z2 / (2.0 * nn)) / (1.0 + z2 / nn);
    double half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / (1.0 + z2 / nn);
    *lo = mid - half < 0.0 ? 0.0 : mid - half;
    *hi = mid + half > 1.0 ? 1.0 : mid + half;
}
