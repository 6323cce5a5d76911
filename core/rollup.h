/* rollup.h - the rules of assisted evaluation by sub-questions, as pure
 * functions: which sub-question of a response may be asked next (early
 * stop, sequential or parallel), what a sub-question's labels decide
 * (yes, no, ask one more rater, escalate), when a response passes or
 * fails, and what a pair or a single response is then decided to be.
 * No SQL, no HTTP: the store gathers the states inside its transaction,
 * asks these rules and writes what they answer. */
#ifndef RUNG_ROLLUP_H
#define RUNG_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>

#include "aggregate.h"

/* Where one sub-question stands. */
enum rollup_state {
    RS_PENDING, /* not offered yet (sequential order waits for the steps before it) */
    RS_OPEN,    /* asked: a human task is queued */
    RS_YES,     /* answered yes (by a human or the layer) */
    RS_NO,      /* answered no */
    RS_CLOSED,  /* never to be asked: early stop, or the item went to a whole task */
};

/* One sub-question as the rules see it. */
struct rollup_step {
    enum rollup_state state;
    bool sinks; /* a no fails its response: every step, code unit and
                   paragraph, and veto criteria (not other criteria) */
};

/* In which order a response's sub-questions are asked. */
enum rollup_order {
    ROLLUP_SEQUENTIAL, /* one at a time: the next once the one before is answered yes */
    ROLLUP_PARALLEL,   /* all at once */
};

/* What to do with one sub-question. */
enum rollup_action {
    RA_KEEP,  /* nothing changes */
    RA_OPEN,  /* ask it now: queue its human task (or take the layer's answer) */
    RA_CLOSE, /* early stop: close it; a label already given is kept */
};

/* Reads "sequential" or "parallel" into *out. 0, or -EINVAL (also for
 * NULL) with *out unchanged. */
int rollup_order_parse(const char *name, enum rollup_order *out);

/* Name of an order as rollup_order_parse reads it (static), NULL outside
 * the enum. */
const char *rollup_order_name(enum rollup_order order);

/* Early stop for one response of n sub-questions s[0..n), in order: fills
 * act[0..n). Once a sinking sub-question is answered no, every pending or
 * open one is closed (labels already given are kept) and none is opened.
 * Otherwise, sequential: the first sub-question not yet answered is opened
 * when it is pending (nothing changes while it is open); parallel: every
 * pending one is opened. A non-sinking no (a criterion without veto) ends
 * nothing. */
void rollup_plan(enum rollup_order order, const struct rollup_step *s, size_t n,
                 enum rollup_action *act);

/* A response's result. */
enum rollup_verdict {
    RV_OPEN, /* not decided yet */
    RV_PASS, /* every sinking sub-question answered yes */
    RV_FAIL, /* a sinking sub-question answered no */
};

/* The result of one response from its sub-questions: RV_FAIL once a
 * sinking one is no; RV_PASS when every one is answered (yes, or no
 * without veto); else RV_OPEN. A response without sub-questions (empty,
 * nothing to judge) fails. A closed sub-question of a response that did
 * not fail leaves it open. */
enum rollup_verdict rollup_side(const struct rollup_step *s, size_t n);

/* Name of a verdict: "open", "pass", "fail" (static); NULL outside the enum. */
const char *rollup_verdict_name(enum rollup_verdict v);

/* The score of a rubric: the share of its non-sinking sub-questions
 * answered yes, in [0, 1]; -1 when it has none answered. */
double rollup_rubric_score(const struct rollup_step *s, size_t n);

/* What a sub-question's completed labels decide. */
enum rollup_answer {
    RANS_YES,      /* the step is correct */
    RANS_NO,       /* the step is wrong */
    RANS_ASK_MORE, /* unsure or split: one more rater, once */
    RANS_ESCALATE, /* unsure again: the item goes to a whole-item task */
};

/* Decides a sub-question from its labels' counts: more yes than no is
 * RANS_YES, more no than yes RANS_NO (unsure abstains); a tie (all unsure,
 * or as many yes as no) asks one more rater when extra_used is false, and
 * escalates once it has had that extra label. */
enum rollup_answer rollup_answer(int yes, int no, int unsure, bool extra_used);

/* True when answer is a sub-question answer: yes, no or unsure. */
bool rollup_answer_fits(const char *answer);

/* label_admissible() for a sub-question task, whose facts carry yes, no or
 * unsure answers: LABEL_BAD_ANSWER for any other answer, else the same
 * rules as any task (served, lease, slots, idempotent per rater; the
 * facts' kind is ignored). */
enum label_result rollup_label_admissible(const struct label_facts *f);

/* What an item decided by its responses' results comes to. */
enum rollup_decision {
    RD_WAIT,  /* a response is still open */
    RD_A,     /* pair: a passes, b fails: a is chosen */
    RD_B,     /* pair: b passes, a fails */
    RD_GOOD,  /* single: it passes */
    RD_BAD,   /* single: it fails */
    RD_WHOLE, /* pair: both pass or both fail: one whole-pair human task */
};

/* The item's decision from its sides' results (b ignored unless pair). A
 * pair waits while either side is open, even when the other failed: one
 * side passing and the other failing is the only answer roll-up gives. */
enum rollup_decision rollup_decide(bool pair, enum rollup_verdict a, enum rollup_verdict b);

/* The item verdict of a decision: "a", "b", "good", "bad" (static), NULL
 * for RD_WAIT and RD_WHOLE. */
const char *rollup_decision_verdict(enum rollup_decision d);

#endif
