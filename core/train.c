#include "train.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TRAIN_LIST_MIN 1024 /* first capacity of a growing list */

/* strdup of s ("" for NULL); sets *rc to -ENOMEM on failure. */
static char *dup_text(const char *s, int *rc)
{
    char *d = strdup(s ? s : "");
    if (!d)
        *rc = -ENOMEM;
    return d;
}

/* Makes room for one more element of size bytes in *v (n used, *cap
 * allocated). Returns 0 or -ENOMEM. */
static int grow(void **v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : TRAIN_LIST_MIN;
    void *p = realloc(*v, c * size);
    if (!p)
        return -ENOMEM;
    *v = p;
    *cap = c;
    return 0;
}

static void pair_free(struct reward_pair_ex *e)
{
    free((char *)e->prompt);
    free((char *)e->a);
    free((char *)e->b);
}

int train_pairs_add(struct train_pairs *t, const char *prompt, const char *a, const char *b,
                    double y, double weight)
{
    int rc = grow((void **)&t->v, t->n, &t->cap, sizeof *t->v);
    if (rc)
        return rc;
    struct reward_pair_ex e = {.prompt = dup_text(prompt, &rc),
                               .a = dup_text(a, &rc),
                               .b = dup_text(b, &rc),
                               .y = y,
                               .weight = weight};
    if (rc)
        pair_free(&e);
    else
        t->v[t->n++] = e;
    return rc;
}

void train_pairs_clear(struct train_pairs *t)
{
    for (size_t i = 0; i < t->n; i++)
        pair_free(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- pairs already in the store ---- */

struct key_list {
    uint64_t *v;
    size_t n, cap;
};

static int collect_key(void *cls, const struct store_comparison *x)
{
    struct key_list *k = cls;
    if (!x->rejected)
        return 0;
    int rc = grow((void **)&k->v, k->n, &k->cap, sizeof *k->v);
    if (!rc)
        k->v[k->n++] = reward_pair_key(x->prompt, x->chosen, x->rejected);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int train_pairs_seen(struct store *s, const struct train_pairs *pairs, bool *seen, size_t *nseen)
{
    struct key_list k = {0};
    *nseen = 0;
    int rc = store_comparisons_each(s, collect_key, &k);
    if (rc)
        goto out;
    qsort(k.v, k.n, sizeof *k.v, cmp_u64);
    for (size_t i = 0; i < pairs->n; i++) {
        const struct reward_pair_ex *e = &pairs->v[i];
        uint64_t key = reward_pair_key(e->prompt, e->a, e->b);
        seen[i] = k.n && bsearch(&key, k.v, k.n, sizeof *k.v, cmp_u64);
        *nseen += seen[i];
    }
out:
    free(k.v);
    return rc;
}

/* ---- the training set from the store ---- */

struct train_set {
    struct train_pairs pairs;
    struct reward_point_ex *points;
    size_t npoints, cap_points;
    json_t *sources; /* comparisons by source */
};

static int add_point(struct train_set *t, const struct store_comparison *x)
{
    int rc = grow((void **)&t->points, t->npoints, &t->cap_points, sizeof *t->points);
    if (rc)
        return rc;
    struct reward_point_ex e = {
        .prompt = dup_text(x->prompt, &rc),
        .text = dup_text(x->chosen, &rc),
        .y = !strcmp(x->label, "good") || !strcmp(x->label, "yes") ? 1.0 : 0.0,
        .weight = x->weight > 0 ? x->weight : 1.0,
    };
    if (!rc) {
        t->points[t->npoints++] = e;
    } else {
        free((char *)e.prompt);
        free((char *)e.text);
    }
    return rc;
}

static int collect(void *cls, const struct store_comparison *x)
{
    struct train_set *t = cls;
    json_t *n = json_object_get(t->sources, x->source);
    if (json_object_set_new(t->sources, x->source, json_integer(json_integer_value(n) + 1)))
        return -ENOMEM;
    if (x->rejected)
        return train_pairs_add(&t->pairs, x->prompt, x->chosen, x->rejected, x->tie ? 0.5 : 1.0,
                               x->weight > 0 ? x->weight : 1.0);
    return x->label ? add_point(t, x) : 0;
}

static void train_set_clear(struct train_set *t)
{
    train_pairs_clear(&t->pairs);
    for (size_t i = 0; i < t->npoints; i++) {
        free((char *)t->points[i].prompt);
        free((char *)t->points[i].text);
    }
    free(t->points);
    json_decref(t->sources);
}

/* Stores l as a new layer, active when asked or when none is; adds
 * layer_id, status and sources to the report. 0 or negative errno. */
static int store_trained(struct store *s, const struct reward_layer *l, const struct train_set *t,
                         struct train_run *run)
{
    void *blob = NULL;
    size_t len = 0;
    char *metrics = NULL, *sources = NULL;
    int rc = reward_save(l, &blob, &len);
    if (rc) {
        run->stage = TRAIN_FIT;
        return rc;
    }
    run->stage = TRAIN_STORE;
    int64_t active = store_layer_active_id(s);
    bool make_active = run->activate || active == 0;
    metrics = json_dumps(run->report, JSON_COMPACT);
    sources = json_dumps(t->sources, JSON_COMPACT);
    rc = !metrics || !sources ? -ENOMEM : active < 0 ? (int)active : 0;
    if (rc)
        goto out;
    struct store_layer_new nl = {.params = blob,
                                 .params_len = len,
                                 .metrics = metrics,
                                 .threshold = reward_threshold(l),
                                 .train_size = (int64_t)(t->pairs.n + t->npoints),
                                 .sources = sources,
                                 .activate = make_active};
    int64_t id = 0;
    rc = store_layer_add(s, &nl, &id);
    if (rc)
        goto out;
    json_object_set_new(run->report, "layer_id", json_integer(id));
    json_object_set_new(run->report, "status", json_string(make_active ? "active" : "candidate"));
    json_object_set_new(run->report, "sources", json_incref(t->sources));
out:
    free(metrics);
    free(sources);
    free(blob);
    return rc;
}

int train_layer(struct store *s, struct train_run *run)
{
    struct train_set t = {.sources = json_object()};
    struct reward_layer *l = NULL;
    run->report = NULL;
    run->stage = TRAIN_READ;
    int rc = t.sources ? store_comparisons_each(s, collect, &t) : -ENOMEM;
    if (rc)
        goto out;
    if (t.pairs.n == 0 && t.npoints == 0) {
        run->stage = TRAIN_EMPTY;
        rc = -ENODATA;
        goto out;
    }
    if (run->progress)
        run->progress(run->cls, t.pairs.n, t.npoints);
    run->stage = TRAIN_FIT;
    l = reward_train(&run->params, t.pairs.v, t.pairs.n, t.points, t.npoints, &run->report);
    rc = l ? store_trained(s, l, &t, run) : -EINVAL;
out:
    if (rc) {
        json_decref(run->report);
        run->report = NULL;
    }
    reward_free(l);
    train_set_clear(&t);
    return rc;
}
