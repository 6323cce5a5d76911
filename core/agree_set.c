/* agree_set.c - agreement over stored labels: see agree_set.h. */
#include "agree_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const category_names[AGREE_SET_CATEGORIES] = {
    "a", "b", "tie", "good", "bad", "yes", "no", "unsure",
};

int agree_set_category(const char *answer)
{
    for (int c = 0; answer && c < AGREE_SET_CATEGORIES; c++)
        if (!strcmp(answer, category_names[c]))
            return c;
    return -EINVAL;
}

void agree_set_clear(struct agree_set *s)
{
    if (!s)
        return;
    free(s->pairs);
    memset(s, 0, sizeof *s);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The distinct raters of v, ascending, into *ids (malloc'd) and *nr; the
 * index of each rating's rater in that list into *ix (malloc'd, n). */
static int rater_index(const struct agree_set_label *v, size_t n, int64_t **ids, size_t *nr,
                       size_t **ix)
{
    int64_t *r = malloc((n ? n : 1) * sizeof *r);
    size_t *x = malloc((n ? n : 1) * sizeof *x);
    if (!r || !x) {
        free(r);
        free(x);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        r[i] = v[i].rater;
    qsort(r, n, sizeof *r, cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!k || r[k - 1] != r[i])
            r[k++] = r[i];
    for (size_t i = 0; i < n; i++)
        x[i] = (size_t)((int64_t *)bsearch(&v[i].rater, r, k, sizeof *r, cmp_i64) - r);
    *ids = r;
    *nr = k;
    *ix = x;
    return 0;
}

/* End of the unit group that starts at i. */
static size_t group_end(const struct agree_set_label *v, size_t n, size_t i)
{
    size_t e = i + 1;
    while (e < n && v[e].unit == v[i].unit)
        e++;
    return e;
}

/* Fleiss' kappa and Krippendorff's alpha over the units of v. */
static int over_units(const struct agree_set_label *v, size_t n, struct agree_set *out)
{
    size_t units = 0;
    for (size_t i = 0; i < n; i = group_end(v, n, i))
        units++;
    unsigned *counts = calloc(units ? units * AGREE_SET_CATEGORIES : 1, sizeof *counts);
    if (!counts)
        return -ENOMEM;
    size_t u = 0;
    for (size_t i = 0, e; i < n; i = e, u++) {
        e = group_end(v, n, i);
        for (size_t j = i; j < e; j++)
            counts[u * AGREE_SET_CATEGORIES + v[j].category]++;
    }
    int rc = agree_fleiss(counts, units, AGREE_SET_CATEGORIES, &out->fleiss);
    rc = rc ? rc : agree_alpha_nominal(counts, units, AGREE_SET_CATEGORIES, &out->alpha);
    free(counts);
    return rc;
}

/* Calls fn(cls, i, j) for every two ratings i, j of one unit whose raters
 * have indices ix[i] < ix[j]. */
static void each_pair(const struct agree_set_label *v, size_t n, const size_t *ix,
                      void (*fn)(void *cls, size_t i, size_t j), void *cls)
{
    for (size_t s = 0, e; s < n; s = e) {
        e = group_end(v, n, s);
        for (size_t i = s; i < e; i++)
            for (size_t j = s; j < e; j++)
                if (ix[i] < ix[j])
                    fn(cls, i, j);
    }
}

/* The pairwise table while pairs are counted and filled. */
struct pair_fill {
    const struct agree_set_label *v;
    const size_t *ix;
    size_t nr;
    uint32_t *shared;  /* [a * nr + b]: units shared, then slot + 1 (0: too few) */
    size_t *off, *pos; /* per slot: where its answers start, how many are in */
    uint8_t *ca, *cb;  /* the answers of every slot, one after the other */
};

static void count_one(void *cls, size_t i, size_t j)
{
    struct pair_fill *f = cls;
    f->shared[f->ix[i] * f->nr + f->ix[j]]++;
}

static void fill_one(void *cls, size_t i, size_t j)
{
    struct pair_fill *f = cls;
    uint32_t slot = f->shared[f->ix[i] * f->nr + f->ix[j]];
    if (!slot)
        return;
    size_t at = f->off[slot - 1] + f->pos[slot - 1]++;
    f->ca[at] = f->v[i].category;
    f->cb[at] = f->v[j].category;
}

/* Numbers the pairs sharing at least min_shared units as slots (in
 * f->shared) and fills out->pairs' raters. Returns the answers they hold
 * in *total. 0 or -ENOMEM. */
static int pair_slots(struct pair_fill *f, const int64_t *ids, size_t min_shared,
                      struct agree_set *out, size_t *total)
{
    size_t np = 0, nn = f->nr * f->nr;
    for (size_t k = 0; k < nn; k++)
        np += f->shared[k] >= min_shared && f->shared[k] > 0;
    out->pairs = calloc(np ? np : 1, sizeof *out->pairs);
    f->off = calloc(np ? np : 1, sizeof *f->off);
    f->pos = calloc(np ? np : 1, sizeof *f->pos);
    if (!out->pairs || !f->off || !f->pos)
        return -ENOMEM;
    *total = 0;
    for (size_t k = 0; k < nn; k++) {
        if (f->shared[k] < min_shared || !f->shared[k]) {
            f->shared[k] = 0;
            continue;
        }
        out->pairs[out->npairs] =
            (struct agree_set_pair){.rater_a = ids[k / f->nr], .rater_b = ids[k % f->nr]};
        f->off[out->npairs] = *total;
        *total += f->shared[k];
        f->shared[k] = (uint32_t)++out->npairs;
    }
    return 0;
}

/* Cohen's kappa for every pair of raters sharing min_shared units. */
static int over_pairs(const struct agree_set_label *v, size_t n, const int64_t *ids, size_t nr,
                      const size_t *ix, size_t min_shared, struct agree_set *out)
{
    struct pair_fill f = {.v = v, .ix = ix, .nr = nr};
    size_t total = 0;
    f.shared = calloc(nr ? nr * nr : 1, sizeof *f.shared);
    int rc = f.shared ? 0 : -ENOMEM;
    if (!rc) {
        each_pair(v, n, ix, count_one, &f);
        rc = pair_slots(&f, ids, min_shared, out, &total);
    }
    if (!rc) {
        f.ca = malloc(total ? total : 1);
        f.cb = malloc(total ? total : 1);
        rc = f.ca && f.cb ? 0 : -ENOMEM;
    }
    if (!rc)
        each_pair(v, n, ix, fill_one, &f);
    for (size_t p = 0; !rc && p < out->npairs; p++)
        rc = agree_cohen(f.ca + f.off[p], f.cb + f.off[p], f.pos[p], AGREE_SET_CATEGORIES,
                         &out->pairs[p].kappa);
    free(f.shared);
    free(f.off);
    free(f.pos);
    free(f.ca);
    free(f.cb);
    return rc;
}

int agree_set_compute(const struct agree_set_label *v, size_t n, size_t min_shared,
                      struct agree_set *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (v[i].category >= AGREE_SET_CATEGORIES || (i && v[i].unit < v[i - 1].unit))
            return -EINVAL;
    int64_t *ids = NULL;
    size_t nr = 0, *ix = NULL;
    int rc = rater_index(v, n, &ids, &nr, &ix);
    if (!rc && nr > AGREE_SET_RATERS_MAX)
        rc = -E2BIG;
    rc = rc ? rc : over_units(v, n, out);
    rc = rc ? rc : over_pairs(v, n, ids, nr, ix, min_shared, out);
    free(ids);
    free(ix);
    if (rc)
        agree_set_clear(out);
    return rc;
}
