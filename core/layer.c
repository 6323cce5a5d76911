/* Layer kinds behind one table, loading from the store, and the worker
 * that scores for kinds that may block. */
#include "layer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "layer_http.h"
#include "store.h"

struct layer {
    const struct layer_ops *ops;
    void *impl; /* the kind's state, owned */
    int64_t id; /* in the store's layers table, 0 when not stored */
};

/* Every kind rung can load: a new kind adds its line here. */
static const struct layer_ops *const kinds[] = {&layer_bt_ops, &layer_http_ops};

struct layer *layer_new(const struct layer_ops *ops, void *impl, int64_t id)
{
    struct layer *l = calloc(1, sizeof *l);
    if (!l) {
        ops->free(impl);
        return NULL;
    }
    *l = (struct layer){.ops = ops, .impl = impl, .id = id};
    return l;
}

struct layer *layer_load(const char *kind, int64_t id, const void *blob, size_t len)
{
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i]->kind, kind))
            continue;
        void *impl = kinds[i]->load(blob, len);
        return impl ? layer_new(kinds[i], impl, id) : NULL;
    }
    return NULL;
}

int layer_open(struct store *s, int64_t id, struct layer **out)
{
    *out = NULL;
    if (id == 0) {
        id = store_layer_active_id(s);
        if (id <= 0)
            return (int)id; /* 0: none active */
    }
    void *blob = NULL;
    size_t len = 0;
    char kind[STORE_KIND_MAX];
    int rc = store_layer_params(s, id, kind, &blob, &len);
    if (rc)
        return rc;
    *out = layer_load(kind, id, blob, len);
    free(blob);
    return *out ? 0 : -EINVAL;
}

void layer_free(struct layer *l)
{
    if (!l)
        return;
    l->ops->free(l->impl);
    free(l);
}

int64_t layer_id(const struct layer *l)
{
    return l->id;
}

const void *layer_impl_of(const struct layer *l, const struct layer_ops *ops)
{
    return l && l->ops == ops ? l->impl : NULL;
}

bool layer_may_block(const struct layer *l)
{
    return l->ops->may_block;
}

int layer_score_pair(const struct layer *l, const char *prompt, const char *a, const char *b,
                     struct layer_pair *out)
{
    return l->ops->score_pair(l->impl, prompt, a, b, out);
}

int layer_score_pair_group(const struct layer *l, const char *prompt, const char *a, const char *b,
                           const char *const *samples, size_t n, struct layer_pair *out)
{
    if (!n || !l->ops->score_pair_group)
        return l->ops->score_pair(l->impl, prompt, a, b, out);
    return l->ops->score_pair_group(l->impl, prompt, a, b, samples, n, out);
}

int layer_score_single(const struct layer *l, const char *prompt, const char *text,
                       struct layer_single *out)
{
    return l->ops->score_single(l->impl, prompt, text, out);
}

int layer_score_step(const struct layer *l, const char *prompt, const char *const *prior,
                     size_t nprior, const char *step, struct layer_single *out)
{
    return l->ops->score_step(l->impl, prompt, prior, nprior, step, out);
}

static _Thread_local uint64_t deadline_us; /* 0: none */

void layer_deadline_set(uint64_t mono_us)
{
    deadline_us = mono_us;
}

long long layer_deadline_left_ms(void)
{
    if (!deadline_us)
        return -1;
    uint64_t now = util_mono_us();
    return now >= deadline_us ? 0 : (long long)((deadline_us - now + 999) / 1000);
}

void layer_describe(const struct layer *l, struct layer_info *out)
{
    l->ops->describe(l->impl, out);
}

int layer_evaluate(const struct layer *l, const struct reward_pair_ex *pairs, size_t n,
                   json_t **out)
{
    *out = NULL;
    if (!l->ops->evaluate)
        return -EOPNOTSUPP;
    *out = l->ops->evaluate(l->impl, pairs, n);
    if (!*out)
        return -ENOMEM;
    json_object_set_new(*out, "layer_id", json_integer(l->id));
    return 0;
}

/* ---- the worker ---- */

struct layer_worker {
    pthread_mutex_t mu; /* guards head, tail, stop */
    pthread_cond_t cv;
    struct layer_job *head, *tail;
    bool stop;
    pthread_t thread;
};

/* Takes the next job, waiting for one; NULL once stopping and drained. */
static struct layer_job *next_job(struct layer_worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->head && !w->stop)
        pthread_cond_wait(&w->cv, &w->mu);
    struct layer_job *j = w->head;
    if (j) {
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    return j;
}

static void *worker_main(void *arg)
{
    struct layer_worker *w = arg;
    pthread_setname_np(pthread_self(), "rung-score");
    struct layer_job *j;
    while ((j = next_job(w))) {
        j->run(j->cls);
        j->done(j->cls); /* the job may be freed from here on */
    }
    return NULL;
}

struct layer_worker *layer_worker_new(void)
{
    struct layer_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

int layer_worker_submit(struct layer_worker *w, struct layer_job *job)
{
    int rc = -ESHUTDOWN;
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (!w->stop) {
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        pthread_cond_signal(&w->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void layer_worker_free(struct layer_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
