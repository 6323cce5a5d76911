/* bench_checks - what the checkers cost next to the features of scoring.
 *
 *   bench_checks FILE [--rounds N]
 *
 * FILE is GSM8K model_solutions.jsonl (the fixture or the full public file).
 * Every solution is a response; its group is its question's solutions. The
 * tool times, per response and over N rounds (default 20), feature
 * extraction with 2^18 buckets (tokenizing and hashing: the bulk of scoring
 * a response) with the FNV-1a token hash (layers of blob v1/v2) and with FX
 * (the default from blob v3), and check_run_all (all five checkers, the
 * group's other answers given): once reading the prompt's numbers for every
 * response, once reading them once per group (check_prompt_init, its time
 * shared by the group's responses), then each checker alone. Times are per
 * second of this thread's CPU time. It prints the ratios checkers /
 * features and the checkers' share of features + checkers (what scoring a
 * response costs, less the members' dot products); the goal of issue 11 is
 * at most 0.10 of scoring time. The file builds against an older core too
 * (checks.sh compares this tree's checkers with a baseline revision's).
 */
#include "check.h"
#include "feat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#define BENCH_BITS 18
#define GROUP_MAX 8

struct resp {
    const char *q, *text; /* borrowed from the JSON of the file */
    size_t qlen, len;
    size_t group, index; /* first response of its group, its place in it */
    size_t ngroup;       /* responses in its group */
    size_t gid;          /* its group's number */
    struct check_answer a;
};

struct corpus {
    json_t **docs;
    size_t ndocs, capdocs;
    struct resp *r;
    size_t n, cap;
    struct check_prompt *prompts; /* one per group, for ST_GROUP */
};

/* This thread's CPU time: the machine may be shared. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 256;
    void *q = realloc(*p, c * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Adds the solutions of one question as one group. */
static int add_question(struct corpus *c, json_t *o)
{
    const char *q = json_string_value(json_object_get(o, "question")), *key;
    json_t *v;
    size_t first = c->n;
    if (!q)
        return -EINVAL;
    json_object_foreach(o, key, v)
    {
        const char *text = json_string_value(json_object_get(v, "solution"));
        if (!text || c->n - first == GROUP_MAX)
            continue;
        if (grow((void **)&c->r, &c->cap, c->n + 1, sizeof(*c->r)))
            return -ENOMEM;
        struct resp *r = &c->r[c->n++];
        *r = (struct resp){.q = q,
                           .text = text,
                           .qlen = strlen(q),
                           .len = strlen(text),
                           .group = first,
                           .index = c->n - 1 - first,
                           .gid = c->ndocs - 1};
        check_answer(text, r->len, &r->a, NULL);
    }
    for (size_t i = first; i < c->n; i++)
        c->r[i].ngroup = c->n - first;
    return 0;
}

static int load(const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = f ? 0 : -errno;
    while (!rc && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        rc = o ? grow((void **)&c->docs, &c->capdocs, c->ndocs + 1, sizeof(*c->docs)) : -EINVAL;
        if (rc) {
            json_decref(o);
            break;
        }
        c->docs[c->ndocs++] = o;
        rc = add_question(c, o);
    }
    free(line);
    if (f)
        fclose(f);
    return rc;
}

/* The other answers of r's group into others; returns how many. */
static size_t others_of(const struct corpus *c, const struct resp *r, struct check_answer *others)
{
    size_t k = 0;
    for (size_t i = 0; i < r->ngroup; i++)
        if (i != r->index)
            others[k++] = c->r[r->group + i].a;
    return k;
}

enum stage {
    ST_FEAT,
    ST_FEAT_FX,
    ST_FEAT_PAIR,
    ST_ALL,
    ST_GROUP,
    ST_ANSWER,
    ST_ARITH,
    ST_NUMBERS,
    ST_FORM,
    ST_N
};
static const char *const STAGE_NAME[ST_N] = {"features FNV-1a", "features FX",   "FX, 2 a prompt",
                                             "check_run_all",   "run_all+group", "answer",
                                             "arithmetic",      "numbers",       "form"};

/* Features of r and the next response of its group with the prompt read
 * once, as a pair item is scored (the second one's turn does nothing; the
 * last one of an odd group goes alone). Older cores: one call each. */
static int feat_pair(const struct resp *r, struct feat_vec *fv)
{
    if (r->index % 2)
        return 0;
    size_t n = r->index + 1 < r->ngroup ? 2 : 1;
    const char *text[2] = {r->text, r[n - 1].text};
    size_t len[2] = {r->len, r[n - 1].len};
#ifdef BENCH_CHECKS_LEGACY
    int rc = 0;
    for (size_t k = 0; k < n && !rc; k++)
        rc = feat_extract_hash(FEAT_HASH_FX, BENCH_BITS, r->q, r->qlen, text[k], len[k], &fv[k]);
    return rc;
#else
    return feat_extract_many(FEAT_HASH_FX, BENCH_BITS, r->q, r->qlen, text, len, n, fv);
#endif
}

/* Runs one stage on response r; returns 0 or a negative errno. */
static int run(const struct corpus *c, const struct resp *r, enum stage st, struct feat_vec *fv,
               struct check_result *res)
{
    struct check_answer others[GROUP_MAX], a;
    struct check_input in = {.prompt = r->q,
                             .prompt_len = r->qlen,
                             .resp = r->text,
                             .resp_len = r->len,
                             .others = others};
#ifdef CHECK_INPUT_NO_TEXT
    in.no_text = true; /* as the layer runs them: the features only */
#endif
    check_result_init(res);
    switch (st) {
    case ST_FEAT:
        return feat_extract(BENCH_BITS, r->q, r->qlen, r->text, r->len, fv);
    case ST_FEAT_FX:
        return feat_extract_hash(FEAT_HASH_FX, BENCH_BITS, r->q, r->qlen, r->text, r->len, fv);
    case ST_FEAT_PAIR:
        return feat_pair(r, fv);
    case ST_GROUP:
        /* The group's first response reads the prompt for all of them. */
        if (r->index == 0 && check_prompt_init(&c->prompts[r->gid], r->q, r->qlen))
            return -EINVAL;
        in.prepared = &c->prompts[r->gid];
        /* fall through */
    case ST_ALL:
        in.n_others = others_of(c, r, others);
        return check_run_all(&in, res, NULL);
    case ST_ANSWER:
        return check_answer(r->text, r->len, &a, res);
    case ST_ARITH:
        return check_arith(r->text, r->len, res);
    case ST_NUMBERS:
        return check_numbers(r->q, r->qlen, r->text, r->len, res);
    default:
        return check_form(r->text, r->len, res);
    }
}

/* Seconds per response of each stage into t: the best of rounds passes
 * (the least disturbed by other work on the machine). Rounds run every
 * stage in turn, so that a busy spell slows all stages alike. */
static void time_stages(const struct corpus *c, unsigned long rounds, double t[ST_N])
{
    struct feat_vec fv[2];
    static struct check_result res;
    feat_vec_init(&fv[0]);
    feat_vec_init(&fv[1]);
    for (int st = 0; st < ST_N; st++)
        t[st] = 1e300;
    for (unsigned long k = 0; k < rounds; k++) {
        for (int st = 0; st < ST_N; st++) {
            double t0 = now_s();
            for (size_t i = 0; i < c->n; i++)
                if (run(c, &c->r[i], (enum stage)st, fv, &res)) {
                    fprintf(stderr, "bench_checks: %s failed\n", STAGE_NAME[st]);
                    exit(1);
                }
            double dt = (now_s() - t0) / (double)c->n;
            t[st] = dt < t[st] ? dt : t[st];
        }
    }
    feat_vec_clear(&fv[0]);
    feat_vec_clear(&fv[1]);
}

static int parse_args(int argc, char **argv, const char **file, unsigned long *rounds)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            char *end;
            errno = 0;
            *rounds = strtoul(argv[++i], &end, 10);
            if (errno || *end || *rounds == 0 || *rounds > 100000)
                return -EINVAL;
        } else if (!*file && argv[i][0] != '-') {
            *file = argv[i];
        } else {
            return -EINVAL;
        }
    }
    return *file ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    unsigned long rounds = 20;
    struct corpus c = {0};
    if (parse_args(argc, argv, &file, &rounds)) {
        fprintf(stderr, "usage: bench_checks FILE [--rounds N]\n");
        return 2;
    }
    int rc = load(file, &c);
    if (!rc && !(c.prompts = calloc(c.ndocs ? c.ndocs : 1, sizeof(*c.prompts))))
        rc = -ENOMEM;
    if (rc || c.n == 0) {
        fprintf(stderr, "bench_checks: cannot read %s: %s\n", file, rc ? strerror(-rc) : "empty");
        return 1;
    }
    double t[ST_N], bytes = 0;
    for (size_t i = 0; i < c.n; i++)
        bytes += (double)c.r[i].len;
    time_stages(&c, rounds, t);
    printf("bench_checks: %zu responses in %zu groups, %.0f bytes on average, best of %lu "
           "rounds\n",
           c.n, c.ndocs, bytes / (double)c.n, rounds);
    for (int st = 0; st < ST_N; st++)
        printf("  %-14s %8.2f us/response\n", STAGE_NAME[st], t[st] * 1e6);
    printf("  ratio check_run_all / features: FNV-1a %.3f, FX %.3f; with the prompt read once "
           "per group: FNV-1a %.3f, FX %.3f\n",
           t[ST_ALL] / t[ST_FEAT], t[ST_ALL] / t[ST_FEAT_FX], t[ST_GROUP] / t[ST_FEAT],
           t[ST_GROUP] / t[ST_FEAT_FX]);
    printf("  checkers' share of features FX + checkers (prompt once per group): %.3f (goal "
           "<= 0.10)\n",
           t[ST_GROUP] / (t[ST_GROUP] + t[ST_FEAT_FX]));
    for (size_t i = 0; i < c.ndocs; i++)
        json_decref(c.docs[i]);
    free(c.docs);
    free(c.r);
    free(c.prompts);
    return 0;
}
