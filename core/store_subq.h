/* store_subq.h - the store's sub-questions: domain settings, and an item's
 * sub-questions with its roll-up as stored. Creating them (at ingest),
 * answering them (through the labels of their tasks) and rolling them up
 * happen inside the store's own transactions (store_subq.c); what is
 * decided there is rollup.h's. Same threading and error rules as
 * store.h. */
#ifndef RUNG_STORE_SUBQ_H
#define RUNG_STORE_SUBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "subq.h"

/* One sub-question as stored. */
struct store_subq {
    int64_t id;
    char side;                    /* 'a' or 'b' ('a' for a single response) */
    int ordinal;                  /* 0-based, per side */
    char kind[16];                /* step | code | paragraph | criterion */
    int64_t span_start, span_end; /* byte offsets into that response */
    char *question;               /* owned */
    bool has_score;
    double score;
    bool has_confidence;
    double confidence;
    char source[8];  /* layer | human; "" while unanswered */
    char answer[8];  /* yes | no; "" while unanswered */
    char status[12]; /* pending | open | answered | closed */
    bool sinks;      /* a no fails the response (steps, veto criteria) */
};

/* An item's sub-questions, a's first in order, and its roll-up. */
struct store_subqs {
    struct store_subq *v; /* malloc'd array of n */
    size_t n;
    char order[12];                     /* sequential | parallel */
    char state[12];                     /* open | whole | resolved */
    char reason[16];                    /* whole: both_pass | both_fail | unsure; else "" */
    char *provenance;                   /* JSON text once decided by roll-up, else NULL; owned */
    enum rollup_verdict side_a, side_b; /* each response's roll-up so far (b: pairs) */
};

/* Frees what q holds and q itself. NULL is a no-op. */
void store_subqs_free(struct store_subqs *q);

/* Reads the sub-questions of item seq into *out (free with
 * store_subqs_free). Returns 0 with *out NULL when the item was not
 * decomposed, 0 with *out set, -ENOMEM or -EIO. */
int store_item_subqs(struct store *s, int64_t seq, struct store_subqs **out);

/* Stores a domain's settings (replacing any), for items ingested from now
 * on. Returns 0, -EINVAL (an empty name, criteria with another decomposer
 * or none with criteria), -ENOMEM, -EIO. */
int store_domain_put(struct store *s, const struct subq_domain *d);

/* The settings items of domain name get into *out (clear it with
 * subq_domain_clear): the stored ones, else the defaults
 * (subq_domain_default; NULL name: no domain, no read). Returns 0,
 * -ENOMEM, -EIO (then *out holds the defaults). */
int store_domain_get(struct store *s, const char *name, struct subq_domain *out);

/* Every stored domain, by name, into a malloc'd array *v of *n (free with
 * store_domains_free). Returns 0, -ENOMEM, -EIO (then nothing). */
int store_domains_list(struct store *s, struct subq_domain **v, size_t *n);

/* Clears and frees n domains. NULL is a no-op. */
void store_domains_free(struct subq_domain *v, size_t n);

/* Checker answers counted by their side, their answer and their item's
 * settled verdict. */
struct store_checker_count {
    char side;      /* 'a' or 'b' */
    char answer[8]; /* yes | no */
    char settled;   /* the item's gold answer, else a human verdict of two
                     * or more whole-item labels all the same ('a' or 'b');
                     * 0: not settled so */
    int64_t n;
};

/* The counts of every checker answer (sub-questions answered with source
 * "checker", deleted items left out) into a malloc'd array *v of *n (the
 * caller frees it). Returns 0, -ENOMEM, -EIO. */
int store_checker_counts(struct store *s, struct store_checker_count **v, size_t *n);

#endif
