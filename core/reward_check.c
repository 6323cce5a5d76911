/* reward_check.c - checker features and sample groups (see reward_check.h). */
#include "reward_check.h"

#include "check_group.h"
#include "check_memo.h"
#include "feat.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_SCALE 4.0 /* the block's scale against the L2-normalised buckets */

/* One side of a pair: its group (prompt key), text hash and position 2i or
 * 2i + 1. */
struct side {
    uint64_t g, h;
    uint32_t pos;
};

/* One distinct response: its group and the first side that holds it. */
struct uniq {
    uint64_t g;
    uint32_t first;
};

#define KEPT_MAX CHECK_GROUP_DEFAULT /* largest max_samples honoured */
_Static_assert(KEPT_MAX <= 64, "a text's same samples are a 64-bit set");

/* What checking one group needs (about 80 KB), allocated once per table. */
struct scratch {
    struct check_answer ans[KEPT_MAX];    /* answers of the group's kept samples */
    struct check_answer others[KEPT_MAX]; /* those of one response's others */
    struct check_sample smp[KEPT_MAX];    /* the group's kept samples, read once */
    struct check_sample osmp[KEPT_MAX];   /* one response's others */
    struct check_sample self;             /* a response past the kept ones */
    struct check_prompt prompt;           /* the group's prompt numbers */
    struct check_memo_prompt mp;          /* reward_check_group's prompt: its numbers are
                                             the memo's or prompt */
    struct check_result r;
    double v[KEPT_MAX][CHECK_NFEAT]; /* the kept samples' checker features, no others */
    double selfv[CHECK_NFEAT];       /* those of a response past the kept ones */
    size_t slen[KEPT_MAX];           /* reward_check_group's samples' lengths */
    size_t deg[KEPT_MAX], big;       /* and their cluster sizes (group_sizes) */
    struct check_sample tsmp[2];     /* reward_check_group's scored texts */
    double tv[2][CHECK_NFEAT];       /* and their checker features */
};

static int cmp_side(const void *a, const void *b)
{
    const struct side *x = a, *y = b;
    if (x->g != y->g)
        return x->g < y->g ? -1 : 1;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_uniq(const void *a, const void *b)
{
    const struct uniq *x = a, *y = b;
    if (x->g != y->g)
        return x->g < y->g ? -1 : 1;
    return (x->first > y->first) - (x->first < y->first);
}

static const char *side_text(const struct reward_pair_ex *pairs, uint32_t pos)
{
    return pos & 1 ? pairs[pos / 2].b : pairs[pos / 2].a;
}

/* The group features of self against its others (check_group.h) into
 * out[0..CHECK_GROUP_NFEAT): the counts squashed to x / (1 + x), all
 * scaled as the checkers' are. */
static void dense_group(const struct check_sample *self, const struct check_sample *others,
                        size_t n, float *out)
{
    double g[CHECK_GROUP_NFEAT];
    check_group_features(self, others, n, g);
    g[CHECK_GROUP_VALUES_SHARED] /= 1.0 + g[CHECK_GROUP_VALUES_SHARED];
    g[CHECK_GROUP_UNUSED] /= 1.0 + g[CHECK_GROUP_UNUSED];
    g[CHECK_GROUP_OFF_PATH] /= 1.0 + g[CHECK_GROUP_OFF_PATH];
    for (unsigned k = 0; k < CHECK_GROUP_NFEAT; k++)
        out[k] = (float)(g[k] * CHECK_SCALE);
}

/* Squashes check_run_all's features into a block: counts to x / (1 + x),
 * shares and flags as they are. */
static void dense(const struct check_result *r, float *out)
{
    for (unsigned k = 0; k < CHECK_NFEAT; k++) {
        double x = r->v[k];
        switch (k) {
        case CHECK_ARITH_CHECKED:
        case CHECK_ARITH_WRONG:
        case CHECK_ARITH_UNEVAL:
        case CHECK_NUMBERS_UNEXPLAINED:
        case CHECK_FORM_REFUSAL:
            x = x / (1.0 + x);
            break;
        default:
            break;
        }
        out[k] = (float)(x * CHECK_SCALE);
    }
}

const char *reward_check_feat_name(unsigned k)
{
    return k < CHECK_NFEAT ? check_feat_name[k] : check_group_feat_name[k - CHECK_NFEAT];
}

/* The identifier of the block's first nfeat features. */
static uint32_t set_id(unsigned nfeat)
{
    uint64_t h = feat_fnv1a64("squash x/(1+x) of counts, scale 4", 33);
    for (unsigned k = 0; k < nfeat; k++) {
        const char *name = reward_check_feat_name(k);
        uint64_t n = feat_fnv1a64(name, strlen(name));
        h = (h ^ n) * 0x100000001b3ULL;
    }
    uint32_t id = (uint32_t)(h ^ (h >> 32));
    return id ? id : 1;
}

uint32_t reward_check_set_id(void)
{
    return set_id(REWARD_CHECK_NFEAT);
}

uint32_t reward_check_set_id_v3(void)
{
    return set_id(REWARD_CHECK_NFEAT_V3);
}

uint32_t reward_check_set_id_v4(void)
{
    return set_id(REWARD_CHECK_NFEAT_V4);
}

uint32_t reward_check_set_id_v5(void)
{
    return set_id(REWARD_CHECK_NFEAT_V5);
}

uint32_t reward_check_set_id_v6(void)
{
    return set_id(REWARD_CHECK_NFEAT_V6);
}

/* Sorts the 2n sides into distinct responses: t->side[pos] gets each
 * side's distinct index, *u (new, the caller frees) one entry per distinct
 * response sorted by group then first appearance. Returns 0 or -ENOMEM. */
static int distinct(const struct reward_pair_ex *pairs, size_t n, int lone,
                    struct reward_check_table *t, struct uniq **u)
{
    struct side *s = malloc(2 * n * sizeof(*s));
    *u = malloc(2 * n * sizeof(**u));
    if (!s || !*u) {
        free(s);
        return -ENOMEM;
    }
    for (uint32_t pos = 0; pos < 2 * n; pos++) {
        const char *x = side_text(pairs, pos);
        /* A lone pair's group: its index, kept off 0 (groups are only
         * compared with each other). */
        uint64_t g = lone ? (uint64_t)(pos / 2) + 1 : reward_group_of(pairs[pos / 2].prompt);
        s[pos] = (struct side){g, feat_fnv1a64(x, strlen(x)), pos};
    }
    qsort(s, 2 * n, sizeof(*s), cmp_side);
    size_t nv = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        if (i == 0 || s[i].g != s[i - 1].g || s[i].h != s[i - 1].h)
            (*u)[nv++] = (struct uniq){s[i].g, s[i].pos};
        t->side[s[i].pos] = (uint32_t)(nv - 1);
    }
    free(s);
    qsort(*u, nv, sizeof(**u), cmp_uniq);
    t->nv = nv;
    return 0;
}

/* Cluster sizes as check_agree counts them (check_agree_sizes). */
struct sizes {
    size_t used, own, largest;
};

/* The block of a response into out: its checker features v (check_run_all's
 * with no others: check_sample_run) with the agreement of its answer with
 * the others' answers[0..no) (the first max_samples - 1), as check_run_all
 * with those others gives it (from their cluster sizes z when not NULL),
 * then its group features against the others' samples osmp[0..no).
 * Returns 0 or -EINVAL. */
static int block_of(struct scratch *sc, const struct check_sample *self, const double *v,
                    const struct check_answer *answers, const struct check_sample *osmp, size_t no,
                    size_t max_samples, const struct sizes *z, float *out)
{
    check_result_init(&sc->r);
    sc->r.no_text = true;
    memcpy(sc->r.v, v, sizeof(sc->r.v));
    int rc = z ? check_agree_sizes(z->used, z->own, z->largest, &sc->r, NULL)
               : check_agree(&self->ans, answers, no, max_samples, &sc->r, NULL);
    if (!rc) {
        dense(&sc->r, out);
        dense_group(self, osmp, no, out + CHECK_NFEAT);
    }
    return rc;
}

/* check_sample_run of x (no others, no sentences) with the prompt of sc. */
static int read_text(struct scratch *sc, const char *prompt, const char *x, struct check_sample *s,
                     double *v)
{
    struct check_input in = {.prompt = prompt,
                             .prompt_len = strlen(prompt),
                             .resp = x,
                             .resp_len = strlen(x),
                             .prepared = &sc->prompt,
                             .no_text = true};
    int rc = check_sample_run(&in, &sc->r, s);
    if (!rc)
        memcpy(v, sc->r.v, sizeof(sc->r.v));
    return rc;
}

/* Checks the distinct responses u[0..m) of one group (in order of first
 * appearance) into their blocks of t. The first kept of them are the
 * group's samples; each response's others are those, less itself. Each
 * response is read once, for its checkers and its sample together. */
static int check_group(const struct reward_pair_ex *pairs, const struct uniq *u, size_t m,
                       size_t kept, struct reward_check_table *t, struct scratch *sc)
{
    const char *prompt = pairs[u[0].first / 2].prompt;
    int rc = check_prompt_init(&sc->prompt, prompt, strlen(prompt));
    size_t nk = m < kept ? m : kept;
    for (size_t i = 0; i < nk && !rc; i++) {
        rc = read_text(sc, prompt, side_text(pairs, u[i].first), &sc->smp[i], sc->v[i]);
        sc->ans[i] = sc->smp[i].ans;
    }
    for (size_t i = 0; i < m && !rc; i++) {
        size_t no = 0;
        for (size_t j = 0; j < nk; j++)
            if (j != i) {
                sc->osmp[no] = sc->smp[j];
                sc->others[no++] = sc->ans[j];
            }
        if (i >= nk)
            rc = read_text(sc, prompt, side_text(pairs, u[i].first), &sc->self, sc->selfv);
        if (!rc)
            rc = block_of(sc, i < nk ? &sc->smp[i] : &sc->self, i < nk ? sc->v[i] : sc->selfv,
                          sc->others, sc->osmp, no, kept, NULL, t->v[t->side[u[i].first]]);
    }
    return rc;
}

static int pairs_ok(const struct reward_pair_ex *pairs, size_t n)
{
    if (n && !pairs)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!pairs[i].prompt || !pairs[i].a || !pairs[i].b)
            return 0;
    return n < UINT32_MAX / 2;
}

int reward_check_pairs(const struct reward_pair_ex *pairs, size_t n, size_t max_samples, int lone,
                       struct reward_check_table *t)
{
    struct uniq *u = NULL;
    struct scratch *sc = NULL;
    memset(t, 0, sizeof(*t));
    if (!pairs_ok(pairs, n))
        return -EINVAL;
    size_t kept = max_samples ? max_samples : CHECK_GROUP_DEFAULT;
    if (kept > KEPT_MAX)
        kept = KEPT_MAX;
    t->side = malloc((2 * n + 1) * sizeof(*t->side));
    t->v = malloc((2 * n + 1) * sizeof(*t->v));
    sc = malloc(sizeof(*sc));
    int rc = t->side && t->v && sc ? distinct(pairs, n, lone, t, &u) : -ENOMEM;
    for (size_t i = 0; i < t->nv && !rc;) {
        size_t j = i;
        while (j < t->nv && u[j].g == u[i].g)
            j++;
        rc = check_group(pairs, u + i, j - i, kept, t, sc);
        i = j;
    }
    free(u);
    free(sc);
    if (rc)
        reward_check_table_free(t);
    return rc;
}

void reward_check_table_free(struct reward_check_table *t)
{
    free(t->v);
    free(t->side);
    memset(t, 0, sizeof(*t));
}

int reward_check_single(const char *prompt, const char *text, float *out)
{
    if (!prompt || !text || !out)
        return -EINVAL;
    /* The checkers, and the group features of a group of one: its sample,
     * read against the prompt's numbers (read once for both). */
    struct one {
        struct check_result r;
        struct check_sample smp;
        struct check_prompt prompt;
    } *one = malloc(sizeof(*one));
    if (!one)
        return -ENOMEM;
    int rc = check_prompt_init(&one->prompt, prompt, strlen(prompt));
    struct check_input in = {.prompt = prompt,
                             .prompt_len = strlen(prompt),
                             .resp = text,
                             .resp_len = strlen(text),
                             .prepared = &one->prompt,
                             .no_text = true};
    if (!rc) /* the checkers and the sample in one read */
        rc = check_sample_run(&in, &one->r, &one->smp);
    if (!rc) {
        dense(&one->r, out);
        dense_group(&one->smp, NULL, 0, out + CHECK_NFEAT);
    }
    free(one);
    return rc;
}

/* A group's first samples are read with their checker features too: in a
 * small group each sample is usually scored as well (a pair item's two
 * texts are samples of its group), and one read then serves both; the
 * rest are read for their samples alone, as a large group's others are
 * seldom scored (bench_group: a cold group of 64 costs what it did before
 * the features were kept). */
#define FULL_READ_SAMPLES 8

/* The samples and answers of the first nk samples[] of the prompt sc->mp
 * into sc->smp and sc->ans, through the thread's memo (a group is read
 * again for each of its items); a scored text among them, read before, is
 * a hit. */
static int group_answers(const char *const *samples, size_t nk, struct scratch *sc)
{
    int rc = 0;
    for (size_t i = 0; i < nk && !rc; i++) {
        if (i < FULL_READ_SAMPLES)
            rc = check_memo_run(&sc->mp, samples[i], sc->slen[i], &sc->smp[i], sc->v[i]);
        else
            rc = check_memo_sample(&sc->mp, samples[i], sc->slen[i], &sc->smp[i]);
        sc->ans[i] = sc->smp[i].ans;
    }
    return rc;
}

/* The set of the first nk samples[] (lengths sc->slen) that are the same
 * bytes as text[0..tlen). */
static uint64_t same_as(const char *const *samples, size_t nk, const char *text, size_t tlen,
                        const struct scratch *sc)
{
    uint64_t same = 0;
    for (size_t j = 0; j < nk; j++)
        if (sc->slen[j] == tlen && (samples[j] == text || !memcmp(samples[j], text, tlen)))
            same |= UINT64_C(1) << j;
    return same;
}

/* Whether scored text t is a sample read with its features: the first of
 * the samples it is (same), when that one is among the first
 * FULL_READ_SAMPLES, is read already, and its sample and features are the
 * text's. */
static int read_as_sample(uint64_t same)
{
    return same && __builtin_ctzll(same) < FULL_READ_SAMPLES;
}

/* The cluster size of each of the group's first nk answers (the answers
 * it equals, itself included, as check_agree counts them) into sc->deg,
 * the largest into sc->big: each pair compared once, for all the scored
 * texts. */
static void group_sizes(size_t nk, struct scratch *sc)
{
    sc->big = 0;
    for (size_t i = 0; i < nk; i++)
        sc->deg[i] = (size_t)check_answer_equal(&sc->ans[i], &sc->ans[i]);
    for (size_t i = 0; i < nk; i++) {
        for (size_t j = i + 1; j < nk; j++) {
            size_t e = (size_t)check_answer_equal(&sc->ans[i], &sc->ans[j]);
            sc->deg[i] += e;
            sc->deg[j] += e;
        }
        sc->big = sc->deg[i] > sc->big ? sc->deg[i] : sc->big;
    }
}

/* The cluster sizes of a text that is none of the nk samples, with all of
 * them (nk < KEPT_MAX): theirs each grow by one where they equal it. */
static struct sizes outside_sizes(const struct check_answer *a, size_t nk, const struct scratch *sc)
{
    struct sizes z = {nk + 1, (size_t)check_answer_equal(a, a), 0};
    for (size_t i = 0; i < nk; i++) {
        size_t e = (size_t)check_answer_equal(a, &sc->ans[i]);
        z.own += e;
        z.largest = sc->deg[i] + e > z.largest ? sc->deg[i] + e : z.largest;
    }
    z.largest = z.own > z.largest ? z.own : z.largest;
    return z;
}

/* The block of scored text t (its sample and features in sc->tsmp[t] and
 * sc->tv[t]) against the group read into sc (its cluster sizes in
 * sc->deg), less the samples that are the text itself (same), into out.
 * Its others' order tells nothing when all of them count (check_agree with
 * at most KEPT_MAX, and the group features, look at them as a set), so a
 * text that is one sample takes it out by moving the last into its place
 * (and back: its sample is the text's), and only samples given twice are
 * copied (and their clusters counted again). */
static int text_block(size_t nk, uint64_t same, size_t t, struct scratch *sc, float *out)
{
    const struct check_sample *self = &sc->tsmp[t];
    if (!same) {
        if (nk == KEPT_MAX) /* a full group: check_agree counts the first 63 */
            return block_of(sc, self, sc->tv[t], sc->ans, sc->smp, nk, KEPT_MAX, NULL, out);
        struct sizes z = outside_sizes(&self->ans, nk, sc);
        return block_of(sc, self, sc->tv[t], sc->ans, sc->smp, nk, KEPT_MAX, &z, out);
    }
    if (!(same & (same - 1))) { /* sample j, the text's own bytes, read as it is */
        size_t j = (size_t)__builtin_ctzll(same), l = nk - 1;
        struct sizes z = {nk, sc->deg[j], sc->big};
        if (j < l)
            sc->smp[j] = sc->smp[l], sc->ans[j] = sc->ans[l];
        int rc = block_of(sc, self, sc->tv[t], sc->ans, sc->smp, l, KEPT_MAX, &z, out);
        if (j < l)
            sc->smp[j] = *self, sc->ans[j] = self->ans;
        return rc;
    }
    size_t no = 0;
    for (size_t j = 0; j < nk; j++)
        if (!(same >> j & 1)) {
            sc->osmp[no] = sc->smp[j];
            sc->others[no++] = sc->ans[j];
        }
    return block_of(sc, self, sc->tv[t], sc->others, sc->osmp, no, KEPT_MAX, NULL, out);
}

/* The prompt's numbers into sc->mp: the thread's memo holds the last
 * prompts'; read into sc->prompt when it cannot. */
static int group_prompt(const char *prompt, struct scratch *sc)
{
    size_t plen = strlen(prompt);
    int rc = check_memo_prompt(prompt, plen, &sc->mp);
    if (!rc && !sc->mp.p) {
        rc = check_prompt_init(&sc->prompt, prompt, plen);
        sc->mp.p = &sc->prompt;
    }
    return rc;
}

/* The lengths of the first nk samples[] into sc->slen and of the scored
 * texts[0..ntexts) into tlen, and which samples each text is into same.
 * Returns 0, or -EINVAL when one of them is NULL. */
static int measure(const char *const *samples, size_t nk, const char *const *texts, size_t ntexts,
                   struct scratch *sc, size_t *tlen, uint64_t *same)
{
    for (size_t j = 0; j < nk; j++) {
        if (!samples[j])
            return -EINVAL;
        sc->slen[j] = strlen(samples[j]);
    }
    for (size_t t = 0; t < ntexts; t++) {
        if (!texts[t])
            return -EINVAL;
        tlen[t] = strlen(texts[t]);
        same[t] = same_as(samples, nk, texts[t], tlen[t], sc);
    }
    return 0;
}

int reward_check_group(const char *prompt, const char *const *samples, size_t n,
                       const char *const *texts, size_t ntexts, float (*out)[REWARD_CHECK_NFEAT])
{
    if (!prompt || (n && !samples) || !texts || !out || ntexts > 2)
        return -EINVAL;
    struct scratch *sc = malloc(sizeof(*sc));
    if (!sc)
        return -ENOMEM;
    size_t nk = n < KEPT_MAX ? n : KEPT_MAX, tlen[2];
    uint64_t same[2];
    int rc = measure(samples, nk, texts, ntexts, sc, tlen, same);
    if (!rc)
        rc = group_prompt(prompt, sc);
    /* A scored text that is no early sample first: one read gives its
     * sample and features, and a group sample that it is then hits them. */
    for (size_t t = 0; t < ntexts && !rc; t++)
        if (!read_as_sample(same[t]))
            rc = check_memo_run(&sc->mp, texts[t], tlen[t], &sc->tsmp[t], sc->tv[t]);
    if (!rc)
        rc = group_answers(samples, nk, sc);
    if (!rc)
        group_sizes(nk, sc);
    for (size_t t = 0; t < ntexts && !rc; t++) {
        if (read_as_sample(same[t])) {
            size_t j = (size_t)__builtin_ctzll(same[t]);
            sc->tsmp[t] = sc->smp[j];
            memcpy(sc->tv[t], sc->v[j], sizeof(sc->tv[t]));
        }
        rc = text_block(nk, same[t], t, sc, out[t]);
    }
    free(sc);
    return rc;
}
