/* bench_score_checks - the checkers' share of the whole scoring of a GSM8K
 * response by a layer that uses the checker block (issue 11's goal: at
 * most 0.10 of scoring time per response).
 *
 *   bench_score_checks FILE [--rounds N] [--members M]
 *
 * FILE is GSM8K model_solutions.jsonl. Every question's solutions are one
 * sample group. Two layers are trained on every question's correct-vs-wrong
 * pairs, with the default parameters (M members, default 5): one with the
 * checker block, one without (checks 0: the same scoring less the
 * checkers). Each round then scores every question's solutions as pairs
 * (1st with 2nd, 3rd with 4th, ...; an odd last one with the first) with
 * the question's group, as the daemon scores a pair item with its stored
 * group (reward_score_pair_group: the checker block of both sides, their
 * features in one call, the members' dot products), each response once a
 * round:
 *   whole      reward_score_pair_group with the checker layer;
 *   checkers   reward_check_group, the checker work inside it (the prompt's
 *              numbers, the group's samples through the thread's memo, all
 *              five checkers and the group signals of both sides);
 *   baseline   reward_score_pair_group with the layer without checkers;
 *   ... again  whole and checkers when the thread scored the same pairs
 *              just before (batches of 16 questions scored twice, the
 *              second time timed): the best case of the daemon's
 *              re-scoring of a group's pending items when a sample joins
 *              (it runs on the layer thread, with the new sample to read).
 * Stages alternate within each round (the same load for each), best of N
 * rounds (default 20), per second of this thread's CPU time, per response
 * (a pair is two). It prints the checkers' share of the whole scoring
 * measured two ways: checkers / whole, and (whole - baseline) / whole,
 * for a first scoring and for scoring again.
 * Built against older cores too (checks_share.sh: a baseline revision's).
 */
#include "check.h"
#include "reward.h"
#include "reward_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define GROUP_MAX 8

struct question {
    const char *q;
    const char *sol[GROUP_MAX];
    int right[GROUP_MAX];
    size_t n;
};

struct corpus {
    json_t **docs;
    struct question *qs;
    size_t n, cap;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void add_question(struct question *q, json_t *o)
{
    const char *key;
    json_t *v;
    q->q = json_string_value(json_object_get(o, "question"));
    json_object_foreach(o, key, v)
    {
        const char *text = json_string_value(json_object_get(v, "solution"));
        if (!text || q->n == GROUP_MAX)
            continue;
        q->right[q->n] = json_is_true(json_object_get(v, "is_correct"));
        q->sol[q->n++] = text;
    }
}

static int load(const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    if (!f)
        return -errno;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        if (c->n == c->cap) {
            size_t nc = c->cap ? 2 * c->cap : 256;
            json_t **d = realloc(c->docs, nc * sizeof(*d));
            struct question *q = d ? realloc(c->qs, nc * sizeof(*q)) : NULL;
            if (d)
                c->docs = d;
            if (!q) {
                json_decref(o);
                break;
            }
            c->qs = q;
            c->cap = nc;
        }
        c->docs[c->n] = o;
        c->qs[c->n] = (struct question){0};
        add_question(&c->qs[c->n], o);
        if (c->qs[c->n].q && c->qs[c->n].n >= 2)
            c->n++;
        else
            json_decref(o);
    }
    free(line);
    fclose(f);
    return c->n ? 0 : -EINVAL;
}

/* Every correct-vs-wrong pair of every question, the correct one first
 * and last in turn (y 1 and 0). */
static struct reward_pair_ex *train_pairs(const struct corpus *c, size_t *np)
{
    size_t n = 0, cap = 64;
    struct reward_pair_ex *p = malloc(cap * sizeof(*p));
    for (size_t i = 0; p && i < c->n; i++) {
        const struct question *q = &c->qs[i];
        for (size_t a = 0; a < q->n; a++)
            for (size_t b = 0; b < q->n; b++) {
                if (!q->right[a] || q->right[b])
                    continue;
                if (n == cap) {
                    struct reward_pair_ex *np2 = realloc(p, 2 * cap * sizeof(*p));
                    if (!np2) {
                        free(p);
                        return NULL;
                    }
                    p = np2;
                    cap *= 2;
                }
                int flip = n % 2;
                p[n++] = (struct reward_pair_ex){q->q,
                                                 flip ? q->sol[b] : q->sol[a],
                                                 flip ? q->sol[a] : q->sol[b],
                                                 flip ? 0.0 : 1.0,
                                                 1.0,
                                                 0};
            }
    }
    *np = n;
    return p;
}

enum stage { ST_WHOLE, ST_CHECKS, ST_BASE, ST_WHOLE_WARM, ST_CHECKS_WARM, ST_N };
static const char *const STAGE_NAME[ST_N] = {"whole", "checkers", "baseline", "whole again",
                                             "checkers again"};

/* Scores every response of q once, as pairs with q's group, in stage st
 * (the warm stages as their cold ones). */
static int score_question(const struct question *q, enum stage st,
                          struct reward_layer *const layer[2])
{
    struct reward_pair out;
    float block[2][REWARD_CHECK_NFEAT];
    int rc = 0;
    for (size_t i = 0; i < q->n && !rc; i += 2) {
        const char *a = q->sol[i], *b = q->sol[i + 1 < q->n ? i + 1 : 0];
        const char *texts[2] = {a, b};
        if (st == ST_CHECKS || st == ST_CHECKS_WARM)
            rc = reward_check_group(q->q, q->sol, q->n, texts, 2, block);
        else
            rc = reward_score_pair_group(layer[st == ST_BASE], q->q, a, b, q->sol, q->n, &out);
    }
    return rc;
}

#define BATCH 16 /* questions scored, then scored again (their texts fit the memo) */

/* Seconds of one pass of stage st over every question. A warm stage
 * times the second scoring of each batch of questions: the daemon scores
 * a group's pending items again when a sample joins it. */
static double stage_pass(const struct corpus *c, struct reward_layer *const layer[2], enum stage st)
{
    int warm = st == ST_WHOLE_WARM || st == ST_CHECKS_WARM;
    double sum = 0;
    for (size_t i = 0; i < c->n; i += BATCH) {
        size_t e = i + BATCH < c->n ? i + BATCH : c->n;
        for (size_t j = i; j < e && warm; j++)
            if (score_question(&c->qs[j], st, layer))
                return -1;
        double t0 = now_s();
        for (size_t j = i; j < e; j++)
            if (score_question(&c->qs[j], st, layer))
                return -1;
        sum += now_s() - t0;
    }
    return sum;
}

/* Seconds per response of each stage: the best of rounds, stages in turn. */
static int time_stages(const struct corpus *c, struct reward_layer *const layer[2],
                       unsigned long rounds, double t[ST_N])
{
    size_t responses = 0;
    for (size_t i = 0; i < c->n; i++)
        responses += c->qs[i].n + c->qs[i].n % 2;
    for (int st = 0; st < ST_N; st++)
        t[st] = 1e300;
    for (unsigned long k = 0; k < rounds; k++)
        for (int st = 0; st < ST_N; st++) {
            double dt = stage_pass(c, layer, (enum stage)st);
            if (dt < 0)
                return -1;
            dt /= (double)responses;
            t[st] = dt < t[st] ? dt : t[st];
        }
    return 0;
}

static int parse_args(int argc, char **argv, const char **file, unsigned long *rounds,
                      unsigned long *members)
{
    for (int i = 1; i < argc; i++) {
        unsigned long *dst = !strcmp(argv[i], "--rounds")    ? rounds
                             : !strcmp(argv[i], "--members") ? members
                                                             : NULL;
        if (dst && i + 1 < argc) {
            char *end;
            errno = 0;
            *dst = strtoul(argv[++i], &end, 10);
            if (errno || *end || *dst == 0 || *dst > 100000)
                return -EINVAL;
        } else if (!*file && argv[i][0] != '-') {
            *file = argv[i];
        } else {
            return -EINVAL;
        }
    }
    return *file ? 0 : -EINVAL;
}

/* The two layers: [0] with the checker block, [1] without. */
static int train_layers(const struct corpus *c, unsigned long members,
                        struct reward_layer *layer[2])
{
    size_t np = 0;
    struct reward_pair_ex *pairs = train_pairs(c, &np);
    if (!pairs || !np) {
        free(pairs);
        return -ENOMEM;
    }
    for (int k = 0; k < 2; k++) {
        struct reward_params p;
        reward_params_default(&p);
        p.members = (unsigned)members;
        p.checks = k == 0;
        layer[k] = reward_train(&p, pairs, np, NULL, 0, NULL);
    }
    free(pairs);
    return layer[0] && layer[1] && reward_checks(layer[0]) && !reward_checks(layer[1]) ? 0
                                                                                       : -EINVAL;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    unsigned long rounds = 20, members = 5;
    struct corpus c = {0};
    struct reward_layer *layer[2] = {NULL, NULL};
    double t[ST_N];
    if (parse_args(argc, argv, &file, &rounds, &members)) {
        fprintf(stderr, "usage: bench_score_checks FILE [--rounds N] [--members M]\n");
        return 2;
    }
    if (load(file, &c) || train_layers(&c, members, layer) || time_stages(&c, layer, rounds, t)) {
        fprintf(stderr, "bench_score_checks: cannot read, train or score %s\n", file);
        return 1;
    }
    printf("bench_score_checks: %zu questions, pairs with their groups, %lu members, best of %lu "
           "rounds\n",
           c.n, members, rounds);
    for (int st = 0; st < ST_N; st++)
        printf("  %-10s %8.2f us/response\n", STAGE_NAME[st], t[st] * 1e6);
    printf("  checkers' share of the whole scoring: checkers / whole %.3f, (whole - baseline) / "
           "whole %.3f (goal <= 0.10)\n",
           t[ST_CHECKS] / t[ST_WHOLE], (t[ST_WHOLE] - t[ST_BASE]) / t[ST_WHOLE]);
    printf("  scored again (the group read): checkers / whole %.3f, (whole - baseline) / whole "
           "%.3f\n",
           t[ST_CHECKS_WARM] / t[ST_WHOLE_WARM],
           (t[ST_WHOLE_WARM] - t[ST_BASE]) / t[ST_WHOLE_WARM]);
    for (int k = 0; k < 2; k++)
        reward_free(layer[k]);
    for (size_t i = 0; i < c.n; i++)
        json_decref(c.docs[i]);
    free(c.docs);
    free(c.qs);
    return 0;
}
