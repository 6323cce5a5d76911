/* consistency.h - may a candidate layer replace the active one? The check
 * of the recursive loop, run on what people (and lower layers checked by
 * people) already settled: gold items, unanimous items with two or more
 * labels, items decided by roll-up of human answers, trusted imports.
 * Pure: the caller scores the settled set with both layers and passes the
 * probabilities; this module applies the rules.
 *
 * Rules (each settled case is a decision with a known right answer):
 *  (a) accuracy: the candidate may lose at most `margin` of accuracy
 *      against the active layer. Judged with a bootstrap interval over the
 *      cases: it fails only when the 95% lower bound of (active accuracy -
 *      candidate accuracy) is above the margin, i.e. when the data show a
 *      loss larger than the margin, not when a small set cannot tell;
 *  (b) calibration: the candidate's ECE (10 bins of confidence) is at most
 *      max(ece_floor, the active layer's ECE);
 *  (c) contradictions: the candidate gives the opposite of the settled
 *      answer a probability >= contradict_p (whatever its threshold) on at
 *      most contradict_share of the cases; each such case is reported, to
 *      be flagged for people to look at again.
 * With no active layer only (c) applies. An empty settled set passes, with
 * `empty` set so the report can warn. */
#ifndef RUNG_CONSISTENCY_H
#define RUNG_CONSISTENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One settled case: each layer's probability of the settled answer (for a
 * pair, P(the side people chose)). p_active is NaN without an active layer. */
struct consistency_case {
    double p_candidate;
    double p_active;
};

struct consistency_params {
    double margin;           /* (a) accuracy the candidate may lose, default 0.01 */
    double ece_floor;        /* (b) default 0.05 */
    double contradict_p;     /* (c) a confident opposite answer, default 0.9 */
    double contradict_share; /* (c) most contradicted cases allowed, default 0.02 */
    unsigned bootstrap;      /* resamples for (a), default 1000 */
    uint64_t seed;           /* of the resampling: the same data give the same report */
};

/* Fills *p with the defaults above. */
void consistency_params_default(struct consistency_params *p);

struct consistency_report {
    size_t cases;
    bool empty;      /* no settled case: passes, with a warning */
    bool has_active; /* (a) and (b) applied */
    double acc_candidate, acc_active;
    double loss, loss_lo, loss_hi; /* active - candidate accuracy, its 95% bootstrap interval */
    double ece_candidate, ece_active;
    size_t contradictions;
    bool pass_accuracy, pass_ece, pass_contradictions;
    bool pass; /* all that apply */
};

/* Checks n cases under p (NULL: the defaults) into *out. When contradicted
 * is not NULL it receives the indices of the contradicted cases (room for n
 * is the caller's). A case with a probability outside [0, 1] or NaN for the
 * candidate is -EINVAL. Returns 0, -EINVAL, -ENOMEM. */
int consistency_check(const struct consistency_case *c, size_t n,
                      const struct consistency_params *p, struct consistency_report *out,
                      size_t *contradicted);

#endif
