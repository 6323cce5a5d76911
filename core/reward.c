/* reward.c - hashed Bradley-Terry ensemble (see reward.h). */
#include "reward.h"

#include "feat.h"
#include "reward_check.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WILSON_Z 1.6448536269514722 /* one-sided 95% normal quantile */
#define ECE_BINS 10u
#define ETA_SAMPLE 2000u /* examples used to pick the initial step size */
#define BLOB_MAGIC "RUNGRWL1"
#define BLOB_HEADER_V1 64u /* bytes before the weights, version 1 */
#define BLOB_HEADER_V2 72u /* bytes before the weights, version 2 */
#define BLOB_HEADER 80u    /* bytes before the weights, version 3 */
#define ROWS_MAX_NNZ (UINT64_C(1) << 40)
#define CROSSFIT_ROWS_MAX 200000u /* up to this many rows, calibration is cross-fitted */
#define CROSSFIT_FOLDS_MAX 10u

/* ---- small helpers ---------------------------------------------------- */

/* splitmix64: tiny, well-mixed, fully determined by its state. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias worth caring about (n < 2^32). */
static uint32_t rng_below(uint64_t *s, uint32_t n)
{
    return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* bfloat16: the top half of a float32, rounded to nearest even. */
static uint16_t bf16_from(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return 0x7fc0; /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_to(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static double sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* -[y log s(z) + (1-y) log(1-s(z))], stable for large |z|. */
static double logistic_loss(double z, double y)
{
    double sp = z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); /* log(1 + e^z) */
    return sp - y * z;
}

/* d logistic_loss / dz. */
static double logistic_dloss(double z, double y)
{
    return sigmoid(z) - y;
}

static json_t *jnum(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

/* ---- groups and content keys ------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    return rng_next(&x);
}

static int is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

uint64_t reward_group_of(const char *prompt)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 of the normalised bytes */
    int space = 0, any = 0;
    for (const unsigned char *p = (const unsigned char *)(prompt ? prompt : ""); *p; p++) {
        unsigned char c = *p;
        if (is_space(c)) {
            space = any;
            continue;
        }
        if (space)
            h = (h ^ ' ') * 0x100000001b3ULL;
        space = 0;
        any = 1;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h ? h : 1;
}

static uint64_t text_hash(const char *t)
{
    return t ? feat_fnv1a64(t, strlen(t)) : feat_fnv1a64("", 0);
}

uint64_t reward_pair_key(const char *prompt, const char *a, const char *b)
{
    uint64_t ha = text_hash(a), hb = text_hash(b);
    uint64_t lo = ha < hb ? ha : hb, hi = ha < hb ? hb : ha;
    uint64_t k = mix64(reward_group_of(prompt) ^ mix64(lo ^ mix64(hi)));
    return k ? k : 1;
}

/* The duplicate key of a labelled pair: its content key and the label as
 * seen from the side whose text hashes lower, so a pair stored the other
 * way round with the opposite label is the same comparison. */
static uint64_t pair_label_key(const struct reward_pair_ex *e)
{
    double y = text_hash(e->a) <= text_hash(e->b) ? e->y : 1.0 - e->y;
    uint64_t k = mix64(reward_pair_key(e->prompt, e->a, e->b) ^ (uint64_t)llround(y * 1e6));
    return k ? k : 1;
}

static uint64_t point_label_key(const struct reward_point_ex *e)
{
    uint64_t k = mix64(reward_group_of(e->prompt) ^ mix64(text_hash(e->text))) ^
                 (uint64_t)llround(e->y * 1e6);
    return k ? k : 1;
}

/* ---- rows --------------------------------------------------------------- */

struct reward_rows {
    unsigned bits;  /* hashed indices are < 2^bits */
    unsigned extra; /* dense features after them: indices < 2^bits + extra */
    size_t n, cap;  /* rows in use / allocated */
    uint64_t *off;  /* n + 1 offsets into idx/val */
    float *y;       /* label per row */
    float *wt;      /* weight per row */
    uint64_t *grp;  /* group per row: one side of the calibration split */
    uint64_t *key;  /* content key per row, 0 never a duplicate */
    size_t nnz, nnz_cap;
    uint32_t *idx; /* bucket of each nonzero */
    uint16_t *val; /* bfloat16 value of each nonzero */

    /* token hash of the rows made from text */
    enum feat_hash hash;
    float hscale; /* factor on the hashed features of rows made from text pairs */
};

/* New empty store of 2^bits hashed and extra dense features. */
static struct reward_rows *rows_new(unsigned bits, unsigned extra)
{
    if (bits < FEAT_BITS_MIN || bits > FEAT_BITS_MAX)
        return NULL;
    struct reward_rows *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->hash = FEAT_HASH_FX;
    r->hscale = 1.0f;
    r->bits = bits;
    r->extra = extra;
    r->off = calloc(1, sizeof(*r->off));
    if (!r->off) {
        free(r);
        return NULL;
    }
    return r;
}

struct reward_rows *reward_rows_new(unsigned bits)
{
    return rows_new(bits, 0);
}

void reward_rows_free(struct reward_rows *r)
{
    if (!r)
        return;
    free(r->off);
    free(r->y);
    free(r->wt);
    free(r->grp);
    free(r->key);
    free(r->idx);
    free(r->val);
    free(r);
}

size_t reward_rows_count(const struct reward_rows *r)
{
    return r ? r->n : 0;
}

size_t reward_rows_nnz(const struct reward_rows *r)
{
    return r ? r->nnz : 0;
}

/* Resizes the array *p to n elements of size bytes. Returns 0, or -ENOMEM
 * with *p unchanged (still owned by the caller). */
static int resize(void **p, size_t n, size_t size)
{
    void *q = realloc(*p, n * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    return 0;
}

static int rows_grow(struct reward_rows *r, size_t more)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 1024;
        if (resize((void **)&r->off, nc + 1, sizeof(*r->off)) ||
            resize((void **)&r->y, nc, sizeof(*r->y)) ||
            resize((void **)&r->wt, nc, sizeof(*r->wt)) ||
            resize((void **)&r->grp, nc, sizeof(*r->grp)) ||
            resize((void **)&r->key, nc, sizeof(*r->key)))
            return -ENOMEM;
        r->cap = nc;
    }
    if (r->nnz + more > r->nnz_cap) {
        size_t nc = r->nnz_cap ? r->nnz_cap : 65536;
        while (nc < r->nnz + more)
            nc += nc / 2; /* 1.5x: large buffers are remapped, not copied */
        if (nc > ROWS_MAX_NNZ || resize((void **)&r->idx, nc, sizeof(*r->idx)) ||
            resize((void **)&r->val, nc, sizeof(*r->val)))
            return -ENOMEM;
        r->nnz_cap = nc;
    }
    return 0;
}

int reward_rows_add_ex(struct reward_rows *r, const uint32_t *idx, const float *val, size_t n,
                       double y, double weight, uint64_t group, uint64_t key)
{
    if (!r || (n && (!idx || !val)) || !(y >= 0.0 && y <= 1.0) || !(weight >= 0.0) ||
        !isfinite(weight))
        return -EINVAL;
    uint32_t lim = ((uint32_t)1 << r->bits) + r->extra;
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= lim || !isfinite(val[i]))
            return -EINVAL;
    int rc = rows_grow(r, n);
    if (rc)
        return rc;
    size_t k = r->nnz;
    for (size_t i = 0; i < n; i++) {
        if (val[i] == 0.0f)
            continue;
        r->idx[k] = idx[i];
        r->val[k] = bf16_from(val[i]);
        k++;
    }
    r->nnz = k;
    r->y[r->n] = (float)y;
    r->wt[r->n] = (float)weight;
    /* A row without a group is its own: the splitmix of its index keeps it
     * away from prompt hashes in practice. */
    uint64_t g = (uint64_t)r->n + 1;
    r->grp[r->n] = group ? group : rng_next(&g);
    r->key[r->n] = key;
    r->n++;
    r->off[r->n] = k;
    return 0;
}

int reward_rows_add(struct reward_rows *r, const uint32_t *idx, const float *val, size_t n,
                    double y, double weight)
{
    return reward_rows_add_ex(r, idx, val, n, y, weight, 0, 0);
}

/* Appends a - b (both sorted unique) as one row. */
static int rows_add_diff(struct reward_rows *r, const struct feat_vec *a, const struct feat_vec *b,
                         double y, double weight, uint64_t group, uint64_t key,
                         struct feat_vec *tmp)
{
    size_t i = 0, j = 0, k = 0;
    if (tmp->cap < a->n + b->n) {
        feat_vec_clear(tmp);
        tmp->idx = malloc((a->n + b->n + 1) * sizeof(*tmp->idx));
        tmp->val = malloc((a->n + b->n + 1) * sizeof(*tmp->val));
        if (!tmp->idx || !tmp->val) {
            feat_vec_clear(tmp);
            return -ENOMEM;
        }
        tmp->cap = a->n + b->n + 1;
    }
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->idx[i] < b->idx[j])) {
            tmp->idx[k] = a->idx[i];
            tmp->val[k++] = a->val[i++];
        } else if (i == a->n || b->idx[j] < a->idx[i]) {
            tmp->idx[k] = b->idx[j];
            tmp->val[k++] = -b->val[j++];
        } else {
            float d = a->val[i] - b->val[j];
            if (d != 0.0f) {
                tmp->idx[k] = a->idx[i];
                tmp->val[k++] = d;
            }
            i++;
            j++;
        }
    }
    tmp->n = k;
    return reward_rows_add_ex(r, tmp->idx, tmp->val, k, y, weight, group, key);
}

/* ---- the layer ---------------------------------------------------------- */

struct reward_layer {
    unsigned bits;    /* log2 buckets */
    unsigned members; /* ensemble size */
    unsigned ncheck;  /* checker features after the buckets: 0 or REWARD_CHECK_NFEAT */
    size_t stride;    /* floats per member: 2^bits + ncheck weights + 1 bias */
    double tau;       /* pair threshold as reward_score_pair scores, INFINITY when none */
    double tau_group; /* pair threshold with sample groups (== tau without checks) */
    double tau_point; /* pointwise threshold, INFINITY when none */
    float *w;         /* members * stride pair weights (bias slot unused, 0) */
    float *u;         /* members * stride pointwise weights, NULL without a head */
    /* Scoring's copies of w and u, bucket-major: wt[k * SCORE_LANES + m]
     * is w[m * stride + k], the members padded with zeros, so one
     * feature's weights of every member share a cache line. Built by
     * layer_ready once the weights are final; NULL (score from w and u)
     * past SCORE_LANES members or before. */
    float *wt;
    float *ut;

    /* token hash of phi */
    enum feat_hash hash;
};

void reward_params_default(struct reward_params *p)
{
    p->members = 5;
    p->bits = REWARD_BITS_DEFAULT;
    p->seed = 1;
    p->l2 = 0.0;
    p->target = 0.95;
    p->calib_share = 0.2;
    p->epochs = 0;
    p->threads = 0;
    p->checks = 1;
    p->hash = FEAT_HASH_FX;
    p->cancel = NULL;
    p->ngram_scale = 0.0;
}

static struct reward_layer *layer_new(unsigned bits, unsigned ncheck, unsigned members,
                                      int has_point)
{
    struct reward_layer *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->hash = FEAT_HASH_FX;
    l->bits = bits;
    l->members = members;
    l->ncheck = ncheck;
    l->stride = ((size_t)1 << bits) + ncheck + 1;
    l->tau = INFINITY;
    l->tau_group = INFINITY;
    l->tau_point = INFINITY;
    l->w = calloc((size_t)members * l->stride, sizeof(*l->w));
    if (has_point)
        l->u = calloc((size_t)members * l->stride, sizeof(*l->u));
    if (!l->w || (has_point && !l->u)) {
        reward_free(l);
        return NULL;
    }
    return l;
}

void reward_free(struct reward_layer *l)
{
    if (!l)
        return;
    free(l->w);
    free(l->u);
    free(l->wt);
    free(l->ut);
    free(l);
}

/* Floats per bucket in the bucket-major copies: 8 (32 bytes, a cache
 * line's half on a 64-byte boundary) for up to 8 members. */
#define SCORE_LANES 8u

/* The bucket-major copy of the member-major weights w (see struct
 * reward_layer), or NULL without memory. */
static float *interleave(const float *w, unsigned members, size_t stride)
{
    size_t bytes = stride * SCORE_LANES * sizeof(float);
    float *t = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!t)
        return NULL;
    memset(t, 0, bytes);
    for (unsigned m = 0; m < members; m++)
        for (size_t k = 0; k < stride; k++)
            t[k * SCORE_LANES + m] = w[(size_t)m * stride + k];
    return t;
}

/* Builds the scoring copies once l's weights are final. Without memory
 * for them l scores from its member-major weights: the same scores. */
static void layer_ready(struct reward_layer *l)
{
    free(l->wt);
    free(l->ut);
    l->wt = l->ut = NULL;
    if (l->members > SCORE_LANES)
        return;
    l->wt = interleave(l->w, l->members, l->stride);
    l->ut = l->u ? interleave(l->u, l->members, l->stride) : NULL;
    if (!l->wt || (l->u && !l->ut)) {
        free(l->wt);
        free(l->ut);
        l->wt = l->ut = NULL;
    }
}

double reward_threshold(const struct reward_layer *l)
{
    return l->tau;
}

double reward_group_threshold(const struct reward_layer *l)
{
    return l->tau_group;
}

double reward_point_threshold(const struct reward_layer *l)
{
    return l->u ? l->tau_point : INFINITY;
}

unsigned reward_bits(const struct reward_layer *l)
{
    return l->bits;
}

unsigned reward_members(const struct reward_layer *l)
{
    return l->members;
}

unsigned reward_checks(const struct reward_layer *l)
{
    return l->ncheck;
}

enum feat_hash reward_hash(const struct reward_layer *l)
{
    return l->hash;
}

/* ---- solver ------------------------------------------------------------- */

double reward_loss_grad_for_test(const double *w, size_t dim, int bias, const uint32_t *idx,
                                 const float *val, size_t n, double y, double weight, double l2,
                                 double *grad)
{
    double z = bias ? w[dim] : 0.0, reg = 0.0;
    for (size_t i = 0; i < n; i++)
        z += w[idx[i]] * (double)val[i];
    for (size_t j = 0; j < dim; j++) {
        reg += w[j] * w[j];
        grad[j] = l2 * w[j];
    }
    double g = weight * logistic_dloss(z, y);
    for (size_t i = 0; i < n; i++)
        grad[idx[i]] += g * (double)val[i];
    grad[dim] = bias ? g : 0.0;
    return weight * logistic_loss(z, y) + 0.5 * l2 * reg;
}

struct member_job {
    const struct reward_rows *rows;
    const uint32_t *pool; /* rows this head trains on */
    size_t npool;
    int resample; /* draw a bootstrap resample of pool */
    int bias;     /* learn an intercept (pointwise head) */
    unsigned epochs;
    double l2;
    uint64_t seed;
    float *out;                /* stride floats receiving the weights */
    size_t dim;                /* 2^bits */
    const atomic_bool *cancel; /* may be NULL: see reward_params */
    int rc;
};

#define SGD_CANCEL_EVERY 4096 /* SGD steps between two looks at the cancel flag */

static bool cancelled(const struct member_job *j)
{
    return j->cancel && atomic_load_explicit(j->cancel, memory_order_relaxed);
}

static double row_dot(const struct reward_rows *r, size_t i, const double *v)
{
    double z = 0.0;
    for (uint64_t k = r->off[i]; k < r->off[i + 1]; k++)
        z += v[r->idx[k]] * (double)bf16_to(r->val[k]);
    return z;
}

static void row_axpy(const struct reward_rows *r, size_t i, double a, double *v)
{
    for (uint64_t k = r->off[i]; k < r->off[i + 1]; k++)
        v[r->idx[k]] += a * (double)bf16_to(r->val[k]);
}

static void shuffle(uint32_t *a, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(s, (uint32_t)i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Averaged SGD (Polyak-Ruppert, in the lazy form of Bottou's svmasgd): the
 * iterate is w = v / wdiv and the running average a = (av + wfrac * v) / adiv,
 * so that the L2 shrinkage and the averaging cost O(1) per step and each step
 * touches only the example's nonzeros. */
struct sgd {
    double *v, *av;
    double wdiv, adiv, wfrac;
    double bias, abias;
    double eta0, l2;
    double t;    /* steps taken */
    double tavg; /* step at which averaging starts */
    size_t dim;
};

static void sgd_reset(struct sgd *s, double eta0, double tavg)
{
    memset(s->v, 0, s->dim * sizeof(*s->v));
    memset(s->av, 0, s->dim * sizeof(*s->av));
    s->wdiv = s->adiv = 1.0;
    s->wfrac = 0.0;
    s->bias = s->abias = 0.0;
    s->eta0 = eta0;
    s->t = 0.0;
    s->tavg = tavg;
}

/* Folds the divisors back into the vectors (rare: when they grow large).
 * Before averaging starts av stays 0 and the average is the iterate. */
static void sgd_renorm(struct sgd *s)
{
    int averaging = s->t >= s->tavg;
    for (size_t k = 0; k < s->dim; k++) {
        if (averaging)
            s->av[k] = (s->av[k] + s->wfrac * s->v[k]) / s->adiv;
        s->v[k] /= s->wdiv;
    }
    s->wdiv = s->adiv = 1.0;
    s->wfrac = averaging ? 0.0 : 1.0;
}

/* One pass over order[0..n). 0, or -ECANCELED when the job's cancel flag
 * was raised (the pass stopped part way). */
static int sgd_pass(struct sgd *s, const struct member_job *j, const uint32_t *order, size_t n)
{
    const struct reward_rows *r = j->rows;
    for (size_t q = 0; q < n; q++) {
        if (q % SGD_CANCEL_EVERY == SGD_CANCEL_EVERY - 1 && cancelled(j))
            return -ECANCELED;
        size_t i = order[q];
        if (s->wdiv > 1e5 || s->adiv > 1e5)
            sgd_renorm(s);
        double eta = s->eta0 / pow(1.0 + s->l2 * s->eta0 * s->t, 0.75);
        double z = row_dot(r, i, s->v) / s->wdiv + s->bias;
        double g = (double)r->wt[i] * logistic_dloss(z, (double)r->y[i]);
        s->wdiv /= 1.0 - eta * s->l2;
        double etd = -eta * g * s->wdiv;
        if (etd != 0.0)
            row_axpy(r, i, etd, s->v);
        if (j->bias)
            s->bias -= eta * g * 0.1; /* slower intercept: it moves on every step */
        if (s->t < s->tavg) {
            /* Not averaging yet: the average is the iterate (av is all 0). */
            s->adiv = s->wdiv;
            s->wfrac = 1.0;
            s->abias = s->bias;
        } else {
            double mu = 1.0 / (2.0 + s->t - s->tavg); /* < 1: the average so far counts */
            if (etd != 0.0)
                row_axpy(r, i, -s->wfrac * etd, s->av);
            s->adiv /= 1.0 - mu;
            s->wfrac += mu * s->adiv / s->wdiv;
            s->abias += mu * (s->bias - s->abias);
        }
        s->t += 1.0;
    }
    return 0;
}

/* Regularised mean loss of the iterate on order[0..n) (picks eta0). */
static double sgd_objective(const struct sgd *s, const struct member_job *j, const uint32_t *order,
                            size_t n)
{
    double loss = 0.0, ss = 0.0;
    for (size_t q = 0; q < n; q++) {
        size_t i = order[q];
        double z = row_dot(j->rows, i, s->v) / s->wdiv + s->bias;
        loss += (double)j->rows->wt[i] * logistic_loss(z, (double)j->rows->y[i]);
    }
    for (size_t k = 0; k < s->dim; k++)
        ss += s->v[k] * s->v[k];
    return loss / (double)n + 0.5 * j->l2 * ss / (s->wdiv * s->wdiv);
}

static void *member_train(void *arg)
{
    struct member_job *j = arg;
    uint64_t st = j->seed;
    struct sgd s = {.dim = j->dim, .l2 = j->l2};
    uint32_t *order = malloc((j->npool ? j->npool : 1) * sizeof(*order));
    s.v = malloc(j->dim * sizeof(*s.v));
    s.av = malloc(j->dim * sizeof(*s.av));
    j->rc = -ENOMEM;
    if (!order || !s.v || !s.av)
        goto out;
    for (size_t q = 0; q < j->npool; q++)
        order[q] = j->resample ? j->pool[rng_below(&st, (uint32_t)j->npool)] : j->pool[q];
    shuffle(order, j->npool, &st);

    /* Initial step size: the best of a few on a sample, one plain pass each. */
    static const double etas[] = {0.03, 0.1, 0.3, 1.0, 3.0, 10.0};
    size_t ns = j->npool < ETA_SAMPLE ? j->npool : ETA_SAMPLE;
    double best_eta = 1.0, best = INFINITY;
    for (size_t e = 0; e < sizeof(etas) / sizeof(etas[0]) && ns; e++) {
        sgd_reset(&s, etas[e], INFINITY);
        if (sgd_pass(&s, j, order, ns)) {
            j->rc = -ECANCELED;
            goto out;
        }
        double obj = sgd_objective(&s, j, order, ns);
        if (obj < best) {
            best = obj;
            best_eta = etas[e];
        }
    }
    /* Average over all but the first epoch (over the second half of one). */
    double total = (double)j->npool * j->epochs;
    sgd_reset(&s, best_eta, j->epochs > 1 ? (double)j->npool : total / 2);
    for (unsigned ep = 0; ep < j->epochs; ep++) {
        if (ep)
            shuffle(order, j->npool, &st);
        if (cancelled(j) || sgd_pass(&s, j, order, j->npool)) {
            j->rc = -ECANCELED;
            goto out;
        }
    }
    for (size_t k = 0; k < j->dim; k++)
        j->out[k] = (float)((s.av[k] + s.wfrac * s.v[k]) / s.adiv);
    j->out[j->dim] = j->bias ? (float)s.abias : 0.0f;
    j->rc = 0;
out:
    free(order);
    free(s.v);
    free(s.av);
    return NULL;
}

static unsigned auto_epochs(size_t n)
{
    size_t e = n ? (1500000 + n - 1) / n : 1;
    return e < 3 ? 3 : e > 30 ? 30 : (unsigned)e;
}

/* Trains all members of one head (weights at base + m * stride). */
static int train_head(const struct reward_params *p, const struct reward_rows *rows,
                      const uint32_t *pool, size_t npool, int bias, uint64_t salt, float *base,
                      size_t stride, double *l2_out, unsigned *epochs_out)
{
    unsigned nt = p->threads;
    struct member_job *jobs = calloc(p->members, sizeof(*jobs));
    pthread_t *tid = calloc(p->members, sizeof(*tid));
    int rc = -ENOMEM;
    if (!jobs || !tid)
        goto out;
    if (!nt) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nt = c > 0 ? (unsigned)c : 1;
    }
    if (nt > p->members)
        nt = p->members;
    double l2 = p->l2 > 0 ? p->l2 : 1.0 / (double)(npool ? npool : 1);
    unsigned epochs = p->epochs ? p->epochs : auto_epochs(npool);
    *l2_out = l2;
    *epochs_out = epochs;
    uint64_t ss = p->seed ^ salt;
    for (unsigned m = 0; m < p->members; m++) {
        struct member_job *j = &jobs[m];
        j->rows = rows;
        j->pool = pool;
        j->npool = npool;
        j->resample = p->members > 1;
        j->bias = bias;
        j->epochs = epochs;
        j->l2 = l2;
        j->seed = rng_next(&ss);
        j->out = base + (size_t)m * stride;
        j->dim = stride - 1;
        j->cancel = p->cancel;
    }
    /* Members are independent, so running them in waves of nt threads gives
     * the same weights as running them one by one. */
    rc = 0;
    for (unsigned m0 = 0; m0 < p->members; m0 += nt) {
        uint64_t started = 0;
        for (unsigned m = m0; m < p->members && m < m0 + nt; m++) {
            if (m > m0 && pthread_create(&tid[m], NULL, member_train, &jobs[m]) == 0) {
                started |= UINT64_C(1) << (m - m0);
                continue;
            }
            if (m == m0)
                continue;
            member_train(&jobs[m]); /* thread creation failed: run inline */
        }
        member_train(&jobs[m0]);
        for (unsigned m = m0 + 1; m < p->members && m < m0 + nt; m++)
            if (started & (UINT64_C(1) << (m - m0)))
                pthread_join(tid[m], NULL);
        for (unsigned m = m0; m < p->members && m < m0 + nt; m++)
            if (jobs[m].rc)
                rc = jobs[m].rc;
    }
out:
    free(jobs);
    free(tid);
    return rc;
}

/* ---- scoring ------------------------------------------------------------ */

static double vec_dot(const float *w, const struct feat_vec *v)
{
    double z = 0.0;
    for (size_t i = 0; i < v->n; i++)
        z += (double)w[v->idx[i]] * (double)v->val[i];
    return z;
}

/* z[m] = vec_dot(base + m * stride, v) for the members m < members, four
 * side by side: each sum adds the same terms in the same order as vec_dot
 * (so the same bits), but four chains of additions and their loads overlap
 * instead of running one after the other. */
static void vec_dot_members(const float *base, size_t stride, unsigned members,
                            const struct feat_vec *v, double *z)
{
    unsigned m = 0;
    for (; m + 4 <= members; m += 4) {
        const float *w0 = base + (size_t)m * stride, *w1 = w0 + stride, *w2 = w1 + stride,
                    *w3 = w2 + stride;
        double z0 = 0.0, z1 = 0.0, z2 = 0.0, z3 = 0.0;
        for (size_t i = 0; i < v->n; i++) {
            uint32_t k = v->idx[i];
            double x = (double)v->val[i];
            z0 += (double)w0[k] * x;
            z1 += (double)w1[k] * x;
            z2 += (double)w2[k] * x;
            z3 += (double)w3[k] * x;
        }
        z[m] = z0;
        z[m + 1] = z1;
        z[m + 2] = z2;
        z[m + 3] = z3;
    }
    for (; m < members; m++)
        z[m] = vec_dot(base + (size_t)m * stride, v);
}

/* z[m] for the members m < members from the bucket-major weights t (see
 * struct reward_layer): per member the same terms in the same order as
 * vec_dot on its member-major row, so the same bits, with one cache line
 * read per feature instead of one per member. */
static void vec_dot_lanes(const float *t, unsigned members, const struct feat_vec *v, double *z)
{
    double acc[SCORE_LANES] = {0};
    for (size_t i = 0; i < v->n; i++) {
        const float *w = t + (size_t)v->idx[i] * SCORE_LANES;
        double x = (double)v->val[i];
        for (unsigned m = 0; m < SCORE_LANES; m++)
            acc[m] += (double)w[m] * x;
    }
    for (unsigned m = 0; m < members; m++)
        z[m] = acc[m];
}

/* z[m] for every member of l: head t (bucket-major) when built, else base. */
static void layer_dot(const struct reward_layer *l, const float *t, const float *base,
                      const struct feat_vec *v, double *z)
{
    if (t)
        vec_dot_lanes(t, l->members, v, z);
    else
        vec_dot_members(base, l->stride, l->members, v, z);
}

/* Mean and standard deviation of x[0..n). */
static void mean_sd(const double *x, unsigned n, double *mean, double *sd)
{
    double s = 0.0, ss = 0.0;
    for (unsigned i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (unsigned i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(ss / n);
}

static double confidence_of(double p, double sd)
{
    double c = (p >= 0.5 ? p : 1.0 - p) - sd;
    return c < 0.5 ? 0.5 : c > 1.0 ? 1.0 : c;
}

/* Appends the nonzero c[0..n) at indices 2^bits + k, after every bucket,
 * so v stays sorted. Returns 0 or -ENOMEM. */
static int vec_append(struct feat_vec *v, unsigned bits, const float *c, unsigned n)
{
    if (v->n + n > v->cap) {
        uint32_t *ni = realloc(v->idx, (v->n + n) * sizeof(*ni));
        if (!ni)
            return -ENOMEM;
        v->idx = ni;
        float *nv = realloc(v->val, (v->n + n) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        v->val = nv;
        v->cap = v->n + n;
    }
    for (unsigned k = 0; k < n; k++) {
        if (c[k] == 0.0f)
            continue;
        v->idx[v->n] = ((uint32_t)1 << bits) + k;
        v->val[v->n++] = c[k];
    }
    return 0;
}

/* phi of one side into out: the hashed features, then its checker block
 * (nblock values, none when 0). Returns 0 or a negative errno. */
static int side_features(enum feat_hash hash, unsigned bits, const char *prompt, size_t plen,
                         const char *x, const float *block, unsigned nblock, struct feat_vec *out)
{
    int rc = feat_extract_hash(hash, bits, prompt, plen, x, strlen(x), out);
    if (!rc && nblock)
        rc = vec_append(out, bits, block, nblock);
    return rc;
}

/* Both sides of one pair, with its sample group samples[0..n) (n == 0:
 * the pair on its own, its group {a, b}). */
static int pair_features(const struct reward_layer *l, const char *prompt, const char *a,
                         const char *b, const char *const *samples, size_t n, struct feat_vec *fa,
                         struct feat_vec *fb)
{
    float block[2][REWARD_CHECK_NFEAT];
    const char *texts[2] = {a, b};
    const char *const *g = n ? samples : texts;
    size_t plen = strlen(prompt);
    int rc = l->ncheck ? reward_check_group(prompt, g,
                                            n              ? n
                                            : strcmp(a, b) ? 2
                                                           : 1,
                                            texts, 2, block)
                       : 0;
    /* Both sides in one call: the prompt is tokenized once. */
    struct feat_vec out[2] = {*fa, *fb};
    size_t len[2] = {strlen(a), strlen(b)};
    if (!rc)
        rc = feat_extract_many(l->hash, l->bits, prompt, plen, texts, len, 2, out);
    *fa = out[0];
    *fb = out[1];
    if (!rc && l->ncheck)
        rc = vec_append(fa, l->bits, block[0], l->ncheck);
    if (!rc && l->ncheck)
        rc = vec_append(fb, l->bits, block[1], l->ncheck);
    return rc;
}

int reward_score_pair_group(const struct reward_layer *l, const char *prompt, const char *a,
                            const char *b, const char *const *samples, size_t n,
                            struct reward_pair *out)
{
    struct feat_vec fa, fb;
    double ra[REWARD_MEMBERS_MAX], rb[REWARD_MEMBERS_MAX], pa[REWARD_MEMBERS_MAX];
    int rc;
    if (!l || !prompt || !a || !b || !out || (n && !samples))
        return -EINVAL;
    feat_vec_init(&fa);
    feat_vec_init(&fb);
    rc = pair_features(l, prompt, a, b, samples, n, &fa, &fb);
    if (rc)
        goto out;
    layer_dot(l, l->wt, l->w, &fa, ra);
    layer_dot(l, l->wt, l->w, &fb, rb);
    for (unsigned m = 0; m < l->members; m++)
        pa[m] = sigmoid(ra[m] - rb[m]);
    mean_sd(ra, l->members, &out->ra, &out->ra_sd);
    mean_sd(rb, l->members, &out->rb, &out->rb_sd);
    mean_sd(pa, l->members, &out->p_a, &out->p_sd);
    out->confidence = confidence_of(out->p_a, out->p_sd);
out:
    feat_vec_clear(&fa);
    feat_vec_clear(&fb);
    return rc;
}

int reward_score_pair(const struct reward_layer *l, const char *prompt, const char *a,
                      const char *b, struct reward_pair *out)
{
    return reward_score_pair_group(l, prompt, a, b, NULL, 0, out);
}

int reward_score_single(const struct reward_layer *l, const char *prompt, const char *text,
                        struct reward_single *out)
{
    struct feat_vec f;
    double r[REWARD_MEMBERS_MAX], pg[REWARD_MEMBERS_MAX], sd;
    int rc;
    if (!l || !prompt || !text || !out)
        return -EINVAL;
    float block[REWARD_CHECK_NFEAT];
    feat_vec_init(&f);
    rc = l->ncheck ? reward_check_single(prompt, text, block) : 0;
    if (!rc)
        rc = side_features(l->hash, l->bits, prompt, strlen(prompt), text, block, l->ncheck, &f);
    if (rc)
        goto out;
    layer_dot(l, l->wt, l->w, &f, r);
    if (l->u) {
        layer_dot(l, l->ut, l->u, &f, pg);
        for (unsigned m = 0; m < l->members; m++)
            pg[m] = sigmoid(pg[m] + (double)l->u[(size_t)m * l->stride + l->stride - 1]);
    }
    mean_sd(r, l->members, &out->r, &out->r_sd);
    out->has_point = l->u != NULL;
    out->p_good = 0.5;
    out->confidence = 0.5;
    if (l->u) {
        mean_sd(pg, l->members, &out->p_good, &sd);
        out->confidence = confidence_of(out->p_good, sd);
    }
out:
    feat_vec_clear(&f);
    return rc;
}

/* ---- calibration -------------------------------------------------------- */

/* One scored held-out item. */
struct scored {
    double p;       /* mean P(first side / yes) */
    double conf;    /* confidence in [0.5, 1] */
    double y;       /* label */
    uint64_t group; /* the row's group */
    size_t row;     /* the row's index */
    int fresh;      /* 1 when no item before it (by decreasing confidence) shares its group */
};

/* Scores row i of rows with the members of one head. */
static void score_row(const float *base, size_t stride, unsigned members, int bias,
                      const struct reward_rows *rows, size_t i, struct scored *out)
{
    double p[REWARD_MEMBERS_MAX], mean, sd;
    for (unsigned m = 0; m < members; m++) {
        const float *w = base + (size_t)m * stride;
        double z = bias ? (double)w[stride - 1] : 0.0;
        for (uint64_t k = rows->off[i]; k < rows->off[i + 1]; k++)
            z += (double)w[rows->idx[k]] * (double)bf16_to(rows->val[k]);
        p[m] = sigmoid(z);
    }
    mean_sd(p, members, &mean, &sd);
    out->p = mean;
    out->conf = confidence_of(mean, sd);
    out->y = (double)rows->y[i];
    out->group = rows->grp[i];
    out->row = i;
    out->fresh = 1;
}

static int cmp_conf_desc(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->conf, y = ((const struct scored *)b)->conf;
    return (x < y) - (x > y);
}

static int is_correct(const struct scored *s)
{
    return (s->p >= 0.5) == (s->y > 0.5);
}

/* Lower end of the one-sided 95% Wilson score interval for c successes of k. */
static double wilson_lower(double c, double k)
{
    if (k <= 0)
        return 0.0;
    double ph = c / k, z2 = WILSON_Z * WILSON_Z;
    double centre = ph + z2 / (2 * k);
    double half = WILSON_Z * sqrt(ph * (1 - ph) / k + z2 / (4 * k * k));
    return (centre - half) / (1 + z2 / k);
}

/* A 64-bit key and the position it was found at: sorted by key then
 * position, the first of each run of equal keys is its earliest one. */
struct key_pos {
    uint64_t key;
    size_t pos;
};

static int cmp_key_pos(const void *a, const void *b)
{
    const struct key_pos *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sets s[k].fresh to 1 when no s[j], j < k, shares s[k]'s group, else 0.
 * Returns 0 or -ENOMEM. */
static int mark_fresh(struct scored *s, size_t m)
{
    struct key_pos *v = malloc((m ? m : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t k = 0; k < m; k++)
        v[k] = (struct key_pos){s[k].group, k};
    qsort(v, m, sizeof(*v), cmp_key_pos);
    for (size_t i = 0; i < m; i++)
        s[v[i].pos].fresh = i == 0 || v[i].key != v[i - 1].key;
    free(v);
    return 0;
}

/* Sums of a one-way analysis of variance of correctness by group. */
struct anova {
    double k, n, sq; /* groups, items, sum of squared group sizes */
    double between;  /* sum over groups of size * (group mean - mean)^2 */
    double within;   /* sum over groups of size * mean_g * (1 - mean_g) */
};

/* Adds a group of c items, r of them right, to a; mean is the overall one. */
static void anova_add(struct anova *a, double c, double r, double mean)
{
    double pg = r / c;
    a->k += 1;
    a->n += c;
    a->sq += c * c;
    a->between += c * (pg - mean) * (pg - mean);
    a->within += c * pg * (1 - pg);
}

int reward_group_icc(const uint64_t *group, const unsigned char *right, size_t n, double *icc)
{
    struct key_pos *v = malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    double ok = 0;
    for (size_t k = 0; k < n; k++) {
        v[k] = (struct key_pos){group[k], k};
        ok += right[k] != 0;
    }
    qsort(v, n, sizeof(*v), cmp_key_pos);
    struct anova a = {0};
    for (size_t i = 0, j; i < n; i = j) {
        double r = 0;
        for (j = i; j < n && v[j].key == v[i].key; j++)
            r += right[v[j].pos] != 0;
        anova_add(&a, (double)(j - i), r, ok / (double)n);
    }
    free(v);
    *icc = 1.0;
    if (a.k < 2 || a.n <= a.k || ok == 0 || ok == (double)n)
        return 0;
    double msb = a.between / (a.k - 1), msw = a.within / (a.n - a.k);
    double n0 = (a.n - a.sq / a.n) / (a.k - 1);
    double den = msb + (n0 - 1) * msw;
    double r = den > 0 ? (msb - msw) / den : 1.0;
    *icc = r < 0 ? 0 : r > 1 ? 1 : r;
    return 0;
}

/* reward_group_icc of the scored items s[0..m). */
static int scored_icc(const struct scored *s, size_t m, double *icc)
{
    uint64_t *g = malloc((m ? m : 1) * sizeof(*g));
    unsigned char *r = malloc(m ? m : 1);
    int rc = g && r ? 0 : -ENOMEM;
    for (size_t k = 0; k < m && !rc; k++) {
        g[k] = s[k].group;
        r[k] = (unsigned char)is_correct(&s[k]);
    }
    if (!rc)
        rc = reward_group_icc(g, r, m, icc);
    free(g);
    free(r);
    return rc;
}

/* Kish's effective number of trials of items covering groups distinct
 * groups when correctness correlates icc within a group: items / (1 +
 * (mean items per group - 1) * icc), between groups (icc 1) and items
 * (icc 0). */
static double effective_trials(size_t items, size_t groups, double icc)
{
    double mbar = (double)items / (double)groups;
    return (double)items / (1 + (mbar - 1) * icc);
}

/* Lowest confidence reaching target (see reward.h) over s[0..n) sorted by
 * decreasing confidence with ties already removed and fresh marked;
 * INFINITY when none. The Wilson bound counts Kish's effective trials
 * (effective_trials, with the calibration set's intraclass correlation
 * icc): copies or samples of one prompt are not independent evidence as
 * far as their correctness goes together. *trials gets the effective
 * trials at tau. */
static double pick_threshold(const struct scored *s, size_t n, double target, double icc,
                             size_t *covered, size_t *groups, double *trials, double *lower)
{
    double tau = INFINITY;
    size_t c = 0, g = 0;
    *covered = *groups = 0;
    *lower = *trials = NAN;
    for (size_t k = 0; k < n; k++) {
        c += (size_t)is_correct(&s[k]);
        g += (size_t)s[k].fresh;
        if (k + 1 < n && s[k + 1].conf == s[k].conf)
            continue; /* a threshold covers all items of equal confidence */
        double acc = (double)c / (double)(k + 1), t = effective_trials(k + 1, g, icc);
        double lb = wilson_lower(acc * t, t);
        if (lb >= target) {
            tau = s[k].conf;
            *covered = k + 1;
            *groups = g;
            *trials = t;
            *lower = lb;
        }
    }
    return tau;
}

/* Running metrics of scored items: log loss over all of them; accuracy
 * and expected calibration error (ECE_BINS bins of max(p, 1 - p)) over
 * those that are not ties. */
struct metrics {
    size_t n, m, correct; /* items, items without a tie, right ones */
    double ll;            /* summed log loss */
    double bin_p[ECE_BINS], bin_c[ECE_BINS], bin_n[ECE_BINS];
};

static void metrics_loss(struct metrics *a, const struct scored *s)
{
    double pc = s->p < 1e-12 ? 1e-12 : s->p > 1 - 1e-12 ? 1 - 1e-12 : s->p;
    a->ll += -(s->y * log(pc) + (1 - s->y) * log(1 - pc));
    a->n++;
}

/* Counts s (not a tie) in accuracy and its ECE bin. */
static void metrics_bin(struct metrics *a, const struct scored *s)
{
    double q = s->p >= 0.5 ? s->p : 1 - s->p;
    unsigned b = (unsigned)((q - 0.5) * 2 * ECE_BINS);
    if (b >= ECE_BINS)
        b = ECE_BINS - 1;
    a->bin_p[b] += q;
    a->bin_c[b] += is_correct(s);
    a->bin_n[b] += 1;
    a->m++;
    a->correct += (size_t)is_correct(s);
}

/* New JSON numbers (null when undefined) of accuracy, log loss and ECE. */
static void metrics_json(const struct metrics *a, json_t **acc, json_t **ll, json_t **ece)
{
    double e = 0.0;
    for (unsigned b = 0; b < ECE_BINS; b++)
        if (a->bin_n[b] > 0)
            e += a->bin_n[b] / (double)a->m *
                 fabs(a->bin_c[b] / a->bin_n[b] - a->bin_p[b] / a->bin_n[b]);
    *acc = jnum(a->m ? (double)a->correct / (double)a->m : NAN);
    *ll = jnum(a->n ? a->ll / (double)a->n : NAN);
    *ece = jnum(a->m ? e : NAN);
}

/* The coverage-accuracy curve of s[0..m) (sorted by confidence, no ties)
 * at fixed confidence levels: a new JSON array, NULL when out of memory. */
static json_t *coverage_curve(const struct scored *s, size_t m)
{
    static const double grid[] = {0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99};
    json_t *curve = json_array();
    for (size_t g = 0; curve && g < sizeof(grid) / sizeof(grid[0]); g++) {
        size_t k = 0, c = 0;
        while (k < m && s[k].conf >= grid[g])
            c += (size_t)is_correct(&s[k++]);
        json_t *pt = json_pack("{s:f,s:o,s:o}", "confidence", grid[g], "coverage",
                               jnum(m ? (double)k / (double)m : NAN), "accuracy",
                               jnum(k ? (double)c / (double)k : NAN));
        if (!pt || json_array_append_new(curve, pt)) {
            json_decref(curve);
            curve = NULL;
        }
    }
    return curve;
}

/* Picks tau for s[0..m) and says why in a new JSON string. */
static json_t *threshold_note(const struct scored *s, size_t m, double target, double icc,
                              const char *what, double *tau)
{
    char buf[400];
    size_t covered, groups;
    double trials, lower;
    *tau = pick_threshold(s, m, target, icc, &covered, &groups, &trials, &lower);
    if (isfinite(*tau))
        snprintf(buf, sizeof(buf),
                 "auto-label %s with confidence >= %.4f: %zu of %zu calibration %s covered "
                 "(%zu prompt groups, %.1f effective trials at intraclass correlation %.3f), "
                 "95%% Wilson lower bound of their accuracy %.4f >= target %.4f (ties skipped)",
                 what, *tau, covered, m, what, groups, trials, icc, lower, target);
    else
        snprintf(buf, sizeof(buf),
                 "no confidence level reaches target %.4f with 95%% confidence on %zu calibration "
                 "%s: everything goes to humans",
                 target, m, what);
    return json_string(buf);
}

/* Builds the "calibration" object and the threshold for scored items s
 * (sorted in place). what names the items in the note ("pairs"/"points"). */
static json_t *calibrate(struct scored *s, size_t n, double target, double icc_min,
                         const char *what, double *tau, json_t **note)
{
    struct metrics a = {0};
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        metrics_loss(&a, &s[i]);
    /* Ties carry no accuracy information: drop them from here on. */
    for (size_t i = 0; i < n; i++)
        if (s[i].y != 0.5)
            s[m++] = s[i];
    qsort(s, m, sizeof(*s), cmp_conf_desc);
    double icc;
    if (mark_fresh(s, m) || scored_icc(s, m, &icc))
        return NULL;
    for (size_t i = 0; i < m; i++)
        metrics_bin(&a, &s[i]);
    json_t *curve = coverage_curve(s, m), *acc, *ll, *ece, *cal = NULL;
    *note = threshold_note(s, m, target, icc > icc_min ? icc : icc_min, what, tau);
    metrics_json(&a, &acc, &ll, &ece);
    if (curve && *note) {
        cal = json_pack("{s:I,s:o,s:o,s:o,s:o,s:f,s:f}", "items", (json_int_t)m, "accuracy", acc,
                        "log_loss", ll, "ece", ece, "curve", curve, "group_correlation", icc,
                        "group_correlation_used", icc > icc_min ? icc : icc_min);
    } else {
        json_decref(curve);
        json_decref(acc);
        json_decref(ll);
        json_decref(ece);
    }
    if (!cal) {
        json_decref(*note);
        *note = NULL;
    }
    return cal;
}

/* ---- training ----------------------------------------------------------- */

/* The rows of r that are not a later copy of an earlier row (same nonzero
 * key), in order, into a new *keep (the caller frees it, also on error);
 * *dups counts the others. Returns 0 or -ENOMEM. */
static int dedupe_rows(const struct reward_rows *r, uint32_t **keep, size_t *nkeep, size_t *dups)
{
    size_t n = r->n, nk = 0;
    struct key_pos *v = malloc((n ? n : 1) * sizeof(*v));
    unsigned char *drop = calloc(n ? n : 1, 1);
    int rc = -ENOMEM;
    *keep = malloc((n ? n : 1) * sizeof(**keep));
    *nkeep = *dups = 0;
    if (!v || !drop || !*keep)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (r->key[i])
            v[nk++] = (struct key_pos){r->key[i], i};
    qsort(v, nk, sizeof(*v), cmp_key_pos);
    for (size_t q = 1; q < nk; q++)
        if (v[q].key == v[q - 1].key)
            drop[v[q].pos] = 1;
    for (size_t i = 0; i < n; i++) {
        if (drop[i])
            (*dups)++;
        else
            (*keep)[(*nkeep)++] = (uint32_t)i;
    }
    rc = 0;
out:
    free(v);
    free(drop);
    return rc;
}

/* Splits the rows keep[0..n) of r into a training pool and a calibration
 * pool by group: a group goes to calibration when the hash of it and the
 * seed falls below share, so all its rows land on one side. */
static int split_rows(const struct reward_rows *r, const uint32_t *keep, size_t n, double share,
                      uint64_t seed, uint32_t **train, size_t *ntrain, uint32_t **calib,
                      size_t *ncalib)
{
    *train = malloc((n ? n : 1) * sizeof(**train));
    *calib = malloc((n ? n : 1) * sizeof(**calib));
    *ntrain = *ncalib = 0;
    if (!*train || !*calib)
        return -ENOMEM;
    for (size_t q = 0; q < n; q++) {
        uint64_t st = r->grp[keep[q]] ^ seed ^ 0x63616c6962726174ULL;
        if (rng_unit(&st) < share)
            (*calib)[(*ncalib)++] = keep[q];
        else
            (*train)[(*ntrain)++] = keep[q];
    }
    return 0;
}

/* What training one head gives the report. */
struct head_out {
    double tau;             /* the head's threshold, for rows scored as the layer scores */
    json_t *cal, *note;     /* new: the calibration object and the threshold note */
    double g_tau;           /* with sample groups (lone rows given): their threshold */
    json_t *g_cal, *g_note; /* new, or NULL without lone rows */
    size_t ntrain, ncalib;  /* rows trained on / held out, after duplicates */
    size_t dups;            /* rows skipped as exact duplicates */
    double l2;              /* the L2 strength used */
    unsigned epochs;        /* SGD passes made */
    unsigned folds;         /* cross-fitted calibration folds, 0 for a held-out share */
};

/* Folds of cross-fitted calibration for a held-out share: 1 / share,
 * rounded, in [2, CROSSFIT_FOLDS_MAX]. */
static unsigned crossfit_folds(double share)
{
    unsigned k = (unsigned)lround(1.0 / share);
    return k < 2 ? 2 : k > CROSSFIT_FOLDS_MAX ? CROSSFIT_FOLDS_MAX : k;
}

/* Assigns each of keep[0..n) its calibration fold, by group. */
static void crossfit_assign(const struct reward_params *p, const struct reward_rows *rows,
                            const uint32_t *keep, size_t n, uint64_t salt, unsigned folds,
                            unsigned char *fold)
{
    for (size_t q = 0; q < n; q++) {
        uint64_t st = rows->grp[keep[q]] ^ p->seed ^ salt ^ 0x63616c6962726174ULL;
        fold[q] = (unsigned char)(rng_unit(&st) * folds);
    }
}

/* 1 when row i trains members: every row but the lone ones (i >=
 * lone_from when lone_from > 0), which are only scored. */
static int fits(size_t i, size_t lone_from)
{
    return !lone_from || i < lone_from;
}

/* Out-of-fold scores of keep[0..n) into s (n entries): the rows are split
 * into folds by group, and each fold is scored by members trained on the
 * other folds' rows that fit (weights in a scratch buffer). Returns 0 or a
 * negative errno. */
static int crossfit_scores(const struct reward_params *p, const struct reward_rows *rows,
                           const uint32_t *keep, size_t n, size_t lone_from, int bias,
                           uint64_t salt, size_t stride, struct scored *s)
{
    unsigned folds = crossfit_folds(p->calib_share);
    float *tmp = malloc((size_t)p->members * stride * sizeof(*tmp));
    uint32_t *tr = malloc((n ? n : 1) * sizeof(*tr)), *te = malloc((n ? n : 1) * sizeof(*te));
    unsigned char *fold = malloc(n ? n : 1);
    int rc = tmp && tr && te && fold ? 0 : -ENOMEM;
    if (!rc)
        crossfit_assign(p, rows, keep, n, salt, folds, fold);
    size_t ns = 0;
    for (unsigned f = 0; f < folds && !rc; f++) {
        size_t ntr = 0, nte = 0;
        double l2;
        unsigned epochs;
        for (size_t q = 0; q < n; q++) {
            if (fold[q] == f)
                te[nte++] = keep[q];
            else if (fits(keep[q], lone_from))
                tr[ntr++] = keep[q];
        }
        if (!nte)
            continue;
        rc = train_head(p, rows, tr, ntr, bias, salt ^ mix64(f + 1), tmp, stride, &l2, &epochs);
        for (size_t q = 0; q < nte && !rc; q++)
            score_row(tmp, stride, p->members, bias, rows, te[q], &s[ns++]);
    }
    free(tmp);
    free(tr);
    free(te);
    free(fold);
    return rc;
}

/* Moves the scores of lone rows (row >= lone_from) of s[0..n) behind the
 * others (in place, linear; calibrate sorts them anyway); returns how many
 * are not lone. */
static size_t partition_lone(struct scored *s, size_t n, size_t lone_from)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].row < lone_from) {
            struct scored t = s[i];
            s[i] = s[k];
            s[k++] = t;
        }
    return k;
}

/* reward_group_icc of the scores s[0..n) that are not ties, into *icc.
 * Returns 0 or -ENOMEM. */
static int view_icc(const struct scored *s, size_t n, double *icc)
{
    struct scored *t = malloc((n ? n : 1) * sizeof(*t));
    if (!t)
        return -ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i].y != 0.5)
            t[m++] = s[i];
    int rc = scored_icc(t, m, icc);
    free(t);
    return rc;
}

/* Calibrates o from the scores s[0..n): without lone rows (lone_from 0)
 * all of them; else the threshold the layer scores with is the lone rows',
 * the grouped one goes to g_*. Returns 0 or -ENOMEM. */
static int calibrate_head(const struct reward_params *p, int bias, size_t lone_from,
                          struct scored *s, size_t n, struct head_out *o)
{
    const char *what = bias ? "points" : "pairs";
    size_t ng = lone_from ? partition_lone(s, n, lone_from) : n;
    double icc_g = 0, icc_l = 0;
    if (lone_from && (view_icc(s, ng, &icc_g) || view_icc(s + ng, n - ng, &icc_l)))
        return -ENOMEM;
    /* Each view's correlation is an estimate from the same prompt groups;
     * both thresholds count trials with the larger one. */
    double icc = icc_g > icc_l ? icc_g : icc_l;
    o->cal = calibrate(s + (lone_from ? ng : 0), lone_from ? n - ng : n, p->target, icc, what,
                       &o->tau, &o->note);
    if (!o->cal || json_object_set_new(o->cal, "cross_fitted_folds", json_integer(o->folds)))
        return -ENOMEM;
    if (!lone_from)
        return 0;
    o->ncalib = ng; /* the pairs held out, each seen in two views */
    o->g_cal = calibrate(s, ng, p->target, icc, what, &o->g_tau, &o->g_note);
    if (!o->g_cal || json_object_set_new(o->g_cal, "cross_fitted_folds", json_integer(o->folds)))
        return -ENOMEM;
    return 0;
}

/* Trains one head on rows (weights into base) and calibrates it: with at
 * most CROSSFIT_ROWS_MAX rows on out-of-fold scores of every row, the head
 * then trained on all of them (small sets: a single held-out share would
 * leave too few prompt groups to vouch for any threshold); with more, on
 * calib_share of the groups held out, the head trained on the rest. Rows
 * from lone_from on (none when 0) are the pairs again, each its own sample
 * group, as reward_score_pair sees them: only scored, never trained on
 * (training on both views made neither better), the head's threshold is
 * calibrated on them, the grouped one goes to o->g_*. Returns 0 or a negative errno; on success o's
 * JSON values are new references. */
static int train_and_calibrate(const struct reward_params *p, const struct reward_rows *rows,
                               size_t lone_from, int bias, uint64_t salt, float *base,
                               size_t stride, struct head_out *o)
{
    uint32_t *keep = NULL, *train = NULL, *calib = NULL;
    struct scored *s = NULL;
    size_t nkeep;
    int rc = dedupe_rows(rows, &keep, &nkeep, &o->dups);
    o->folds =
        p->calib_share > 0 && nkeep <= CROSSFIT_ROWS_MAX ? crossfit_folds(p->calib_share) : 0;
    if (!rc && !o->folds)
        rc = split_rows(rows, keep, nkeep, p->calib_share, p->seed ^ salt, &train, &o->ntrain,
                        &calib, &o->ncalib);
    s = malloc((nkeep ? nkeep : 1) * sizeof(*s));
    if (!rc && !s)
        rc = -ENOMEM;
    if (!rc && o->folds) {
        o->ncalib = nkeep;
        rc = crossfit_scores(p, rows, keep, nkeep, lone_from, bias, salt, stride, s);
    }
    /* The rows that train the layer: all kept ones that fit, or the
     * training side's. */
    uint32_t *pool = o->folds ? keep : train;
    size_t npool = o->folds ? nkeep : o->ntrain;
    o->ntrain = 0;
    for (size_t q = 0; q < npool && !rc; q++)
        if (fits(pool[q], lone_from))
            pool[o->ntrain++] = pool[q];
    if (lone_from) /* each duplicate pair was dropped in both views */
        o->dups = lone_from - o->ntrain - (o->folds ? 0 : o->ncalib / 2);
    if (!rc)
        rc = train_head(p, rows, pool, o->ntrain, bias, salt, base, stride, &o->l2, &o->epochs);
    for (size_t q = 0; q < o->ncalib && !o->folds && !rc; q++)
        score_row(base, stride, p->members, bias, rows, calib[q], &s[q]);
    if (!rc)
        rc = calibrate_head(p, bias, lone_from, s, o->ncalib, o);
    free(keep);
    free(train);
    free(calib);
    free(s);
    return rc;
}

static int params_ok(const struct reward_params *p)
{
    return p && p->members >= 1 && p->members <= REWARD_MEMBERS_MAX && p->bits >= FEAT_BITS_MIN &&
           p->bits <= FEAT_BITS_MAX && p->target > 0.5 && p->target < 1.0 &&
           p->calib_share >= 0.0 && p->calib_share <= 0.9 && isfinite(p->l2) && p->epochs <= 1000 &&
           p->checks <= 1 && (p->hash == FEAT_HASH_FNV1A || p->hash == FEAT_HASH_FX) &&
           p->ngram_scale >= 0.0 && p->ngram_scale <= 64.0;
}

/* The pointwise head's report object (stealing q's cal and note), NULL when
 * out of memory. */
static json_t *point_report(struct head_out *q)
{
    json_t *pw =
        json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:f,s:I}", "points_train", (json_int_t)q->ntrain,
                  "points_calibration", (json_int_t)q->ncalib, "duplicates_skipped",
                  (json_int_t)q->dups, "calibration", q->cal, "threshold", jnum(q->tau),
                  "threshold_note", q->note, "l2", q->l2, "epochs", (json_int_t)q->epochs);
    q->cal = q->note = NULL;
    return pw;
}

/* The training report (stealing h's cal and note, and pw). */
static json_t *train_report(const struct reward_params *p, struct head_out *h, size_t npoints,
                            json_t *pw)
{
    json_t *rep =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:o,s:o,s:o,s:f,s:o}", "pairs_train",
                  (json_int_t)h->ntrain, "pairs_calibration", (json_int_t)h->ncalib,
                  "duplicates_skipped", (json_int_t)h->dups, "points", (json_int_t)npoints,
                  "members", (json_int_t)p->members, "bits", (json_int_t)p->bits, "seed",
                  (json_int_t)p->seed, "l2", h->l2, "epochs", (json_int_t)h->epochs, "calibration",
                  h->cal ? h->cal : json_null(), "threshold", jnum(h->tau), "threshold_note",
                  h->note, "target", p->target, "pointwise", pw ? pw : json_null());
    h->cal = h->note = NULL;
    return rep;
}

/* The "checks" object of the report: each checker feature's pair weight,
 * the mean over members, by name; JSON null without checker features. */
static json_t *checks_report(const struct reward_layer *l)
{
    if (!l->ncheck)
        return json_null();
    json_t *w = json_object();
    size_t at = (size_t)1 << l->bits;
    for (unsigned k = 0; w && k < l->ncheck; k++) {
        double sum = 0.0;
        for (unsigned m = 0; m < l->members; m++)
            sum += (double)l->w[(size_t)m * l->stride + at + k];
        if (json_object_set_new(w, reward_check_feat_name(k), json_real(sum / l->members))) {
            json_decref(w);
            w = NULL;
        }
    }
    return w ? json_pack("{s:I,s:I,s:o,s:s}", "features", (json_int_t)l->ncheck, "samples_max",
                         (json_int_t)CHECK_GROUP_DEFAULT, "weights", w, "groups",
                         "pairs grouped by prompt within the set")
             : NULL;
}

/* The "grouped" object of the report (stealing h's g_cal and g_note), JSON
 * null without one; NULL when out of memory. */
static json_t *grouped_report(struct head_out *h)
{
    if (!h->g_cal)
        return json_null();
    json_t *g = json_pack("{s:o,s:o,s:o}", "calibration", h->g_cal, "threshold", jnum(h->g_tau),
                          "threshold_note", h->g_note);
    h->g_cal = h->g_note = NULL;
    return g;
}

/* Adds the checker weights and the grouped calibration to the report. */
static int report_checks(json_t *rep, const struct reward_layer *l, struct head_out *h)
{
    return json_object_set_new(rep, "checks", checks_report(l)) ||
           json_object_set_new(rep, "grouped", grouped_report(h));
}

/* reward_train_rows where the pair rows from lone_from on (none when 0)
 * are the pairs again, each its own sample group (see train_and_calibrate). */
static struct reward_layer *train_rows(const struct reward_params *p,
                                       const struct reward_rows *pairs, size_t lone_from,
                                       const struct reward_rows *points, json_t **report)
{
    struct reward_layer *l = NULL;
    struct head_out h = {.tau = INFINITY}, q = {.tau = INFINITY};
    json_t *pw = NULL;
    int ok = 0;

    if (report)
        *report = NULL;
    if (!params_ok(p) || (!pairs && !points) || (pairs && pairs->bits != p->bits) ||
        (points && points->bits != p->bits) || (pairs && points && pairs->extra != points->extra) ||
        (reward_rows_count(pairs) == 0 && reward_rows_count(points) == 0))
        return NULL;
    l = layer_new(p->bits, pairs ? pairs->extra : points->extra, p->members,
                  reward_rows_count(points) > 0);
    if (!l)
        return NULL;
    l->hash = p->hash;
    if (reward_rows_count(pairs) > 0) {
        if (train_and_calibrate(p, pairs, lone_from, 0, 0x7061697273ULL, l->w, l->stride, &h))
            goto out;
    } else if (!(h.note = json_string("no pairs: everything goes to humans"))) {
        goto out;
    }
    l->tau = h.tau;
    l->tau_group = h.g_cal ? h.g_tau : h.tau;
    if (l->u) {
        if (train_and_calibrate(p, points, 0, 1, 0x706f696e7473ULL, l->u, l->stride, &q))
            goto out;
        l->tau_point = q.tau;
        if (!(pw = point_report(&q)))
            goto out;
    }
    if (report) {
        *report = train_report(p, &h, reward_rows_count(points), pw);
        pw = NULL; /* stolen */
        if (!*report || report_checks(*report, l, &h))
            goto out;
    }
    ok = 1;
out:
    json_decref(h.cal);
    json_decref(h.note);
    json_decref(h.g_cal);
    json_decref(h.g_note);
    json_decref(q.cal);
    json_decref(q.note);
    json_decref(pw);
    if (!ok) {
        reward_free(l);
        return NULL;
    }
    return l;
}

struct reward_layer *reward_train_rows(const struct reward_params *p,
                                       const struct reward_rows *pairs,
                                       const struct reward_rows *points, json_t **report)
{
    struct reward_layer *l = train_rows(p, pairs, 0, points, report);
    if (l)
        layer_ready(l);
    return l;
}

/* Multiplies the hashed features of v (indices below 2^bits) by c. */
static void scale_hashed(struct feat_vec *v, unsigned bits, float c)
{
    for (size_t k = 0; k < v->n; k++)
        if (v->idx[k] < ((uint32_t)1 << bits))
            v->val[k] *= c;
}

/* A layer trained on hashed features scaled by c scores unscaled ones: its
 * pair weights of the buckets take the factor instead. */
static void unscale_weights(struct reward_layer *l, float c)
{
    if (c == 1.0f)
        return;
    for (unsigned m = 0; m < l->members; m++)
        for (size_t k = 0; k < ((size_t)1 << l->bits); k++)
            l->w[(size_t)m * l->stride + k] *= c;
}

/* The training scale of the hashed features for p (see struct
 * reward_params). */
static float ngram_scale_of(const struct reward_params *p)
{
    return p->ngram_scale > 0 ? (float)p->ngram_scale : p->checks ? REWARD_NGRAM_SCALE : 1.0f;
}

/* Appends pairs (phi(a) - phi(b)) to r. With ncheck, each side's checker
 * block follows its buckets, its group the pairs' distinct responses to
 * the same prompt (reward_check.h), or, when lone, the pair alone, as
 * reward_score_pair sees it; lone rows get their own content keys, so they
 * are never taken for duplicates of the grouped ones. Returns 0 or a
 * negative errno. */
static int rows_add_pairs(struct reward_rows *r, int lone, const struct reward_pair_ex *pairs,
                          size_t n, int keep_weight)
{
    unsigned bits = r->bits, ncheck = r->extra;
    struct reward_check_table t = {0};
    struct feat_vec fa, fb, tmp;
    int rc = 0;
    feat_vec_init(&fa);
    feat_vec_init(&fb);
    feat_vec_init(&tmp);
    if (ncheck)
        rc = reward_check_pairs(pairs, n, 0, lone, &t);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct reward_pair_ex *e = &pairs[i];
        if (!e->prompt || !e->a || !e->b) {
            rc = -EINVAL;
            break;
        }
        size_t plen = strlen(e->prompt);
        rc = side_features(r->hash, bits, e->prompt, plen, e->a, ncheck ? t.v[t.side[2 * i]] : NULL,
                           ncheck, &fa);
        if (!rc)
            rc = side_features(r->hash, bits, e->prompt, plen, e->b,
                               ncheck ? t.v[t.side[2 * i + 1]] : NULL, ncheck, &fb);
        uint64_t key = pair_label_key(e);
        if (!rc && r->hscale != 1.0f) {
            scale_hashed(&fa, bits, r->hscale);
            scale_hashed(&fb, bits, r->hscale);
        }
        if (!rc)
            rc = rows_add_diff(r, &fa, &fb, e->y, keep_weight ? e->weight : 1.0,
                               e->group ? e->group : reward_group_of(e->prompt),
                               lone ? mix64(key ^ 0x6c6f6e65ULL) | 1 : key, &tmp);
    }
    reward_check_table_free(&t);
    feat_vec_clear(&fa);
    feat_vec_clear(&fb);
    feat_vec_clear(&tmp);
    return rc;
}

/* Featurises pairs into a new rows store of ncheck checker features (see
 * rows_add_pairs), NULL on error. */
static struct reward_rows *rows_from_pairs(enum feat_hash hash, unsigned bits, unsigned ncheck,
                                           int lone, const struct reward_pair_ex *pairs, size_t n,
                                           int keep_weight)
{
    struct reward_rows *r = rows_new(bits, ncheck);
    if (r)
        r->hash = hash;
    if (r && rows_add_pairs(r, lone, pairs, n, keep_weight)) {
        reward_rows_free(r);
        r = NULL;
    }
    return r;
}

/* Featurises points into a new rows store (NULL on error) of ncheck
 * extra features, all 0: the pointwise head does not use the checkers. */
static struct reward_rows *rows_from_points(enum feat_hash hash, unsigned bits, unsigned ncheck,
                                            const struct reward_point_ex *pts, size_t n)
{
    struct reward_rows *r = rows_new(bits, ncheck);
    struct feat_vec f;
    int rc = r ? 0 : -ENOMEM;
    feat_vec_init(&f);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!pts[i].prompt || !pts[i].text) {
            rc = -EINVAL;
            break;
        }
        rc = feat_extract_hash(hash, bits, pts[i].prompt, strlen(pts[i].prompt), pts[i].text,
                               strlen(pts[i].text), &f);
        if (!rc)
            rc = reward_rows_add_ex(r, f.idx, f.val, f.n, pts[i].y, pts[i].weight,
                                    pts[i].group ? pts[i].group : reward_group_of(pts[i].prompt),
                                    point_label_key(&pts[i]));
    }
    feat_vec_clear(&f);
    if (rc) {
        reward_rows_free(r);
        return NULL;
    }
    return r;
}

struct reward_layer *reward_train(const struct reward_params *p, const struct reward_pair_ex *pairs,
                                  size_t npairs, const struct reward_point_ex *points,
                                  size_t npoints, json_t **report)
{
    struct reward_rows *pr = NULL, *qr = NULL;
    struct reward_layer *l = NULL;
    if (report)
        *report = NULL;
    if (!params_ok(p) || (npairs && !pairs) || (npoints && !points) || (!npairs && !npoints))
        return NULL;
    /* With checker features the pairs train twice: with their sample
     * groups, and each pair its own group, as the daemon scores them while
     * it keeps no groups; each view gets its own threshold. */
    unsigned ncheck = p->checks ? REWARD_CHECK_NFEAT : 0;
    size_t lone_from = ncheck && npairs ? npairs : 0;
    pr = rows_new(p->bits, ncheck);
    if (!pr)
        goto out;
    pr->hash = p->hash;
    pr->hscale = ngram_scale_of(p);
    if (rows_add_pairs(pr, 0, pairs, npairs, 1) ||
        (lone_from && rows_add_pairs(pr, 1, pairs, npairs, 1)))
        goto out;
    if (npoints) {
        qr = rows_from_points(p->hash, p->bits, ncheck, points, npoints);
        if (!qr)
            goto out;
    }
    l = train_rows(p, pr, lone_from, qr, report);
    if (l) {
        unscale_weights(l, pr->hscale);
        layer_ready(l);
    }
    if (l && report && *report &&
        json_object_set_new(*report, "ngram_scale", json_real(pr->hscale))) {
        reward_free(l);
        l = NULL;
    }
out:
    reward_rows_free(pr);
    reward_rows_free(qr);
    return l;
}

/* ---- evaluation --------------------------------------------------------- */

/* reward_evaluate_rows against threshold tau. */
static json_t *evaluate_rows(const struct reward_layer *l, const struct reward_rows *rows,
                             double tau)
{
    size_t n = reward_rows_count(rows), cov = 0, cov_ok = 0;
    struct metrics a = {0};
    if (!l || !rows || rows->bits != l->bits || rows->extra != l->ncheck)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        struct scored s;
        score_row(l->w, l->stride, l->members, 0, rows, i, &s);
        metrics_loss(&a, &s);
        if (s.y == 0.5)
            continue;
        metrics_bin(&a, &s);
        if (s.conf >= tau) {
            cov++;
            cov_ok += (size_t)is_correct(&s);
        }
    }
    json_t *acc, *ll, *ece;
    metrics_json(&a, &acc, &ll, &ece);
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "pairs", (json_int_t)n, "accuracy", acc,
                     "log_loss", ll, "ece", ece, "threshold", jnum(tau), "coverage",
                     jnum(a.m ? (double)cov / (double)a.m : NAN), "accuracy_on_covered",
                     jnum(cov ? (double)cov_ok / (double)cov : NAN));
}

json_t *reward_evaluate_rows(const struct reward_layer *l, const struct reward_rows *rows)
{
    return l ? evaluate_rows(l, rows, l->tau) : NULL;
}

/* The pairs scored with their sample groups against the grouped threshold:
 * a new object, JSON null for a layer without checker features. */
static json_t *evaluate_grouped(const struct reward_layer *l, const struct reward_pair_ex *pairs,
                                size_t n)
{
    if (!l->ncheck)
        return json_null();
    struct reward_rows *r = rows_from_pairs(l->hash, l->bits, l->ncheck, 0, pairs, n, 0);
    json_t *j = r ? evaluate_rows(l, r, l->tau_group) : NULL;
    reward_rows_free(r);
    return j;
}

json_t *reward_evaluate(const struct reward_layer *l, const struct reward_pair_ex *pairs, size_t n)
{
    if (!l || (n && !pairs))
        return NULL;
    struct reward_rows *r = rows_from_pairs(l->hash, l->bits, l->ncheck, 1, pairs, n, 0);
    json_t *j = r ? reward_evaluate_rows(l, r) : NULL;
    reward_rows_free(r);
    if (j && json_object_set_new(j, "grouped", evaluate_grouped(l, pairs, n))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* ---- serialisation ------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static void put_floats(unsigned char *p, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], sizeof(u));
        put_u32(p + 4 * i, u);
    }
}

static void get_floats(const unsigned char *p, float *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(p + 4 * i);
        memcpy(&f[i], &u, sizeof(u));
    }
}

/* Layout (little-endian): magic[8] version u32 bits u32 members u32 flags u32
 * tau f64 tau_point f64 nfloats u64 checksum u64 (FNV-1a of the weights)
 * ncheck u32 check_set u32 tau_group f64 hash u32 (enum feat_hash) zero u32,
 * then nfloats float32: pair weights, then pointwise weights, each member
 * 2^bits + ncheck + 1 floats. Version 2 had no hash and zero words: it
 * loads with FEAT_HASH_FNV1A. Version 1 had 8 reserved bytes where version 2
 * has ncheck and check_set, and no tau_group either: it never had checker
 * features, and loads as ncheck 0 with tau_group = tau. */
int reward_save(const struct reward_layer *l, void **blob, size_t *len)
{
    if (!l || !blob || !len)
        return -EINVAL;
    size_t nf = (size_t)l->members * l->stride * (l->u ? 2 : 1);
    size_t total = BLOB_HEADER + 4 * nf;
    unsigned char *b = calloc(1, total);
    if (!b)
        return -ENOMEM;
    size_t half = (size_t)l->members * l->stride;
    put_floats(b + BLOB_HEADER, l->w, half);
    if (l->u)
        put_floats(b + BLOB_HEADER + 4 * half, l->u, half);
    memcpy(b, BLOB_MAGIC, 8);
    put_u32(b + 8, REWARD_BLOB_VERSION);
    put_u32(b + 12, l->bits);
    put_u32(b + 16, l->members);
    put_u32(b + 20, l->u ? 1u : 0u);
    put_u64(b + 24, f64_bits(l->tau));
    put_u64(b + 32, f64_bits(l->tau_point));
    put_u64(b + 40, (uint64_t)nf);
    put_u64(b + 48, feat_fnv1a64(b + BLOB_HEADER, 4 * nf));
    put_u32(b + 56, l->ncheck);
    put_u32(b + 60, l->ncheck == REWARD_CHECK_NFEAT_V3   ? reward_check_set_id_v3()
                    : l->ncheck == REWARD_CHECK_NFEAT_V4 ? reward_check_set_id_v4()
                    : l->ncheck == REWARD_CHECK_NFEAT_V5 ? reward_check_set_id_v5()
                    : l->ncheck == REWARD_CHECK_NFEAT_V6 ? reward_check_set_id_v6()
                    : l->ncheck                          ? reward_check_set_id()
                                                         : 0u);
    put_u64(b + 64, f64_bits(l->tau_group));
    put_u32(b + 72, (uint32_t)l->hash);
    *blob = b;
    *len = total;
    return 0;
}

static int tau_ok(double t)
{
    return t == INFINITY || (t >= 0.5 && t <= 1.0);
}

/* The checker features a blob's header records: 0 for version 1 and for
 * a layer without them; REWARD_CHECK_NFEAT_V3 for the checkers' own block
 * (versions 2 on), REWARD_CHECK_NFEAT_V4 for the block with the first
 * group features (version 4 on), REWARD_CHECK_NFEAT_V5 for the block
 * with the group features of version 5 (version 5 on), REWARD_CHECK_NFEAT_V6
 * for the block with those of version 6 (version 6 on), REWARD_CHECK_NFEAT
 * for the whole block (version 7 on); -1 for a definition this build does not know (another
 * version or feature set). */
static long blob_checks(const unsigned char *b)
{
    uint32_t version = get_u32(b + 8), n = get_u32(b + 56), set = get_u32(b + 60);
    if (version == 1)
        return 0;
    if (version < 2 || version > REWARD_BLOB_VERSION)
        return -1;
    if (n == 0 && set == 0)
        return 0;
    if (n == REWARD_CHECK_NFEAT_V3 && set == reward_check_set_id_v3())
        return (long)n;
    if (version >= 4 && n == REWARD_CHECK_NFEAT_V4 && set == reward_check_set_id_v4())
        return (long)n;
    if (version >= 5 && n == REWARD_CHECK_NFEAT_V5 && set == reward_check_set_id_v5())
        return (long)n;
    if (version >= 6 && n == REWARD_CHECK_NFEAT_V6 && set == reward_check_set_id_v6())
        return (long)n;
    return version >= 7 && n == REWARD_CHECK_NFEAT && set == reward_check_set_id() ? (long)n : -1;
}

/* The token hash a blob's header records: FEAT_HASH_FNV1A for versions 1
 * and 2, which predate the field; 0 for one this build does not know. */
static enum feat_hash blob_hash(const unsigned char *b)
{
    uint32_t version = get_u32(b + 8), h = version >= 3 ? get_u32(b + 72) : FEAT_HASH_FNV1A;
    if (version >= 3 && get_u32(b + 76) != 0)
        return 0;
    return h == FEAT_HASH_FNV1A || h == FEAT_HASH_FX ? (enum feat_hash)h : 0;
}

struct reward_layer *reward_load(const void *blob, size_t len)
{
    const unsigned char *b = blob;
    if (!b || len < BLOB_HEADER_V1 || memcmp(b, BLOB_MAGIC, 8) != 0)
        return NULL;
    uint32_t version = get_u32(b + 8);
    int v1 = version == 1;
    size_t head = v1 ? BLOB_HEADER_V1 : version == 2 ? BLOB_HEADER_V2 : BLOB_HEADER;
    long ncheck = len >= head ? blob_checks(b) : -1;
    enum feat_hash hash = ncheck >= 0 ? blob_hash(b) : 0;
    uint32_t bits = get_u32(b + 12), members = get_u32(b + 16), flags = get_u32(b + 20);
    double tau = bits_f64(get_u64(b + 24)), tau_point = bits_f64(get_u64(b + 32));
    double tau_group = v1 || ncheck < 0 ? tau : bits_f64(get_u64(b + 64));
    if (ncheck < 0 || !hash || bits < FEAT_BITS_MIN || bits > FEAT_BITS_MAX || members < 1 ||
        members > REWARD_MEMBERS_MAX || flags > 1 || !tau_ok(tau) || !tau_ok(tau_point) ||
        !tau_ok(tau_group))
        return NULL;
    size_t half = (size_t)members * (((size_t)1 << bits) + (size_t)ncheck + 1);
    size_t nf = half * (flags ? 2 : 1);
    if (get_u64(b + 40) != nf || len != head + 4 * nf ||
        get_u64(b + 48) != feat_fnv1a64(b + head, 4 * nf))
        return NULL;
    struct reward_layer *l = layer_new(bits, (unsigned)ncheck, members, (int)flags);
    if (!l)
        return NULL;
    l->hash = hash;
    get_floats(b + head, l->w, half);
    if (l->u)
        get_floats(b + head + 4 * half, l->u, half);
    l->tau = tau;
    l->tau_group = tau_group;
    l->tau_point = tau_point;
    layer_ready(l);
    return l;
}
