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

#endif
