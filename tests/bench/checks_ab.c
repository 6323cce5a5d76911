/* checks_ab - the checkers of a baseline revision against this tree's, in
 * one process.
 *
 *   checks_ab FILE [--rounds N]
 *
 * checks_ab.sh links this file with this tree's core/check*.c and feat.c
 * and with a baseline revision's core/check*.c whose global symbols carry
 * the prefix base_ (objcopy). FILE is GSM8K model_solutions.jsonl; every
 * solution is a response, its group its question's solutions. Each round
 * runs, over every response and in turn: the baseline's check_run_all, this
 * tree's, and this tree's FX feature extraction (2^18 buckets), each with
 * the prompt read once per group and the group's other answers given, as
 * bench_checks' "run_all+group" and "features FX" stages. Times are per
 * second of this thread's CPU time, the best of N rounds (default 200):
 * the three share every busy spell of a shared machine, so their ratios
 * hold where separate runs (checks.sh) swing by 10% and more.
 */
#include "check.h"
#include "feat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define GROUP_MAX 8
#define PROMPT_ROOM (4 * sizeof(struct check_prompt) + 4096) /* either revision's */

/* The baseline's, renamed by checks_ab.sh. Its struct check_prompt may
 * differ from this tree's: it gets PROMPT_ROOM bytes of its own. */
int base_check_run_all(const struct check_input *in, struct check_result *r,
                       struct check_answer *ans);
int base_check_prompt_init(void *p, const char *prompt, size_t len);

struct resp {
    const char *q, *text;
    size_t qlen, len, index, ngroup, gid;
    struct check_answer a;
};

static struct {
    json_t **docs;
    struct resp *r;
    size_t ndocs, n;
    unsigned char *prompts[2]; /* per group: the baseline's, this tree's */
} C;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Adds the solutions of question o (at most GROUP_MAX) as one group. */
static int add_question(json_t *o, size_t gid)
{
    const char *q = json_string_value(json_object_get(o, "question")), *key;
    json_t *v;
    size_t first = C.n;
    if (!q)
        return -EINVAL;
    json_object_foreach(o, key, v)
    {
        const char *text = json_string_value(json_object_get(v, "solution"));
        if (!text || C.n - first == GROUP_MAX)
            continue;
        struct resp *r = realloc(C.r, (C.n + 1) * sizeof(*C.r));
        if (!r)
            return -ENOMEM;
        C.r = r;
        C.r[C.n] = (struct resp){q, text, strlen(q), strlen(text), C.n - first, 0, gid, {0}};
        check_answer(text, C.r[C.n].len, &C.r[C.n].a, NULL);
        C.n++;
    }
    for (size_t i = first; i < C.n; i++)
        C.r[i].ngroup = C.n - first;
    return 0;
}

static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = f ? 0 : -errno;
    while (!rc && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL), **d;
        if (!o || !(d = realloc(C.docs, (C.ndocs + 1) * sizeof(*d)))) {
            json_decref(o);
            rc = o ? -ENOMEM : -EINVAL;
            break;
        }
        C.docs = d;
        C.docs[C.ndocs] = o;
        rc = add_question(o, C.ndocs++);
    }
    free(line);
    if (f)
        fclose(f);
    for (int k = 0; k < 2 && !rc; k++)
        if (!(C.prompts[k] = calloc(C.ndocs ? C.ndocs : 1, PROMPT_ROOM)))
            rc = -ENOMEM;
    return rc;
}

/* One pass over every response: the checkers of the baseline (which 0),
 * of this tree (1), or this tree's FX features (2). Seconds per response. */
static double pass(int which, struct feat_vec *fv)
{
    static struct check_result res;
    struct check_answer others[GROUP_MAX];
    double t0 = now_s();
    for (size_t i = 0; i < C.n; i++) {
        const struct resp *r = &C.r[i];
        unsigned char *p = C.prompts[which & 1] + r->gid * PROMPT_ROOM;
        size_t k = 0;
        int rc = 0;
        if (which == 2) {
            rc = feat_extract_hash(FEAT_HASH_FX, 18, r->q, r->qlen, r->text, r->len, fv);
        } else {
            if (r->index == 0) /* the group's first response reads the prompt */
                rc = which ? check_prompt_init((struct check_prompt *)p, r->q, r->qlen)
                           : base_check_prompt_init(p, r->q, r->qlen);
            for (size_t j = 0; j < r->ngroup; j++)
                if (j != r->index)
                    others[k++] = C.r[i - r->index + j].a;
            struct check_input in = {.prompt = r->q,
                                     .prompt_len = r->qlen,
                                     .resp = r->text,
                                     .resp_len = r->len,
                                     .others = others,
                                     .n_others = k,
                                     .prepared = (const struct check_prompt *)p,
                                     .no_text = true};
            if (!rc)
                rc = which ? check_run_all(&in, &res, NULL) : base_check_run_all(&in, &res, NULL);
        }
        if (rc) {
            fprintf(stderr, "checks_ab: stage %d failed on response %zu\n", which, i);
            exit(1);
        }
    }
    return (now_s() - t0) / (double)C.n;
}

int main(int argc, char **argv)
{
    unsigned long rounds =
        argc == 4 && !strcmp(argv[2], "--rounds") ? strtoul(argv[3], NULL, 10) : 200;
    if ((argc != 2 && argc != 4) || rounds == 0 || rounds > 100000) {
        fprintf(stderr, "usage: checks_ab FILE [--rounds N]\n");
        return 2;
    }
    if (load(argv[1]) || C.n == 0) {
        fprintf(stderr, "checks_ab: cannot read %s\n", argv[1]);
        return 1;
    }
    struct feat_vec fv;
    double t[3] = {1e300, 1e300, 1e300};
    feat_vec_init(&fv);
    for (unsigned long k = 0; k < rounds; k++)
        for (int w = 0; w < 3; w++) {
            double dt = pass(w, &fv);
            t[w] = dt < t[w] ? dt : t[w];
        }
    feat_vec_clear(&fv);
    printf("checks_ab: %zu responses, best of %lu rounds, us per response (CPU time)\n", C.n,
           rounds);
    printf("  run_all+group   baseline %.3f   this tree %.3f   ratio %.3fx\n", t[0] * 1e6,
           t[1] * 1e6, t[0] / t[1]);
    printf("  features FX     %.3f\n", t[2] * 1e6);
    printf("  share of features FX + checkers: baseline %.3f, this tree %.3f (goal <= 0.10)\n",
           t[0] / (t[0] + t[2]), t[1] / (t[1] + t[2]));
    for (size_t i = 0; i < C.ndocs; i++)
        json_decref(C.docs[i]);
    free(C.docs);
    free(C.r);
    free(C.prompts[0]);
    free(C.prompts[1]);
    return 0;
}
