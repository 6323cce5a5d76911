/* bench_group.c - what scoring a pair with its sample group costs as the
 * group grows, with the group's samples read afresh (a thread's first
 * look: as before the memo, plus keeping each text) and from the thread's memo (check_memo.h: the
 * daemon scores a group's items again each time a sample joins).
 *
 * usage: bench_group GSM8K_MODEL_SOLUTIONS.jsonl [ROUNDS]
 * The first 64 solutions of the file (each made distinct) are the group;
 * its first two are the scored pair. CPU time of the scoring thread. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reward_check.h"

#define GROUP_MAX 64

static const char *samples[GROUP_MAX];
static const char *others[GROUP_MAX]; /* the same solutions, other texts */
static size_t nsamples;
static const char *prompt;

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void add_solutions(json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        const char *sol = json_string_value(json_object_get(v, "solution"));
        if (!sol || nsamples == GROUP_MAX)
            continue;
        size_t size = strlen(sol) + 32;
        char *t = malloc(size), *u = malloc(size);
        if (!t || !u)
            exit(1);
        snprintf(t, size, "%s\n(sample %zu)", sol, nsamples);
        snprintf(u, size, "%s\n(other %zu)", sol, nsamples);
        others[nsamples] = u;
        samples[nsamples++] = t;
    }
}

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    while (nsamples < GROUP_MAX && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        if (!prompt && json_string_value(json_object_get(o, "question")))
            prompt = strdup(json_string_value(json_object_get(o, "question")));
        add_solutions(o);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return prompt && nsamples >= 2 ? 0 : -1;
}

struct run {
    size_t n;   /* group size */
    int rounds; /* scorings timed */
    int warm;   /* 1: after one untimed scoring, so the memo holds the group */
    double us;  /* CPU per scored pair */
    int rc;
};

static void *score_rounds(void *arg)
{
    struct run *r = arg;
    const char *pair[2] = {samples[0], samples[1]};
    float out[2][REWARD_CHECK_NFEAT];
    const char *other_pair[2] = {others[0], others[1]};
    r->rc = r->warm ? reward_check_group(prompt, samples, r->n, pair, 2, out)
                    : reward_check_group(prompt, others, r->n, other_pair, 2, out);
    double t0 = cpu_now();
    for (int i = 0; i < r->rounds && !r->rc; i++)
        r->rc = reward_check_group(prompt, samples, r->n, pair, 2, out);
    r->us = (cpu_now() - t0) / r->rounds * 1e6;
    return NULL;
}

/* Cold: each timed scoring on a thread of its own (a memo without the
 * group); warm: all on one thread. */
static double measure(size_t n, int rounds, int warm)
{
    double sum = 0;
    int reps = warm ? 1 : rounds;
    struct run r = {n, warm ? rounds : 1, warm, 0, 0};
    for (int i = 0; i < reps; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, score_rounds, &r) || pthread_join(th, NULL) || r.rc)
            return -1;
        sum += r.us;
    }
    return sum / reps;
}

int main(int argc, char **argv)
{
    if (argc < 2 || load(argv[1])) {
        fprintf(stderr, "usage: bench_group GSM8K_MODEL_SOLUTIONS.jsonl [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200;
    if (rounds < 1)
        rounds = 1;
    for (size_t n = 4; n <= nsamples; n *= 2) {
        double cold = measure(n, rounds, 0), warm = measure(n, rounds * 4, 1);
        if (cold < 0 || warm < 0)
            return 1;
        printf("group of %2zu samples: %7.1f us a scored pair read afresh, %7.1f from the memo "
               "(%.2fx)\n",
               n, cold, warm, cold / warm);
    }
    return 0;
}
