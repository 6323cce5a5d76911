#include "train.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "promote.h"

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

bool train_human_derived(const struct store_comparison *x)
{
    if (!x->source)
        return false;
    if (!strcmp(x->source, "human") || !strcmp(x->source, "import") || !strcmp(x->source, "audit"))
        return true;
    if (strcmp(x->source, "aggregate") || !x->provenance)
        return false;
    json_t *p = json_loads(x->provenance, 0, NULL);
    json_t *by = json_object_get(p, "decided_by");
    bool human = json_is_array(by) && json_array_size(by) > 0;
    size_t i;
    json_t *v;
    json_array_foreach(by, i, v)
    {
        const char *src = json_string_value(json_object_get(v, "source"));
        human = human && src && !strcmp(src, "human");
    }
    json_decref(p);
    return human;
}

#define TRAIN_STOP 1 /* collect's "enough rows": not an error */

struct train_set {
    struct train_pairs pairs;
    struct reward_point_ex *points;
    size_t npoints, cap_points;
    json_t *sources; /* comparisons by source */
    int64_t *ids;    /* the rows read, newest first until reversed */
    size_t nids, cap_ids;
    size_t max_rows;           /* read at most */
    bool include_layer;        /* keep rows resting on a layer's verdicts */
    bool truncated;            /* older rows were left unread */
    size_t excluded;           /* rows between the first and last kept that were left out */
    size_t pending;            /* rows left out since the last row kept (newest first) */
    const atomic_bool *cancel; /* the run's params.cancel: reading gives up too */
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
    if (t->cancel && atomic_load_explicit(t->cancel, memory_order_relaxed))
        return -ECANCELED;
    if (!t->include_layer && !train_human_derived(x)) {
        t->pending += t->nids > 0; /* above the newest row kept: outside the range */
        return 0;
    }
    if (t->nids >= t->max_rows) {
        t->truncated = true;
        return TRAIN_STOP;
    }
    t->excluded += t->pending; /* they lie between two rows kept */
    t->pending = 0;
    int rc = grow((void **)&t->ids, t->nids, &t->cap_ids, sizeof *t->ids);
    if (rc)
        return rc;
    t->ids[t->nids++] = x->id;
    json_t *n = json_object_get(t->sources, x->source);
    if (json_object_set_new(t->sources, x->source, json_integer(json_integer_value(n) + 1)))
        return -ENOMEM;
    if (x->rejected)
        return train_pairs_add(&t->pairs, x->prompt, x->chosen, x->rejected, x->tie ? 0.5 : 1.0,
                               x->weight > 0 ? x->weight : 1.0);
    return x->label ? add_point(t, x) : 0;
}

/* Reverses n elements of size bytes at v in place. */
static void reverse(void *v, size_t n, size_t size)
{
    unsigned char *p = v;
    for (size_t i = 0; n && i < n / 2; i++) {
        unsigned char *x = p + i * size, *y = p + (n - 1 - i) * size;
        for (size_t b = 0; b < size; b++) {
            unsigned char c = x[b];
            x[b] = y[b];
            y[b] = c;
        }
    }
}

/* Reads the newest rows into t, then puts them in id order. */
static int train_set_read(struct store *s, struct train_set *t)
{
    int rc = store_comparisons_newest(s, collect, t);
    if (rc == TRAIN_STOP)
        rc = 0;
    if (!rc) {
        reverse(t->pairs.v, t->pairs.n, sizeof *t->pairs.v);
        reverse(t->points, t->npoints, sizeof *t->points);
        reverse(t->ids, t->nids, sizeof *t->ids);
    }
    return rc;
}

static void train_set_clear(struct train_set *t)
{
    train_pairs_clear(&t->pairs);
    for (size_t i = 0; i < t->npoints; i++) {
        free((char *)t->points[i].prompt);
        free((char *)t->points[i].text);
    }
    free(t->points);
    free(t->ids);
    json_decref(t->sources);
}

/* The lineage of a layer trained on t (see train.h). NULL when memory is
 * short. */
static json_t *lineage_json(const struct train_set *t)
{
    crypto_generichash_state h;
    unsigned char out[32];
    char hex[2 * sizeof out + 1];
    crypto_generichash_init(&h, NULL, 0, sizeof out);
    for (size_t i = 0; i < t->nids; i++) {
        unsigned char le[8];
        for (int b = 0; b < 8; b++)
            le[b] = (unsigned char)((uint64_t)t->ids[i] >> (8 * b));
        crypto_generichash_update(&h, le, sizeof le);
    }
    crypto_generichash_final(&h, out, sizeof out);
    sodium_bin2hex(hex, sizeof hex, out, sizeof out);
    return json_pack("{s:{s:I,s:I,s:I,s:O,s:s,s:I,s:b,s:I,s:b}}", "comparisons", "count",
                     (json_int_t)t->nids, "first_id", (json_int_t)(t->nids ? t->ids[0] : 0),
                     "last_id", (json_int_t)(t->nids ? t->ids[t->nids - 1] : 0), "by_source",
                     t->sources, "digest", hex, "excluded", (json_int_t)t->excluded,
                     "include_layer_verdicts", t->include_layer, "max_rows",
                     (json_int_t)t->max_rows, "truncated", t->truncated);
}

/* The stored texts of a trained layer. */
struct trained {
    void *blob;
    size_t len;
    char *metrics, *sources, *lineage;
};

static void trained_clear(struct trained *x)
{
    free(x->blob);
    free(x->metrics);
    free(x->sources);
    free(x->lineage);
}

/* Checks new layer id against the settled set and makes it active when it
 * passes (promote.h); the check's report joins run->report. */
static int check_new(struct store *s, struct train_run *run, int64_t id)
{
    struct promote_run pr = {.id = id, .actor = run->actor};
    consistency_params_default(&pr.params);
    run->stage = TRAIN_CHECK;
    int rc = promote_layer(s, &pr);
    if (!rc) {
        json_object_set_new(run->report, "status",
                            json_string(pr.promoted ? "active" : "rejected"));
        json_object_set(run->report, "consistency", pr.json);
    }
    json_decref(pr.json);
    return rc;
}

/* Stores a new layer (the command line's way) and, when asked or when
 * none is active, checks it for promotion. */
static int store_new(struct store *s, const struct reward_layer *l, const struct trained *x,
                     int64_t train_size, struct train_run *run)
{
    int64_t active = store_layer_active_id(s);
    if (active < 0)
        return (int)active;
    struct store_layer_new nl = {.params = x->blob,
                                 .params_len = x->len,
                                 .metrics = x->metrics,
                                 .threshold = reward_threshold(l),
                                 .train_size = train_size,
                                 .sources = x->sources,
                                 .lineage = x->lineage,
                                 .event_actor = run->actor ? run->actor : "rungd train"};
    int64_t id = 0;
    int rc = store_layer_add(s, &nl, &id);
    if (rc)
        return rc;
    json_object_set_new(run->report, "layer_id", json_integer(id));
    json_object_set_new(run->report, "status", json_string("candidate"));
    return run->activate || active == 0 ? check_new(s, run, id) : 0;
}

/* Stores l: into the queued layer run->layer_id, or as a new one; adds
 * layer_id, status, sources and lineage to the report. 0 or negative
 * errno. */
static int store_trained(struct store *s, const struct reward_layer *l, const struct train_set *t,
                         struct train_run *run)
{
    struct trained x = {0};
    int rc = reward_save(l, &x.blob, &x.len);
    if (rc) {
        run->stage = TRAIN_FIT;
        return rc;
    }
    run->stage = TRAIN_STORE;
    json_t *lineage = lineage_json(t);
    x.metrics = json_dumps(run->report, JSON_COMPACT);
    x.sources = json_dumps(t->sources, JSON_COMPACT);
    x.lineage = lineage ? json_dumps(lineage, JSON_COMPACT) : NULL;
    rc = !x.metrics || !x.sources || !x.lineage ? -ENOMEM : 0;
    json_object_set_new(run->report, "sources", json_incref(t->sources));
    json_object_set_new(run->report, "lineage", lineage);
    int64_t size = (int64_t)(t->pairs.n + t->npoints);
    if (!rc && run->layer_id) {
        struct store_layer_done d = {.id = run->layer_id,
                                     .actor = run->actor,
                                     .ok = true,
                                     .params = x.blob,
                                     .params_len = x.len,
                                     .metrics = x.metrics,
                                     .threshold = reward_threshold(l),
                                     .train_size = size,
                                     .sources = x.sources,
                                     .lineage = x.lineage};
        rc = store_layer_train_done(s, &d);
        json_object_set_new(run->report, "layer_id", json_integer(run->layer_id));
        json_object_set_new(run->report, "status", json_string("candidate"));
    } else if (!rc) {
        rc = store_new(s, l, &x, size, run);
    }
    trained_clear(&x);
    return rc;
}

int train_layer(struct store *s, struct train_run *run)
{
    struct train_set t = {.sources = json_object(),
                          .max_rows = run->max_rows ? run->max_rows : TRAIN_ROWS_DEFAULT,
                          .include_layer = run->include_layer,
                          .cancel = run->params.cancel};
    struct reward_layer *l = NULL;
    run->report = NULL;
    run->stage = TRAIN_READ;
    int rc = t.sources ? train_set_read(s, &t) : -ENOMEM;
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
    rc = l                                                       ? store_trained(s, l, &t, run)
         : run->params.cancel && atomic_load(run->params.cancel) ? -ECANCELED
                                                                 : -EINVAL;
out:
    if (rc) {
        json_decref(run->report);
        run->report = NULL;
    }
    reward_free(l);
    train_set_clear(&t);
    return rc;
}
