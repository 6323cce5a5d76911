/* Routing: what the active layer decides about one item. Pure logic over
 * layer.h: any kind of layer routes the same way. */
#ifndef RUNG_ROUTE_H
#define RUNG_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

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

/* The one place an item to store is scored: routes it with l and writes the
 * decision into its layer_id, route_auto, verdict, confidence and scores.
 * *scores receives the scores as compact JSON text (malloc'd, NULL when l
 * is NULL), which it->scores borrows: free it after the ingest; with
 * scores NULL (scoring without storing) it->scores stays NULL. d, when
 * not NULL, receives the decision (the caller decrefs d->scores); else the
 * decision is dropped. Returns as route_item. */
int route_store_item(const struct layer *l, struct store_item_in *it, char **scores,
                     struct route_decision *d);

/* A layer demoted by its audits (audit.h) settles nothing: clears the
 * auto route of an item it scored (it, d may each be NULL), which then
 * goes to people with the layer's scores as assistance. */
void route_human_only(struct store_item_in *it, struct route_decision *d);

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

#endif
