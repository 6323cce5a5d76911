/* Sub-questions over HTTP: the plan made at ingest, and their JSON in an
 * item and in a leased task. */
#include "api_subq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "store_subq.h"
#include "subq.h"

int api_subq_plan(struct store *s, const struct layer *l, struct store_item_in *it)
{
    it->subq = NULL;
    /* The layer settled it: never decomposed. */
    if ((it->layer_id && it->route_auto && it->verdict) || !it->domain)
        return 0;
    struct subq_domain d;
    int rc = store_domain_get(s, it->domain, &d);
    if (!rc)
        rc = subq_plan(&d, l, it->prompt, it->response_a, it->response_b, &it->subq);
    subq_domain_clear(&d);
    return rc;
}

static json_t *empty_null(const char *text)
{
    return text[0] ? json_string(text) : json_null();
}

/* The public object of one sub-question of an item (pair: whether it
 * has two responses). Returns a new reference. */
static json_t *subq_json(const struct store_subq *q, bool pair)
{
    char side[2] = {q->side, '\0'};
    json_t *o = json_pack("{s:I,s:o,s:s,s:[I,I],s:s}", "id", (json_int_t)q->id, "response",
                          pair ? json_string(side) : json_null(), "kind", q->kind, "span",
                          (json_int_t)q->span_start, (json_int_t)q->span_end, "question",
                          q->question ? q->question : "");
    json_object_set_new(o, "score", q->has_score ? json_real(q->score) : json_null());
    json_object_set_new(o, "confidence",
                        q->has_confidence ? json_real(q->confidence) : json_null());
    json_object_set_new(o, "source", empty_null(q->source));
    json_object_set_new(o, "answer", empty_null(q->answer));
    json_object_set_new(o, "status", json_string(q->status));
    return o;
}

/* {"a": "pass"|"fail"|"open", "b": ... (pairs), "state", "order",
 * "reason", "provenance"}. Returns a new reference. */
static json_t *rollup_json(const struct store_subqs *q, bool pair)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "a", rollup_verdict_name(q->side_a), "state", q->state,
                          "order", q->order);
    if (pair)
        json_object_set_new(o, "b", json_string(rollup_verdict_name(q->side_b)));
    json_object_set_new(o, "reason", empty_null(q->reason));
    json_object_set_new(o, "provenance", api_json_text(q->provenance));
    return o;
}

static void set_subqs(json_t *o, const struct store_subqs *q, bool pair)
{
    json_t *arr = json_array();
    for (size_t i = 0; q && i < q->n; i++)
        json_array_append_new(arr, subq_json(&q->v[i], pair));
    json_object_set_new(o, "subquestions", arr);
    json_object_set_new(o, "rollup", q ? rollup_json(q, pair) : json_null());
}

int api_subq_item(struct store *s, const struct store_item *it, json_t *o)
{
    struct store_subqs *q;
    int rc = store_item_subqs(s, it->seq, &q);
    if (rc)
        return rc;
    set_subqs(o, q, it->response_b != NULL);
    store_subqs_free(q);
    return 0;
}

void api_subq_task(json_t *o, const struct store_task *t)
{
    if (!t->subqs)
        return;
    bool pair = t->response_b != NULL;
    set_subqs(o, t->subqs, pair);
    for (size_t i = 0; t->subq_id && i < t->subqs->n; i++)
        if (t->subqs->v[i].id == t->subq_id)
            json_object_set_new(o, "subquestion", subq_json(&t->subqs->v[i], pair));
}
