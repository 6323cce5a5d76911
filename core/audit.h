/* audit.h - the rules of measured trust: which items are audited, which
 * tasks are shown without the layer's assistance, what an audit found,
 * a layer's audited error rate with its interval, when that rate breaks
 * the layer's promise (demotion), and how two layers' verdicts agree
 * (drift). Pure: no store, no I/O; the store runs these inside its
 * transactions. */
#ifndef RUNG_AUDIT_H
#define RUNG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define AUDIT_PPM 1000000u            /* a share's unit: parts per million */
#define AUDIT_SHARE_PPM_DEFAULT 20000 /* 2%: audited auto items, blind ordinary tasks */
#define AUDIT_PROMISE_DEFAULT 0.95    /* accuracy a layer promises when its report names none */
#define AUDIT_MIN_DEFAULT 20          /* decided audits before a demotion can be judged */
#define AUDIT_MIN_MAX 1000000         /* largest --audit-min */
#define AUDIT_RATERS_MIN 2            /* raters behind the disagreements of a demotion */

/* Which draw a choice is: the audit of an auto-resolved item, or showing
 * an ordinary task without assistance. The two draws are independent. */
enum audit_draw { AUDIT_DRAW_AUDIT, AUDIT_DRAW_BLIND };

/* Whether the item with this id (its row number, items.seq) falls in
 * share_ppm parts per million for draw, under seed: a fixed hash of
 * (seed, draw, id), so the same id and seed always give the same answer,
 * and over many ids the share picked is share_ppm / AUDIT_PPM. share_ppm
 * 0 picks nothing, AUDIT_PPM everything. */
bool audit_pick(int64_t item_id, uint64_t seed, uint32_t share_ppm, enum audit_draw draw);

/* Blind ordinary tasks at the rate audits reach raters. An audit is drawn
 * for share_ppm of the items the layer settles, so audits come at share x
 * the settled items; a blind ordinary task must come at that same rate,
 * whatever share of the items the layer settles (a fixed share of the
 * ordinary tasks would not: at 80% settled it would give four audits for
 * every blind task). The draw keeps a credit, in parts per million of a
 * task: each settled item adds share_ppm (the expected audits it brings);
 * each ordinary task is shown blind with probability min(1, credit), from
 * the fixed hash of (seed, AUDIT_DRAW_BLIND, id), and that probability is
 * taken from the credit. So the expected number of blind tasks equals the
 * expected number of audits, less the credit still left (at most
 * AUDIT_BLIND_CREDIT_MAX: when people see fewer ordinary tasks than there
 * are audits, every ordinary task is blind and the rest is forgotten). */
#define AUDIT_BLIND_CREDIT_MAX (64 * (int64_t)AUDIT_PPM)

/* An item the layer settled: its expected audits join *credit_ppm. */
void audit_blind_settled(int64_t *credit_ppm, uint32_t share_ppm);

/* Whether the ordinary task of item id is shown blind, under seed; takes
 * its probability from *credit_ppm. */
bool audit_blind_pick(int64_t *credit_ppm, int64_t item_id, uint64_t seed);

/* What people's verdict on an audited item says of the layer's. */
enum audit_outcome {
    AUDIT_AGREE,        /* the same side (pair) or the same good/bad */
    AUDIT_DISAGREE,     /* the other side: an error of the layer */
    AUDIT_INCONCLUSIVE, /* people found a tie or were unsure: not counted */
};

/* Compares the layer's verdict (a | b | good | bad) with people's (a | b
 * | tie | good | bad | unsure). */
enum audit_outcome audit_compare(const char *layer_verdict, const char *human_verdict);

/* The outcome's name as stored: "agree", "disagree", "inconclusive". */
const char *audit_outcome_name(enum audit_outcome o);

/* A layer's error rate on its audited verdicts. */
struct audit_rate {
    int64_t audited; /* audits that agreed or disagreed */
    int64_t errors;  /* of those, disagreements */
    double rate;     /* errors / audited; NaN when audited is 0 */
    double lo, hi;   /* the 95% Wilson score interval; NaN when audited is 0 */
};

/* Fills *out from the counts (errors <= audited). */
void audit_error_rate(int64_t audited, int64_t errors, struct audit_rate *out);

/* The accuracy a layer promised at its tau: the "target" of its training
 * report (metrics JSON text; the threshold was chosen so that the 95%
 * lower bound of the accuracy above it reached the target), else
 * AUDIT_PROMISE_DEFAULT (a layer without a report, e.g. an external model
 * given a threshold by hand, is held to the default target). */
double audit_promise(const char *metrics);

/* True when the audited error rate is shown to break the promise: at
 * least min_audits audits were decided (a min_audits below 1 counts as
 * 1), the disagreements among them came from at least AUDIT_RATERS_MIN
 * distinct raters (raters: how many gave a disagreeing answer), and the
 * lower end of the interval is above 1 - promise. One rater's labels
 * alone never demote a layer, however wrong they are. */
bool audit_should_demote(const struct audit_rate *r, int64_t raters, double promise,
                         int64_t min_audits);

/* Drift: how two layers' verdicts on the same pairs agree. */
struct audit_drift {
    int64_t items;   /* pairs both layers scored */
    int64_t same;    /* of those, the same side preferred */
    double abs_diff; /* sum of |p_a(new) - p_a(old)| */
};

/* Adds one pair scored by the old layer (P(a) p_old) and the new one. */
void audit_drift_add(struct audit_drift *d, double p_old, double p_new);

/* {"items", "agreement", "mean_abs_diff"} (the two ratios null without
 * items). Returns a new reference, NULL when out of memory. */
json_t *audit_drift_json(const struct audit_drift *d);

#endif
