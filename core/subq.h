/* subq.h - how a domain's items are split into sub-questions, and the
 * plan of one item's sub-questions: its responses decomposed
 * (decompose.h), each segment's question, and the active layer's step
 * score, with the answers the layer is sure of. Pure apart from the
 * layer's scoring, which may block for a kind that says so (layer.h):
 * call subq_plan where the item itself is scored. */
#ifndef RUNG_SUBQ_H
#define RUNG_SUBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decompose.h"
#include "layer.h"
#include "rollup.h"

#define SUBQ_DOMAIN_MAX 128     /* domain name, bytes without the NUL */
#define SUBQ_CRITERIA_MAX 32    /* criteria of one rubric */
#define SUBQ_CRITERION_MAX 4096 /* bytes of one criterion's text */
#define SUBQ_HARD_TOKENS_MAX 1000000000

/* One rubric criterion. */
struct subq_criterion {
    char *text; /* malloc'd, owned */
    bool veto;  /* a no fails the response; else it counts as a score */
};

/* A domain's settings, stored or the defaults. */
struct subq_domain {
    char name[SUBQ_DOMAIN_MAX + 1];
    enum decompose_kind decomposer;
    struct subq_criterion *criteria; /* malloc'd array of ncriteria, owned */
    size_t ncriteria;
    int64_t hard_tokens;     /* a response longer than this many tokens is hard */
    enum rollup_order order; /* step_order */
    bool checker_answers;    /* a step with a wrong equation is answered no by the checker */
    unsigned checkers;       /* checkers whose findings tasks show: 1 << enum check_kind */
    bool stored;             /* set by PUT /v1/domains, not a default */
};

/* Frees what a domain holds and zeroes it. NULL is a no-op. */
void subq_domain_clear(struct subq_domain *d);

/* The default settings of domain name (NULL: an item without a domain):
 * math: steps; code: code; any other: none; sequential order, 0 hard
 * tokens, no criteria. Names longer than SUBQ_DOMAIN_MAX are cut. */
void subq_domain_default(const char *name, struct subq_domain *out);

/* Reads criteria from JSON text, an array of {"text": str, "veto": bool}
 * (veto optional, default true), into d (replacing any it held). Returns
 * 0, -EINVAL for any other shape, an empty or too long text, or more than
 * SUBQ_CRITERIA_MAX, -ENOMEM. NULL text: no criteria. */
int subq_domain_set_criteria(struct subq_domain *d, const char *json_text);

/* The criteria of d as compact JSON text (malloc'd, the caller frees), NULL
 * when out of memory. */
char *subq_domain_criteria_json(const struct subq_domain *d);

/* One sub-question to create. */
struct subq_plan_q {
    char side;   /* 'a' or 'b' */
    int ordinal; /* 0-based, per side */
    enum decompose_seg_kind kind;
    size_t start, end; /* byte span into that response */
    char *question;    /* malloc'd, owned */
    bool sinks;        /* a no fails the response */
    bool has_score;
    double score; /* P(correct) with a pointwise head, else the raw reward */
    bool has_confidence;
    double confidence;  /* the pointwise head's confidence */
    const char *answer; /* "yes" | "no" when the layer is sure (static), else NULL */
    const char *source; /* who answered: "layer" or "checker" (static); NULL: "layer" */
};

/* The sub-questions of one item, all sides, a's first. */
struct subq_plan {
    enum rollup_order order;
    size_t n;
    struct subq_plan_q *q; /* malloc'd array of n */
};

/* Plans the sub-questions of an item (b NULL for a single response) of
 * domain d, with layer l (NULL: no scores, no answers). An item is hard
 * when d has a decomposer and some response has more than d->hard_tokens
 * tokens; then every response is split, at most DECOMPOSE_MAX_SEGMENTS
 * segments each, and *out receives a new plan (free with subq_plan_free);
 * else *out is NULL. A step the layer scores with a pointwise confidence
 * at or above its point threshold is answered by it (yes when P(correct)
 * >= 0.5). With d->checker_answers (and the arithmetic checker among
 * d->checkers), a step (DECOMPOSE_SEG_STEP) that holds an
 * equation the arithmetic checker finds wrong (check_arith_scan: all of
 * it inside the step's span) is answered no by the checker instead
 * (source "checker"): a decisive finding; nothing else is. Returns 0,
 * -ENOMEM, or the layer's negative errno (then *out is NULL). */
int subq_plan(const struct subq_domain *d, const struct layer *l, const char *prompt, const char *a,
              const char *b, struct subq_plan **out);

/* Frees a plan. NULL is a no-op. */
void subq_plan_free(struct subq_plan *p);

/* How checker answers fare on settled items: a checker's no on a
 * response agrees with a settled verdict for the other response, a yes
 * with one for the same response. */
struct subq_checker_tally {
    int64_t answered; /* checker answers */
    int64_t settled;  /* of those, on items with a settled verdict */
    int64_t agreeing; /* of those, agreeing with it */
};

/* Adds n checker answers of answer ("yes" | "no") on response side ('a'
 * | 'b') to t; settled is the item's settled verdict ('a' | 'b'), 0 when
 * it has none. */
void subq_checker_tally_add(struct subq_checker_tally *t, char side, const char *answer,
                            char settled, int64_t n);

#endif
