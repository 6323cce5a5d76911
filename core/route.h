/* Routing: what the active layer decides about one item. Pure logic. */
#ifndef RUNG_ROUTE_H
#define RUNG_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "reward.h"

struct route_decision {
    bool scored;         /* a layer scored the item */
    bool auto_route;     /* confidence >= tau: the layer's verdict stands */
    const char *verdict; /* "a" | "b" | "good" | "bad" (static), NULL if none */
    double confidence;   /* in [0.5, 1] when scored */
    json_t *scores;      /* new JSON object of the layer's scores, or NULL */
};

/* Scores an item (b == NULL for a single response) with layer l (NULL:
 * no active layer, everything goes to humans) and decides its route. Fills
 * out; out->scores must be released with json_decref. Returns 0 or
 * -ENOMEM. */
int route_item(const struct reward_layer *l, int64_t layer_id, const char *prompt, const char *a,
               const char *b, struct route_decision *out);

#endif
