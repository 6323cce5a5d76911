/* The judging rules of human review, as pure functions: which label may
 * count, when a task has its labels, what its labels decide (majority,
 * split, agreement), the provenance kept with a verdict, and the gold draw.
 * No SQL, no HTTP: a storage backend gathers the facts inside its
 * transaction, asks these rules, and writes what they answer. */
#ifndef RUNG_AGGREGATE_H
#define RUNG_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What became of a label a rater sent. */
enum label_result {
    LABEL_RECORDED,      /* a new label */
    LABEL_REPEAT,        /* the same label again: nothing changed */
    LABEL_NO_TASK,       /* no such task */
    LABEL_BAD_ANSWER,    /* the answer does not fit the task's kind */
    LABEL_CONFLICT,      /* this rater labelled it differently before */
    LABEL_LEASE_LOST,    /* lease expired and the free slots are taken */
    LABEL_NOT_SERVED,    /* the task was never leased to this rater */
    LABEL_TASK_COMPLETE, /* the task has all its labels */
    LABEL_REPLACED,      /* a different answer within the grace period: it replaces the first */
};

/* True when answer fits a task or item of this kind: "pair" takes a, b or
 * tie; "single" takes good or bad. */
bool aggregate_answer_fits(const char *kind, const char *answer);

/* What the store knows about a task and one rater when a label arrives. */
struct label_facts {
    const char *kind;        /* pair | single */
    const char *answer;      /* the label's answer */
    const char *previous;    /* this rater's earlier answer on the task, NULL when none */
    bool gold;               /* a gold task: scores raters, never resolves */
    bool open;               /* the task still wants labels */
    bool served;             /* the rater holds a lease on it, live or expired */
    bool lease_live;         /* that lease has not expired */
    int overlap;             /* labels the task wants */
    int labels_done;         /* labels it has */
    int leased;              /* live leases of other raters */
    bool previous_last;      /* that earlier label is the rater's latest one */
    int64_t previous_age_ms; /* how long ago the earlier label was given */
    int64_t undo_ms;         /* grace period for changing a label; 0: never */
};

/* Decides whether a label may count: LABEL_RECORDED when it does, or the
 * reason it does not (LABEL_REPEAT and LABEL_CONFLICT for a second label of
 * the same rater, LABEL_BAD_ANSWER, LABEL_NOT_SERVED, LABEL_TASK_COMPLETE,
 * LABEL_LEASE_LOST). A label after its lease expired still counts while the
 * task has a free slot. A different answer replaces the rater's earlier one
 * (LABEL_REPLACED, the undo rule) when that one is the rater's latest label
 * and is at most undo_ms old; else it is LABEL_CONFLICT. Never returns
 * LABEL_NO_TASK. */
enum label_result label_admissible(const struct label_facts *f);

/* True when labels_done labels complete a task that wants overlap. */
bool aggregate_complete(int labels_done, int overlap);

/* One rater's answer on a task. */
struct agg_label {
    int64_t rater_id;
    char answer[8]; /* a | b | tie | good | bad */
};

enum agg_action {
    AGG_RESOLVE,     /* the labels decide the item: write the verdict */
    AGG_EXTRA_LABEL, /* a split: the task wants one more label first */
};

/* What a task's labels decide. */
struct agg_outcome {
    enum agg_action action;
    const char *verdict; /* a | b | tie | good | bad | unsure; static */
    double agreement;    /* the majority's share of the labels, 0..1 */
    bool comparison;     /* a comparison row trains the next layer (not for unsure) */
    bool b_won;          /* pair: chosen = b, rejected = a */
    bool tie;            /* pair: the comparison is a tie */
};

/* The labels of a completed task. pair: the task compares two responses.
 * A split (no answer with more labels than every other) is a tie for a
 * pair and unsure for a single response, unless split_extra is set and the
 * task has not had its extra label yet (extra_used): then the outcome is
 * AGG_EXTRA_LABEL. Returns 0, or -EINVAL when n is 0 or an answer is not
 * one of a, b, tie, good, bad. */
int aggregate_labels(bool pair, const struct agg_label *labels, size_t n, bool split_extra,
                     bool extra_used, struct agg_outcome *out);

/* The provenance of a human verdict as compact JSON text: {"raters": [...],
 * "answers": [...], "agreement": x, "assistance": the layer's scores (JSON
 * text, parsed; null when NULL or unparsable)}. Returns a malloc'd string
 * the caller frees, or NULL when memory is short. */
char *aggregate_provenance(const struct agg_label *labels, size_t n, double agreement,
                           const char *assistance);

/* The outcome of an admin's gold answer: it settles the item at once
 * (AGG_RESOLVE, verdict = answer, borrowed; agreement 1) and trains
 * nothing, since gold tasks score raters. */
void aggregate_gold(const char *answer, struct agg_outcome *out);

/* True when a gold label is right: the item has a gold answer and the
 * rater gave it. */
bool aggregate_gold_right(const char *gold_answer, const char *answer);

/* The gold draw: true when this claim should offer a gold task. draw is a
 * uniform random number in 0..99 (the caller's randomness, so the rule is
 * testable); gold_rate_pct is the gold share of a rater's stream. */
bool aggregate_gold_turn(unsigned gold_rate_pct, uint32_t draw);

/* ---- what raters are shown ---- */

/* The answer in the item's own order for an answer given on a task shown
 * in display order: with swapped (responses[0] was the item's b), a and b
 * trade places; tie, good and bad stay. Returns a static string, or answer
 * itself when it is none of a and b. */
const char *aggregate_answer_unswap(const char *answer, bool swapped);

#define AGG_CAL_BINS 16 /* confidence bins of a calibration table at most */

/* A layer's accuracy on its held-out calibration data, by confidence bin:
 * bin i holds the items with lo[i] <= confidence < lo[i + 1] (the last
 * bin reaches 1). */
struct agg_calibration {
    size_t n;                /* bins */
    double lo[AGG_CAL_BINS]; /* lower edge of each bin, ascending */
    int64_t total[AGG_CAL_BINS];
    int64_t right[AGG_CAL_BINS];
};

/* Reads the calibration table of a layer's training report (JSON text, the
 * layer's metrics): the coverage-accuracy curve of "calibration" (pairs) or
 * of "pointwise"."calibration" (single responses), whose points count the
 * held-out items at or above each confidence, differenced into bins.
 * Returns 0, or -EINVAL when the text has no such curve. */
int aggregate_calibration_read(const char *metrics, bool pair, struct agg_calibration *out);

/* The assistance rule: whether a layer's preference at this confidence is
 * worth showing a rater, and what it meant on held-out data. Shown only
 * when confidence >= ASSIST_CONFIDENCE_MIN and the lower end of the 95%
 * Wilson interval (agree_wilson) of the accuracy in the confidence's bin
 * is above 0.5 (better than a coin); then *share and *n receive that bin's accuracy and size.
 * cal may be NULL (never shown). */
bool aggregate_assist_shown(const struct agg_calibration *cal, double confidence, double *share,
                            int64_t *n);

#endif
