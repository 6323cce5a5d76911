#include "route.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *threshold_json(double tau)
{
    return isfinite(tau) ? json_real(tau) : json_null();
}

static int route_pair(const struct layer *l, const struct layer_info *info, const char *prompt,
                      const char *a, const char *b, const struct group_view *g,
                      struct route_decision *out)
{
    struct layer_pair p;
    bool grouped = info->uses_groups && g && group_view_others(g, a, b) > 0;
    int rc = grouped ? layer_score_pair_group(l, prompt, a, b, g->s, g->n, &p)
                     : layer_score_pair(l, prompt, a, b, &p);
    if (rc)
        return rc;
    double tau = grouped ? info->group_threshold : info->threshold;
    out->confidence = p.confidence;
    out->verdict = p.p_a >= 0.5 ? "a" : "b";
    out->auto_route = isfinite(tau) && p.confidence >= tau;
    out->scores =
        json_pack("{s:I,s:{s:f,s:f},s:{s:f,s:f},s:f,s:f,s:f,s:o,s:s}", "layer",
                  (json_int_t)out->layer_id, "a", "mean", p.ra, "sd", p.ra_sd, "b", "mean", p.rb,
                  "sd", p.rb_sd, "p_a", p.p_a, "p_sd", p.p_sd, "confidence", p.confidence,
                  "threshold", threshold_json(tau), "preference", out->verdict);
    if (info->uses_groups && out->scores)
        json_object_set_new(out->scores, "group_samples",
                            json_integer(grouped        ? (json_int_t)g->n
                                         : strcmp(a, b) ? 2
                                                        : 1));
    return 0;
}

static int route_single(const struct layer *l, const struct layer_info *info, const char *prompt,
                        const char *a, struct route_decision *out)
{
    struct layer_single s;
    int rc = layer_score_single(l, prompt, a, &s);
    if (rc)
        return rc;
    double tau = info->point_threshold;
    out->scores = json_pack("{s:I,s:f,s:f,s:o}", "layer", (json_int_t)out->layer_id, "mean", s.r,
                            "sd", s.r_sd, "threshold", threshold_json(tau));
    if (!s.has_point) {
        /* Without a pointwise head the layer cannot judge a single
         * response on its own: a human does. */
        out->confidence = 0.5;
        return 0;
    }
    out->confidence = s.confidence;
    out->verdict = s.p_good >= 0.5 ? "good" : "bad";
    out->auto_route = isfinite(tau) && s.confidence >= tau;
    json_object_set_new(out->scores, "p_good", json_real(s.p_good));
    json_object_set_new(out->scores, "confidence", json_real(s.confidence));
    json_object_set_new(out->scores, "preference", json_string(out->verdict));
    return 0;
}

int route_item(const struct layer *l, const char *prompt, const char *a, const char *b,
               struct route_decision *out)
{
    return route_item_group(l, prompt, a, b, NULL, out);
}

int route_item_group(const struct layer *l, const char *prompt, const char *a, const char *b,
                     const struct group_view *g, struct route_decision *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return 0;
    struct layer_info info;
    layer_describe(l, &info);
    out->scored = true;
    out->layer_id = layer_id(l);
    int rc =
        b ? route_pair(l, &info, prompt, a, b, g, out) : route_single(l, &info, prompt, a, out);
    if (!rc && !out->scores)
        rc = -ENOMEM;
    return rc;
}

int route_store_item(const struct layer *l, struct store_item_in *it, char **scores,
                     struct route_decision *d)
{
    return route_store_item_group(l, it, NULL, scores, d);
}

int route_store_item_group(const struct layer *l, struct store_item_in *it,
                           const struct group_view *g, char **scores, struct route_decision *d)
{
    struct route_decision mine;
    struct route_decision *out = d ? d : &mine;
    if (scores)
        *scores = NULL;
    int rc = route_item_group(l, it->prompt, it->response_a, it->response_b, g, out);
    if (rc)
        return rc;
    it->layer_id = out->layer_id;
    it->route_auto = out->auto_route;
    it->verdict = out->verdict;
    it->confidence = out->confidence;
    it->scores = NULL;
    if (scores && out->scores) {
        *scores = json_dumps(out->scores, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (!*scores)
            rc = -ENOMEM;
        it->scores = *scores;
    }
    if (!d)
        json_decref(mine.scores);
    return rc;
}

void route_group_clear(struct route_group *g)
{
    store_samples_free(g->stored, g->nstored);
    memset(g, 0, sizeof *g);
}

int route_group_read(struct store *s, int64_t key_id, const char *group, struct route_group *g)
{
    memset(g, 0, sizeof *g);
    group_view_init(&g->view);
    int rc = store_group_samples(s, key_id, group, STORE_GROUP_ITEMS_MAX, &g->stored, &g->nstored);
    for (size_t i = 0; !rc && i < g->nstored; i++) {
        group_view_add(&g->view, g->stored[i].a);
        group_view_add(&g->view, g->stored[i].b);
    }
    g->seen = (int)g->nstored;
    return rc;
}

void route_group_join(struct route_group *g, const char *a, const char *b)
{
    if (g->seen < STORE_GROUP_ITEMS_MAX)
        g->seen++;
    g->joined = group_view_add(&g->view, a) | group_view_add(&g->view, b);
}

/* Whether layer l scores pairs with their groups. */
static bool uses_groups(const struct layer *l)
{
    struct layer_info info;
    layer_describe(l, &info);
    return info.uses_groups;
}

/* Scores one stored item with l, with its group's samples when it has a
 * group and l uses groups. 0 or negative errno. */
static int rescore_one_item(struct store *s, const struct layer *l, bool groups,
                            const struct store_item *x, char **txt, struct store_item_in *it)
{
    *it = (struct store_item_in){
        .prompt = x->prompt, .response_a = x->response_a, .response_b = x->response_b};
    if (!groups || !x->group || !x->response_b)
        return route_store_item(l, it, txt, NULL);
    struct route_group g;
    int rc = route_group_read(s, x->key_id, x->group, &g);
    if (!rc) {
        group_view_add(&g.view, x->response_a);
        group_view_add(&g.view, x->response_b);
        rc = route_store_item_group(l, it, &g.view, txt, NULL);
    }
    route_group_clear(&g);
    return rc;
}

void route_human_only(struct store_item_in *it, struct route_decision *d)
{
    if (it) {
        it->route_auto = false;
        it->verdict = NULL;
    }
    if (d)
        d->auto_route = false;
}

void route_unscored(struct store_item_in *it)
{
    it->layer_id = 0;
    it->route_auto = false;
    it->verdict = NULL;
    it->scores = NULL;
}

/* Scores n items with l into v (scores texts malloc'd into txt). 0 or
 * negative errno. */
static int rescore_decide(struct store *s, const struct layer *l, const struct store_item *items,
                          size_t n, struct store_rescore *v, char **txt)
{
    bool groups = uses_groups(l);
    for (size_t i = 0; i < n; i++) {
        struct store_item_in it;
        int rc = rescore_one_item(s, l, groups, &items[i], &txt[i], &it);
        if (rc)
            return rc;
        v[i] = (struct store_rescore){.seq = items[i].seq,
                                      .layer_id = it.layer_id,
                                      .route_auto = it.route_auto,
                                      .verdict = it.verdict,
                                      .confidence = it.confidence,
                                      .scores = it.scores,
                                      .stale = items[i].group_stale};
    }
    return 0;
}

/* One batch after *after: read (the items a new layer has not scored, or
 * with stale those whose group grew), score, write. *n receives how many
 * were read (0: done). 0 or negative errno. */
static int rescore_batch(struct store *s, const struct layer *l, struct route_rescore *run,
                         bool stale, int64_t *after, size_t *n)
{
    struct store_item *items = NULL;
    int rc = stale ? store_group_stale_pending(s, *after, run->batch, &items, n)
                   : store_rescore_pending(s, layer_id(l), *after, run->batch, &items, n);
    if (rc || *n == 0)
        return rc;
    struct store_rescore *v = calloc(*n, sizeof *v);
    char **txt = calloc(*n, sizeof *txt);
    rc = v && txt ? rescore_decide(s, l, items, *n, v, txt) : -ENOMEM;
    size_t updated = 0, settled = 0;
    if (!rc)
        rc = store_rescore_apply(s, v, *n, &updated, &settled);
    run->rescored += updated;
    run->settled += settled;
    run->still_human += updated - settled;
    *after = items[*n - 1].seq;
    for (size_t i = 0; txt && i < *n; i++)
        free(txt[i]);
    free(txt);
    free(v);
    store_items_free(items, *n);
    return rc;
}

/* route_rescore and route_group_rescore: stale picks the items. */
static int rescore_run(struct store *s, const struct layer *l, struct route_rescore *run,
                       bool stale)
{
    run->rescored = run->settled = run->still_human = 0;
    if (!l)
        return -EINVAL;
    if (!run->batch)
        run->batch = ROUTE_RESCORE_BATCH;
    int64_t after = 0;
    size_t n = 0;
    int rc;
    do {
        if (run->stop && run->stop(run->cls))
            return 0;
        rc = rescore_batch(s, l, run, stale, &after, &n);
    } while (!rc && n > 0);
    return rc;
}

int route_rescore(struct store *s, const struct layer *l, struct route_rescore *run)
{
    return rescore_run(s, l, run, false);
}

int route_group_rescore(struct store *s, const struct layer *l, struct route_rescore *run)
{
    return rescore_run(s, l, run, true);
}
