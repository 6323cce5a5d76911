/* check_dump - every output of the checkers, for a differential check.
 *
 *   check_dump [--full] [--only N] [--gen N] FILE...
 *
 * Each line of each FILE is a JSON document; its string values (nested ones
 * too, in document order) are one group: the first is the prompt, and every
 * one of them, the prompt included, is a response to it (GSM8K
 * model_solutions: the question, the ground truth and the four solutions;
 * HH pairs: both sides; GSM8K train: question and answer). --gen N adds N
 * generated texts (a fixed seed): real texts with random edits and texts
 * made of pieces that the checkers look for (numbers, operators,
 * annotations, markers, brackets, fences, refusals, broken UTF-8).
 *
 * For every response it records what each public checker function gives:
 * check_run_all (with the group's earlier answers as others, once reading
 * the prompt and once with check_prompt_init's result), check_answer,
 * check_arith, check_arith_scan's equations, check_numbers, check_form,
 * check_sample_read, and check_sample_read_prompt with the prompt's numbers
 * (every field), each with check_group_features against the group's
 * earlier samples read the same way; every double as %a, every finding whole. It prints one line
 * per response, its number and a 64-bit hash of that record (the record itself with --full; --only
 * N prints response N alone). checks_diff.sh builds it against two revisions and compares the
 * outputs; it uses only what the baseline's check.h and check_group.h declare.
 */
#include "check.h"
#include "check_group.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define GROUP_MAX 16

/* The record of one response, hashed (FNV-1a) or printed as it grows. */
struct rec {
    uint64_t h;
    int full;
};

static void put(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct rec *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    for (int i = 0; i < n; i++)
        r->h = (r->h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
    if (r->full)
        fputs(buf, stdout);
}

static void put_result(struct rec *r, const char *what, int rc, const struct check_result *res)
{
    put(r, "%s rc %d nf %zu dropped %zu\n", what, rc, res->nf, res->dropped);
    for (int k = 0; k < CHECK_NFEAT; k++)
        put(r, " %a", res->v[k]);
    put(r, "\n");
    for (size_t i = 0; i < res->nf; i++) {
        const struct check_finding *f = &res->f[i];
        put(r, " [%s %s %d %zu+%zu %s]\n", f->checker, f->code, (int)f->verdict, f->start, f->len,
            f->text);
    }
}

static void put_answer(struct rec *r, const struct check_answer *a)
{
    put(r, "answer %d %zu+%zu num %d pct %d %a '%s'\n", (int)a->kind, a->start, a->len, a->numeric,
        a->percent, a->numeric ? a->value : 0.0, a->canon);
}

static int put_eq(void *cls, const struct check_equation *e)
{
    struct rec *r = cls;
    put(r, "eq %zu+%zu @%zu ann %d st %d", e->start, e->len, e->eq_off, e->annotation, e->status);
    if (e->status >= 0)
        put(r, " %a %a", e->lhs, e->rhs);
    put(r, "\n");
    return 0;
}

static void put_sample(struct rec *r, const struct check_sample *s, int rc)
{
    put(r, "sample rc %d eqs %u lines %u nval %zu:", rc, s->eqs, s->lines, s->nval);
    for (size_t i = 0; i < s->nval; i++)
        put(r, " %a", s->val[i]);
    put(r, "\n");
    put_answer(r, &s->ans);
}

#ifdef CHECK_SAMPLE_RUN
#include "check_memo.h"

/* This tree only (the baseline declares no check_sample_run): the hash of
 * a result and a sample, every field of both. */
static uint64_t fused_hash(const struct check_result *res, int rc, const struct check_sample *s)
{
    struct rec h = {0xcbf29ce484222325ULL, 0};
    put_result(&h, "r", rc, res);
    put_sample(&h, s, rc);
    put(&h, "%a %d %u %u %d\n", s->last, s->has_last, s->unused, s->off_path, s->full);
    return h.h;
}

/* check_sample_run and check_memo_run (a miss, then a hit) give what
 * check_run_all and check_sample_read_prompt give apart; a difference adds
 * a line to the record, which then differs from the baseline's. */
static void check_fused(struct rec *r, struct check_input in)
{
    static struct check_result a, b;
    struct check_sample sa, sb;
    for (int no_text = 0; no_text < 2; no_text++) {
        in.no_text = no_text;
        int ra = check_run_all(&in, &a, NULL);
        ra |= check_sample_read_prompt(in.resp, in.resp_len, in.prepared, &sa);
        int rb = check_sample_run(&in, &b, &sb);
        if (fused_hash(&a, ra, &sa) != fused_hash(&b, rb, &sb))
            put(r, "check_sample_run differs (no_text %d)\n", no_text);
    }
    in.others = NULL;
    in.n_others = 0;
    int ra = check_run_all(&in, &a, NULL);
    ra |= check_sample_read_prompt(in.resp, in.resp_len, in.prepared, &sa);
    for (int k = 0; k < 2 && in.resp; k++) {
        check_result_init(&b);
        b.no_text = true;
        struct check_memo_prompt mp;
        int rb = check_memo_prompt(in.prompt, in.prompt_len, &mp);
        if (!rb && !mp.p)
            mp.p = in.prepared; /* not kept: the same numbers */
        rb = rb ? rb : check_memo_run(&mp, in.resp, in.resp_len, &sb, b.v);
        b.nf = a.nf = 0; /* the memo keeps the features, not the findings */
        b.dropped = a.dropped = 0;
        if (fused_hash(&a, ra, &sa) != fused_hash(&b, rb, &sb))
            put(r, "check_memo_run differs (%s)\n", k ? "hit" : "miss");
    }
}
#endif

/* A group: its prompt, and per response the answer and sample read so far. */
struct group {
    const char *prompt;
    size_t plen, n;
    struct check_answer ans[GROUP_MAX];
    struct check_sample smp[GROUP_MAX];
    struct check_sample psmp[GROUP_MAX]; /* read with the prompt's numbers */
    struct check_prompt prep;
};

static struct check_result res; /* large: one, static */

/* The single checkers of text t. */
static void dump_single(struct rec *r, const struct group *g, const char *t, size_t len)
{
    struct check_answer a;
    int rc;
    check_result_init(&res);
    rc = check_answer(t, len, &a, &res);
    put_result(r, "check_answer", rc, &res);
    put_answer(r, &a);
    check_result_init(&res);
    rc = check_arith(t, len, &res);
    put_result(r, "check_arith", rc, &res);
    put(r, "scan %d\n", check_arith_scan(t, len, put_eq, r));
    check_result_init(&res);
    rc = check_numbers(g->prompt, g->plen, t, len, &res);
    put_result(r, "check_numbers", rc, &res);
    check_result_init(&res);
    rc = check_numbers_prepared(&g->prep, t, len, &res);
    put_result(r, "check_numbers_prepared", rc, &res);
    check_result_init(&res);
    rc = check_form(t, len, &res);
    put_result(r, "check_form", rc, &res);
}

/* Every record of response t of group g (which it then joins). */
static void dump_text(struct group *g, const char *t, size_t len, unsigned long idx, int full,
                      long only)
{
    struct rec r = {0xcbf29ce484222325ULL, full && (only < 0 || (unsigned long)only == idx)};
    if (only >= 0 && (unsigned long)only != idx)
        return;
    struct check_answer self;
    size_t n = g->n < GROUP_MAX ? g->n : GROUP_MAX;
    struct check_input in = {.prompt = g->prompt,
                             .prompt_len = g->plen,
                             .resp = t,
                             .resp_len = len,
                             .others = g->ans,
                             .n_others = n};
    int rc = check_run_all(&in, &res, &self);
    put_result(&r, "run_all", rc, &res);
    put_answer(&r, &self);
    in.prepared = &g->prep;
    in.max_samples = 3;
    rc = check_run_all(&in, &res, NULL);
    put_result(&r, "run_all_prepared", rc, &res);
#ifdef CHECK_SAMPLE_RUN
    check_fused(&r, in);
#endif
    dump_single(&r, g, t, len);
    struct check_sample s;
    rc = check_sample_read(t, len, &s);
    put_sample(&r, &s, rc);
    double gf[CHECK_GROUP_NFEAT];
    check_group_features(&s, g->smp, n, gf);
    for (int k = 0; k < CHECK_GROUP_NFEAT; k++)
        put(&r, " %a", gf[k]);
    put(&r, "\n");
    struct check_sample ps; /* with the prompt: every field, the features too */
    rc = check_sample_read_prompt(t, len, &g->prep, &ps);
    put_sample(&r, &ps, rc);
    put(&r, "%a %d %u %u %d\n", ps.last, ps.has_last, ps.unused, ps.off_path, ps.full);
    check_group_features(&ps, g->psmp, n, gf);
    for (int k = 0; k < CHECK_GROUP_NFEAT; k++)
        put(&r, " %a", gf[k]);
    put(&r, "\n");
    if (g->n < GROUP_MAX) {
        g->ans[g->n] = self;
        g->smp[g->n] = s;
        g->psmp[g->n] = ps;
    }
    g->n++;
    if (!r.full)
        printf("%lu %016llx\n", idx, (unsigned long long)r.h);
}

/* Starts group g of prompt[0..plen), printing check_prompt_init's result
 * (its hash, or itself with --full; nothing with --only). */
static void group_start(struct group *g, const char *prompt, size_t plen, int full, long only)
{
    struct rec r = {0xcbf29ce484222325ULL, full && only < 0};
    g->prompt = prompt;
    g->plen = plen;
    g->n = 0;
    put(&r, "prompt rc %d", check_prompt_init(&g->prep, prompt, plen));
    for (size_t i = 0; i < g->prep.n; i++)
        put(&r, " %a", g->prep.v[i]);
    put(&r, "\n");
    if (!full && only < 0)
        printf("prompt %016llx\n", (unsigned long long)r.h);
}

/* The string values of j, in document order. */
static void strings_of(json_t *j, const char **s, size_t *len, size_t *n, size_t max)
{
    if (json_is_string(j) && *n < max) {
        s[*n] = json_string_value(j);
        len[(*n)++] = json_string_length(j);
    } else if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            strings_of(v, s, len, n, max);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            strings_of(v, s, len, n, max);
        }
    }
}

/* Pieces the generated texts are made of. */
static const char *const PIECE[] = {
    "0",
    "1",
    "2",
    "3",
    "7",
    "12",
    "48",
    "100",
    "1,200",
    "3.5",
    ".5",
    "0.25",
    "1,20",
    "17 500",
    "999999999",
    "12345678901234567",
    " ",
    " ",
    " ",
    "\n",
    "\n\n",
    "\t",
    "\r",
    "+",
    "-",
    "*",
    "/",
    "x",
    "X",
    "\xc3\x97",
    "\xc3\xb7",
    "\xe2\x88\x92",
    "^",
    "**",
    "%",
    "=",
    "=",
    "<<",
    ">>",
    "<",
    ">",
    "==",
    "!=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "$",
    "```",
    "~~~",
    "A:",
    "A: ",
    "Answer:",
    "####",
    "The answer is ",
    "\\boxed{",
    "\\frac{",
    "}{",
    "I can't",
    "As an AI",
    "I\xe2\x80\x99m sorry, but",
    "I cannot help",
    "the",
    "and",
    "three",
    "twelve",
    "half",
    "dozen",
    "Twenty",
    "hundred",
    "eggs",
    "She",
    "word",
    ",",
    ".",
    ":",
    ";",
    "!",
    "?",
    "'",
    "\xe2\x80\x99",
    "\xff",
    "\xc3",
    "\xc3\xa9",
    "\xe2\x82\xac",
    "\xc2\xa3",
    "1)",
    "a)",
    ":)",
    "so",
    "of",
    "5%",
    "2/3",
    "1 1/2",
    "-3",
    "e",
    "\xf0\x9f\x98\x80",
    "\xe2\x80",
    "0.1",
    "1e5",
};
#define NPIECE (sizeof(PIECE) / sizeof(PIECE[0]))

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A text of pieces, or real text t edited, into buf (cap bytes); its length. */
static size_t generate(char *buf, size_t cap, const char *t, size_t tlen)
{
    size_t n = 0;
    if (tlen && rnd() % 2) {
        n = tlen < cap ? tlen : cap;
        memcpy(buf, t, n);
        for (int e = (int)(rnd() % 6); e >= 0 && n; e--) {
            size_t at = rnd() % (n + 1);
            const char *p = PIECE[rnd() % NPIECE];
            size_t pl = strlen(p), cut = rnd() % 3 == 0 ? rnd() % 12 : 0;
            if (cut > n - at)
                cut = n - at;
            memmove(buf + at, buf + at + cut, n - at - cut);
            n -= cut;
            if (n + pl <= cap) {
                memmove(buf + at + pl, buf + at, n - at);
                memcpy(buf + at, p, pl);
                n += pl;
            }
        }
        return n;
    }
    size_t want = rnd() % 300;
    while (n < want) {
        const char *p = PIECE[rnd() % NPIECE];
        size_t pl = strlen(p);
        if (n + pl > cap)
            break;
        memcpy(buf + n, p, pl);
        n += pl;
    }
    return n;
}

static int parse(int argc, char **argv, int *full, long *only, unsigned long *gen, int *first)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--full"))
            *full = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            *only = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--gen") && i + 1 < argc)
            *gen = strtoul(argv[++i], NULL, 10);
        else
            return -EINVAL;
    }
    *first = i;
    return 0;
}

static struct group grp; /* large: one, static */

/* Dumps the groups of one file; idx counts responses. Keeps the file's
 * texts in *pool (for the edits of --gen). */
static int dump_file(const char *path, unsigned long *idx, int full, long only, json_t *pool)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    if (!f)
        return -errno;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        const char *s[64];
        size_t len[64], n = 0;
        if (!o)
            continue;
        strings_of(o, s, len, &n, 64);
        if (n)
            group_start(&grp, s[0], len[0], full, only);
        for (size_t k = 0; k < n; k++) {
            dump_text(&grp, s[k], len[k], (*idx)++, full, only);
            json_array_append_new(pool, json_stringn(s[k], len[k]));
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int full = 0, first;
    long only = -1;
    unsigned long gen = 0, idx = 0;
    if (parse(argc, argv, &full, &only, &gen, &first)) {
        fprintf(stderr, "usage: check_dump [--full] [--only N] [--gen N] FILE...\n");
        return 2;
    }
    json_t *pool = json_array();
    for (int i = first; i < argc; i++)
        if (dump_file(argv[i], &idx, full, only, pool)) {
            fprintf(stderr, "check_dump: cannot read %s\n", argv[i]);
            return 1;
        }
    static char buf[1 << 16], pbuf[1 << 12];
    size_t np = json_array_size(pool);
    for (unsigned long k = 0; k < gen; k++) {
        json_t *t = np ? json_array_get(pool, rnd() % np) : NULL;
        if (k % 4 == 0) { /* a new group of four, of a new prompt */
            json_t *q = np ? json_array_get(pool, rnd() % np) : NULL;
            size_t plen = generate(pbuf, sizeof pbuf, q ? json_string_value(q) : "",
                                   q ? json_string_length(q) : 0);
            group_start(&grp, pbuf, plen, full, only);
        }
        size_t n =
            generate(buf, sizeof buf, t ? json_string_value(t) : "", t ? json_string_length(t) : 0);
        dump_text(&grp, buf, n, idx++, full, only);
    }
    json_decref(pool);
    return 0;
}
