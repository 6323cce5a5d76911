/* Routing: what the active layer decides about one item. Pure logic over
 * layer.h: any kind of layer routes the same way. */
#ifndef RUNG_ROUTE_H
#define RUNG_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "group.h"
#include "layer.h"
#include "store.h"

struct route_decision {
    bool scored;         /* a layer scored the item */
    bool auto_route;     /* confidence >= tau: the layer's verdict stands */
    const char *verdict; /* "a" | "b" | "good" | "bad" (static), NULL if none */
    double confidence;   /* in [0.5, 1] when scored */
    int64_t layer_id;    /* the layer that scored it, 0 when none */
    json_t *scores;      /* new JSON object of the layer's scores, or NULL */
};

/* Scores an item (b == NULL for a single response) with layer l (NULL:
 * no active layer, everything goes to humans) and decides its route. Fills
 * out; out->scores must be released with json_decref. Returns 0, -ENOMEM,
 * or the layer's negative errno (out->scores is then NULL). */
int route_item(const struct layer *l, const char *prompt, const char *a, const char *b,
               struct route_decision *out);

/* route_item with the pair's sample group g (NULL: none; see group.h): a
 * layer that uses groups scores the pair with g's samples when g holds
 * samples besides a and b, and routes it on its group threshold; scores
 * then carry "group_samples", the samples the checkers compared. */
int route_item_group(const struct layer *l, const char *prompt, const char *a, const char *b,
                     const struct group_view *g, struct route_decision *out);

/* The one place an item to store is scored: routes it with l and writes the
 * decision into its layer_id, route_auto, verdict, confidence and scores.
 * *scores receives the scores as compact JSON text (malloc'd, NULL when l
 * is NULL), which it->scores borrows: free it after the ingest; with
 * scores NULL (scoring without storing) it->scores stays NULL. d, when
 * not NULL, receives the decision (the caller decrefs d->scores); else the
 * decision is dropped. Returns as route_item. */
int route_store_item(const struct layer *l, struct store_item_in *it, char **scores,
                     struct route_decision *d);

/* route_store_item with the item's sample group g (as route_item_group). */
int route_store_item_group(const struct layer *l, struct store_item_in *it,
                           const struct group_view *g, char **scores, struct route_decision *d);

/* ---- sample groups read from the store ---- */

/* A group as stored, and what a new item's joining does to it. */
struct route_group {
    struct store_sample *stored; /* the group's first items (owned) */
    size_t nstored;
    struct group_view view; /* their distinct responses (borrowed from stored) */
    int seen;               /* items the view holds, for store_item_in.group_seen */
    bool joined;            /* the last route_group_join added a sample */
};

/* Reads the first STORE_GROUP_ITEMS_MAX items of key_id's group into g
 * (clear it with route_group_clear, also on failure). Returns as
 * store_group_samples. */
int route_group_read(struct store *s, int64_t key_id, const char *group, struct route_group *g);

/* An item with responses a and b (b NULL for a single response; both
 * borrowed, kept alive by the caller while g is used) joins g: g->joined
 * tells whether it added a sample to the group's first ones. */
void route_group_join(struct route_group *g, const char *a, const char *b);

/* Frees what g owns and empties it. */
void route_group_clear(struct route_group *g);

/* A layer demoted by its audits (audit.h) settles nothing: clears the
 * auto route of an item it scored (it, d may each be NULL), which then
 * goes to people with the layer's scores as assistance. */
void route_human_only(struct store_item_in *it, struct route_decision *d);

/* An item the layer could not score (an external model that failed or
 * timed out) goes to people unscored, never with a guessed verdict:
 * clears what route_store_item would have set. */
void route_unscored(struct store_item_in *it);

/* ---- rescoring queued items with a newly active layer ---- */

#define ROUTE_RESCORE_BATCH 256 /* items per read and per write transaction */

struct route_rescore {
    size_t batch;            /* items per transaction, 0: ROUTE_RESCORE_BATCH */
    bool (*stop)(void *cls); /* asked between batches: true ends the run early; may be NULL */
    void *cls;
    size_t rescored;    /* out: items given l's scores and route */
    size_t settled;     /* out: of those, confident: verdict by the layer, task closed */
    size_t still_human; /* out: of those, still waiting for a human, now with assistance */
};

/* Scores again, with l, every item still waiting for its first human label
 * that l did not score (store_rescore_pending), in seq order and bounded
 * batches, each written in its own transaction on the store's writer. An
 * item the layer is sure of is settled (route auto); the others keep their
 * task with l's scores as assistance. Resumable: a run that stopped (or a
 * process that died) leaves the rest for the next run, which finds them by
 * their layer. Returns 0, -EINVAL (l NULL), or the first negative errno of
 * the store or the layer; the counts say what was done until then. */
int route_rescore(struct store *s, const struct layer *l, struct route_rescore *run);

/* As route_rescore, for the items whose sample group grew since they were
 * scored (items.group_stale): each is scored again with its group as
 * stored now (its first STORE_GROUP_ITEMS_MAX items), re-routed, and its
 * mark cleared unless another sample joined meanwhile. An item labelled,
 * leased or settled meanwhile is left alone. Same results. */
int route_group_rescore(struct store *s, const struct layer *l, struct route_rescore *run);

#endif
