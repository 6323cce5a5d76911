/* replay.h - the pure part of `rungd replay`: the oracle a simulated rater
 * answers from, its seeded errors, and the figures of a campaign.
 *
 * An oracle holds the items a replay posts, each a pair with the side the
 * data prefers. Sides are shuffled by a hash of the seed and the item's
 * index (the same seed gives the same items). GSM8K pairs also carry the
 * documented step rule (issue 10, tests/bench/subq.py): every step of the
 * correct solution is right; in the incorrect one the first wrong step is
 * the first whose running result (the value of its last calculator
 * annotation <<...=R>>, else its last number) is not among the numbers of
 * the reference solution or of the question, or the final step when none
 * departs. A step is a non-blank line.
 *
 * Rater errors: an answer is flipped (a <-> b, yes <-> no) when a hash of
 * the seed, the item and the question asked falls below the error share,
 * so the same question always gets the same answer whatever the order the
 * daemon serves tasks in.
 *
 * No I/O, no allocation after the items are added (the lookup index
 * aside). Results are 0 or a negative errno.
 */
#ifndef RUNG_REPLAY_H
#define RUNG_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPLAY_SEED_DEFAULT 1   /* --seed */
#define REPLAY_ROUNDS_DEFAULT 5 /* --rounds */
#define REPLAY_NO_STEP_RULE -1  /* replay_item.wrong_step without a rule */

/* One item as posted. */
struct replay_item {
    char *prompt, *a, *b; /* owned; a and b in the order posted */
    char correct;         /* 'a' or 'b': the side the data prefers */
    long wrong_step; /* index of the incorrect side's first wrong step, or REPLAY_NO_STEP_RULE */
};

struct replay_oracle;

/* A new empty oracle whose shuffles and errors follow seed; NULL when out
 * of memory. Free with replay_oracle_free (NULL is a no-op). */
struct replay_oracle *replay_oracle_new(uint64_t seed);
void replay_oracle_free(struct replay_oracle *o);

/* Adds a pair: chosen is preferred over rejected. reference is the
 * reference solution of a GSM8K question (the step rule then applies,
 * prompt being the question), or NULL. The strings are copied. Returns 0
 * or -ENOMEM (-EINVAL for a NULL string). */
int replay_oracle_add(struct replay_oracle *o, const char *prompt, const char *chosen,
                      const char *rejected, const char *reference);

size_t replay_oracle_count(const struct replay_oracle *o);

/* Item i (< count); the oracle keeps it. */
const struct replay_item *replay_oracle_item(const struct replay_oracle *o, size_t i);

/* The index of the item with this prompt and sides in this order (the
 * first one added, when several are the same), or -ENOENT; -ENOMEM when
 * the index cannot be built. */
long replay_oracle_find(struct replay_oracle *o, const char *prompt, const char *a, const char *b);

/* The oracle's answer to a whole-pair task on item i, in display order
 * ("a" is the side shown first; swapped: the item's b is shown first),
 * with rater error share err applied; *flipped says whether it was.
 * Returns "a" or "b". */
const char *replay_answer_pair(const struct replay_oracle *o, size_t i, bool swapped, double err,
                               bool *flipped);

/* The oracle's answer to the step of item i's response side ('a' or 'b')
 * that starts at byte span_start, with error share err: "yes" or "no".
 * The preferred side's steps are right; without a step rule every step of
 * the other side is wrong. */
const char *replay_answer_step(const struct replay_oracle *o, size_t i, char side,
                               size_t span_start, double err, bool *flipped);

/* The step rule's index of the first wrong step of an incorrect solution
 * (see above), 0-based over its non-blank lines; 0 for a solution without
 * any. */
long replay_wrong_step(const char *solution, const char *reference, const char *question);

/* How many non-blank lines of text end before byte offset off: the index
 * of the step starting there. */
long replay_step_index(const char *text, size_t off);

/* ---- figures ---- */

/* What the driver counts in one round (or over all items at the end). */
struct replay_row {
    int64_t items;          /* items posted */
    int64_t human_tasks;    /* tasks answered by the simulated rater */
    int64_t bytes_read;     /* model text those tasks showed, bytes */
    int64_t baseline_bytes; /* both responses of each item: what whole-item review reads */
    int64_t resolved;       /* items with a final verdict when counted */
    int64_t auto_resolved;  /* of those, decided without any human task */
    int64_t agreeing;       /* of those, with the oracle's verdict */
    int64_t flipped;        /* answers the rater error flipped */
    int64_t layer_answers;  /* sub-questions of the items the layer answered */
};

/* Counts one item into row: decided when status is "resolved" or "auto"
 * and verdict is "a", "b" or "tie" (NULL: none); auto-resolved when its
 * status is "auto" or no human task was answered for it; agreeing when the
 * verdict is the oracle's side. */
void replay_count_item(struct replay_row *row, const struct replay_item *it, const char *status,
                       const char *verdict, int64_t human_tasks);

/* The shares of a row and of a campaign against human-only review (one
 * whole-item judgement per item and overlap label, reading both
 * responses). */
struct replay_figures {
    double tasks_per_resolved;     /* human tasks / resolved items; 0 when none resolved */
    double auto_share;             /* auto-resolved / items */
    double agreement;              /* agreeing / items: an undecided item disagrees */
    double judgements_ratio;       /* human tasks / (items x overlap) */
    double bytes_ratio;            /* bytes read / (baseline bytes x overlap) */
    double human_judgements_saved; /* 1 - judgements_ratio, clamped to [0, 1] */
    double bytes_read_saved;       /* 1 - bytes_ratio, clamped to [0, 1] */
};

/* Fills f from row with overlap labels per whole-item judgement (>= 1).
 * Every share is 0 for an empty row. */
void replay_figures(const struct replay_row *row, int64_t overlap, struct replay_figures *f);

/* Adds the counts of rows[0..n) into *sum (resolved, auto_resolved and
 * agreeing too; a campaign's totals recount those from the final
 * verdicts instead). */
void replay_rows_sum(const struct replay_row *rows, size_t n, struct replay_row *sum);

#endif
