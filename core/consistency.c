/* consistency.c - the promotion check of a candidate layer (see
 * consistency.h). */
#include "consistency.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ECE_BINS 10

void consistency_params_default(struct consistency_params *p)
{
    *p = (struct consistency_params){.margin = 0.01,
                                     .ece_floor = 0.05,
                                     .contradict_p = 0.9,
                                     .contradict_share = 0.02,
                                     .bootstrap = 1000,
                                     .seed = 0x636f6e73ULL};
}

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

/* A decision is right when it gives the settled answer more than half. */
static bool right(double p)
{
    return p > 0.5;
}

/* Expected calibration error of one layer's decisions on the cases (the
 * active layer's when active) over 10 equal bins of confidence max(p,
 * 1 - p) in [0.5, 1]. */
static double ece(const struct consistency_case *c, size_t n, bool active)
{
    double conf[ECE_BINS] = {0}, ok[ECE_BINS] = {0}, cnt[ECE_BINS] = {0}, e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double p = active ? c[i].p_active : c[i].p_candidate;
        double q = p > 0.5 ? p : 1.0 - p;
        int b = (int)((q - 0.5) * 2.0 * ECE_BINS);
        b = b < 0 ? 0 : b >= ECE_BINS ? ECE_BINS - 1 : b;
        conf[b] += q;
        ok[b] += right(p);
        cnt[b] += 1.0;
    }
    for (int b = 0; b < ECE_BINS; b++)
        if (cnt[b] > 0.0)
            e += fabs(ok[b] - conf[b]) / (double)n;
    return e;
}

/* Accuracy loss (active - candidate) on the weighted cases: w[i] copies of
 * case i (NULL: one each). */
static double loss_of(const struct consistency_case *c, size_t n, const uint32_t *w)
{
    double diff = 0.0, tot = 0.0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? (double)w[i] : 1.0;
        diff += wi * ((double)right(c[i].p_active) - (double)right(c[i].p_candidate));
        tot += wi;
    }
    return tot > 0.0 ? diff / tot : 0.0;
}

/* (a): the loss and its 95% percentile-bootstrap interval. 0 or -ENOMEM. */
static int accuracy_rule(const struct consistency_case *c, size_t n,
                         const struct consistency_params *p, struct consistency_report *r)
{
    uint32_t *w = malloc(n * sizeof *w);
    double *v = malloc((p->bootstrap ? p->bootstrap : 1) * sizeof *v);
    if (!w || !v) {
        free(w);
        free(v);
        return -ENOMEM;
    }
    uint64_t seed = p->seed;
    for (unsigned k = 0; k < p->bootstrap; k++) {
        memset(w, 0, n * sizeof *w);
        for (size_t i = 0; i < n; i++)
            w[splitmix(&seed) % n]++;
        v[k] = loss_of(c, n, w);
    }
    r->loss = loss_of(c, n, NULL);
    r->loss_lo = r->loss_hi = r->loss;
    if (p->bootstrap) {
        qsort(v, p->bootstrap, sizeof *v, cmp_double);
        r->loss_lo = v[(size_t)(0.025 * (p->bootstrap - 1) + 0.5)];
        r->loss_hi = v[(size_t)(0.975 * (p->bootstrap - 1) + 0.5)];
    }
    r->pass_accuracy = r->loss_lo <= p->margin;
    free(w);
    free(v);
    return 0;
}

/* Checks the cases' probabilities; sets has_active when every case has one
 * for the active layer. 0 or -EINVAL. */
static int validate(const struct consistency_case *c, size_t n, struct consistency_report *r)
{
    r->has_active = n > 0;
    for (size_t i = 0; i < n; i++) {
        double pc = c[i].p_candidate, pa = c[i].p_active;
        if (!(pc >= 0.0 && pc <= 1.0) || (!isnan(pa) && (pa < 0.0 || pa > 1.0)))
            return -EINVAL;
        r->has_active &= !isnan(pa);
    }
    return 0;
}

int consistency_check(const struct consistency_case *c, size_t n,
                      const struct consistency_params *p, struct consistency_report *out,
                      size_t *contradicted)
{
    struct consistency_params def;
    if (!p) {
        consistency_params_default(&def);
        p = &def;
    }
    struct consistency_report r = {.cases = n, .empty = n == 0};
    r.acc_active = r.ece_active = r.loss = r.loss_lo = r.loss_hi = NAN;
    if ((n && !c) || validate(c, n, &r))
        return -EINVAL;
    double ok = 0.0, ok_active = 0.0;
    for (size_t i = 0; i < n; i++) {
        ok += right(c[i].p_candidate);
        ok_active += r.has_active && right(c[i].p_active);
        if (1.0 - c[i].p_candidate >= p->contradict_p) {
            if (contradicted)
                contradicted[r.contradictions] = i;
            r.contradictions++;
        }
    }
    r.acc_candidate = n ? ok / (double)n : NAN;
    r.ece_candidate = n ? ece(c, n, false) : NAN;
    r.pass_contradictions = (double)r.contradictions <= p->contradict_share * (double)n;
    r.pass_accuracy = r.pass_ece = true;
    if (r.has_active) {
        r.acc_active = ok_active / (double)n;
        r.ece_active = ece(c, n, true);
        r.pass_ece = r.ece_candidate <= fmax(p->ece_floor, r.ece_active);
        if (accuracy_rule(c, n, p, &r))
            return -ENOMEM;
    }
    r.pass = r.pass_accuracy && r.pass_ece && r.pass_contradictions;
    *out = r;
    return 0;
}
