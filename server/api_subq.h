/* Sub-questions over HTTP: planning them for an item at ingest, their JSON
 * in an item and in a leased task, and the domain settings endpoints
 * (api_domains.c). */
#ifndef RUNG_API_SUBQ_H
#define RUNG_API_SUBQ_H

#include <jansson.h>

#include "http.h"
#include "layer.h"
#include "store.h"
#include "subq.h"

/* Plans the sub-questions of an item about to be stored, once the layer l
 * (NULL: none) has routed it: nothing for an item the layer settled or
 * one of a domain without a decomposer or not hard; else it->subq
 * receives the plan (free it with subq_plan_free after the ingest).
 * Reads the domain's settings from s. Any thread; may block as l's
 * scoring does. Returns 0, -ENOMEM, -EIO or the layer's negative errno. */
int api_subq_plan(struct store *s, const struct layer *l, struct store_item_in *it);

/* Adds "subquestions" (an array, empty when the item was not decomposed)
 * and "rollup" (an object, or null) to the item object o. Returns 0 or
 * the store's negative errno (o is then unchanged). */
int api_subq_item(struct store *s, const struct store_item *it, json_t *o);

/* Adds to a leased task's object o its sub-question ("subquestion") and
 * the item's sub-questions with their roll-up, when t has them. */
void api_subq_task(json_t *o, const struct store_task *t);

/* PUT /v1/domains/{name} and GET /v1/domains (api_domains.c). */
void api_domain_put(struct req *r, const char *param);
void api_domains_list(struct req *r, const char *param);
/* GET /v1/checker-answers: how the checker's answers fare on settled items. */
void api_checker_answers(struct req *r, const char *param);

#endif
