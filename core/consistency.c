/* consistency.c - the promotion check of a candidate layer (see
 * consistency.h). */
#include "consistency.h"

#include "agree.h"

#include <errno.h>
#include <math.h>

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

struct cases {
    const struct consistency_case *c;
    size_t n;
};

/* Accuracy loss (active - candidate) on the weighted cases: w[i] copies of
 * case i (NULL: one each). An agree_stat_fn. */
static double loss_of(const void *cls, const uint32_t *w)
{
    const struct cases *k = cls;
    double diff = 0.0, tot = 0.0;
    for (size_t i = 0; i < k->n; i++) {
        double wi = w ? (double)w[i] : 1.0;
        diff += wi * ((double)right(k->c[i].p_active) - (double)right(k->c[i].p_candidate));
        tot += wi;
    }
    return tot > 0.0 ? diff / tot : 0.0;
}

/* (a): the loss and its 95% percentile-bootstrap interval. 0 or -ENOMEM. */
static int accuracy_rule(const struct consistency_case *c, size_t n,
                         const struct consistency_params *p, struct consistency_report *r)
{
    struct cases k = {c, n};
    r->loss = loss_of(&k, NULL);
    int rc = agree_bootstrap(n, loss_of, &k, p->bootstrap, p->seed, &r->loss_lo, &r->loss_hi);
    if (!rc && isnan(r->loss_lo))
        r->loss_lo = r->loss_hi = r->loss;
    r->pass_accuracy = r->loss_lo <= p->margin;
    return rc;
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
