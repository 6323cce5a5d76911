/* bench_reward - benchmark helper for the built-in reward layer.
 *
 *   bench_reward libsvm --format hh|gsm8k FILE --split train|test OUT [--bits B]
 *       writes phi(a) - phi(b) of the split (dataset_split_is_test) as libsvm,
 *       labels +1/-1 (pair order flipped at random so classes are balanced).
 *   bench_reward synth N OUT_TRAIN OUT_TEST [--bits B]
 *       N synthetic training comparisons (N/5 for test), ~150 nonzeros each.
 *   bench_reward train-libsvm TRAIN TEST [--members M] [--bits B] [--calib S]
 *                [--epochs E] [--threads T] [--l2 X] [--seed S]
 *       reads both files, trains the ensemble, prints accuracy, wall, peak RSS.
 *   bench_reward score [N] [--rounds R]
 *       scores N (default 100000) ~1 KB responses on one thread, R rounds
 *       (default 5) of each layer: with and without the checker block, each
 *       with the old (FNV-1a) and the new (FX) token hash; prints the
 *       medians per second of CPU time and the speed-up of the new hash.
 *   bench_reward eval --format hh|gsm8k FILE [--no-checks] [--fnv1a]
 *       trains a default layer on the training side of the fixed 80/20 split
 *       by prompt (dataset_split_is_test) and prints one JSON line: the file's
 *       counts, held-out accuracy, "the longer reply wins" on the same pairs,
 *       log loss, ECE, threshold, coverage, and the checker features'
 *       weights ("checks"; --no-checks trains without them, as blob version
 *       1 layers were; --fnv1a with the token hash of blob versions 1 and 2
 *       instead of FX). Samples of a prompt form its group on each side of
 *       the split, as training and calibration group them: the figures
 *       with those groups are in "grouped"; the top-level ones score each
 *       pair as its own group {a, b}, as the daemon scores a pair item
 *       while it keeps no sample groups (reward_evaluate). score_us_per_pair
 *       is the time reward_score_pair takes for one held-out pair.
 *   bench_reward cv --format hh|gsm8k FILE [--reps R] [--ngram-scale X] [--l2 X]
 *                [--members M] [--epochs E] [--seed S] [--train-only]
 *       grouped cross-validation of the default layer over the whole file:
 *       the prompts are split into 5 folds by a hash of the prompt (R
 *       rounds, default 2, each with its own hash), each fold judged by a
 *       layer trained on the other four; prints one JSON line with the
 *       held-out accuracy, coverage at the grouped threshold and accuracy
 *       on covered over every held-out pair of every round (grouped view;
 *       "alone": each pair its own group): more pairs than the fixed
 *       split's 20%, so less noise. With
 *       --train-only the folds hold only the fixed split's training 80%
 *       (what eval trains on), so a change can be judged without the
 *       split's held-out 20%. --l2, --members, --epochs and --seed set the
 *       training parameters of struct reward_params (defaults: theirs).
 */
#include "dataset.h"
#include "feat.h"
#include "reward.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Parses an unsigned decimal option value; 0 or -EINVAL. */
static int parse_ul(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_d(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* ---- libsvm export -------------------------------------------------------- */

struct export_ctx {
    FILE *out;
    unsigned bits;
    int want_test;
    struct feat_vec fa, fb;
    size_t written;
};

static void write_row(FILE *out, int label, const struct feat_vec *a, const struct feat_vec *b)
{
    size_t i = 0, j = 0;
    fprintf(out, "%+d", label);
    while (i < a->n || j < b->n) {
        uint32_t idx;
        float v;
        if (j == b->n || (i < a->n && a->idx[i] < b->idx[j])) {
            idx = a->idx[i];
            v = a->val[i++];
        } else if (i == a->n || b->idx[j] < a->idx[i]) {
            idx = b->idx[j];
            v = -b->val[j++];
        } else {
            idx = a->idx[i];
            v = a->val[i++] - b->val[j++];
        }
        if (v != 0.0f)
            fprintf(out, " %u:%.6g", idx + 1, (double)v);
    }
    fputc('\n', out);
}

static int export_pair(void *cls, const struct dataset_pair *p)
{
    struct export_ctx *c = cls;
    if (dataset_split_is_test(p->prompt) != c->want_test)
        return 0;
    /* Order flip from the pair's own text: balanced, and stable across runs. */
    int flip = (int)(feat_fnv1a64(p->chosen, strlen(p->chosen)) >> 63);
    const char *first = flip ? p->rejected : p->chosen, *second = flip ? p->chosen : p->rejected;
    size_t pl = strlen(p->prompt);
    if (feat_extract(c->bits, p->prompt, pl, first, strlen(first), &c->fa) ||
        feat_extract(c->bits, p->prompt, pl, second, strlen(second), &c->fb))
        return -ENOMEM;
    write_row(c->out, flip ? -1 : 1, &c->fa, &c->fb);
    c->written++;
    return 0;
}

static int cmd_libsvm(int argc, char **argv)
{
    const char *fmt_name = NULL, *file = NULL, *split = NULL, *outp = NULL;
    unsigned long bits = REWARD_BITS_DEFAULT;
    enum dataset_format fmt;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            fmt_name = argv[++i];
        else if (!strcmp(argv[i], "--split") && i + 1 < argc)
            split = argv[++i];
        else if (!strcmp(argv[i], "--bits") && i + 1 < argc) {
            if (parse_ul(argv[++i], &bits))
                return 2;
        } else if (!file)
            file = argv[i];
        else if (!outp)
            outp = argv[i];
    }
    if (!fmt_name || !file || !split || !outp || dataset_format_parse(fmt_name, &fmt) ||
        (strcmp(split, "train") && strcmp(split, "test"))) {
        fprintf(stderr, "usage: libsvm --format hh|gsm8k FILE --split train|test OUT\n");
        return 2;
    }
    FILE *in = fopen(file, "r");
    FILE *out = fopen(outp, "w");
    struct export_ctx c = {out, (unsigned)bits, !strcmp(split, "test"), {0}, {0}, 0};
    struct dataset_stats st;
    int rc = 1;
    feat_vec_init(&c.fa);
    feat_vec_init(&c.fb);
    if (!in || !out) {
        perror("open");
        goto out;
    }
    if (dataset_read(in, fmt, export_pair, NULL, &c, &st))
        goto out;
    fprintf(stderr, "%s: %zu lines, %zu pairs, %zu written to %s\n", file, st.lines, st.pairs,
            c.written, outp);
    rc = 0;
out:
    feat_vec_clear(&c.fa);
    feat_vec_clear(&c.fb);
    if (in)
        fclose(in);
    if (out && fclose(out))
        rc = 1;
    return rc;
}

/* ---- synthetic comparisons ------------------------------------------------ */

#define SYN_VOCAB 200000u /* distinct tokens */
#define SYN_TOKENS 95u    /* tokens per response: ~150 nonzeros per difference */
#define SYN_SCALE 3.0     /* signal strength: Bayes accuracy about 0.8 */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Sorts a small sparse vector by index in place (insertion sort). */
static void sort_sparse(uint32_t *idx, float *val, size_t n)
{
    for (size_t x = 1; x < n; x++)
        for (size_t y = x; y > 0 && idx[y - 1] > idx[y]; y--) {
            uint32_t ti = idx[y];
            idx[y] = idx[y - 1];
            idx[y - 1] = ti;
            float tv = val[y];
            val[y] = val[y - 1];
            val[y - 1] = tv;
        }
}

/* Hidden true weight of a token, in [-1, 1]. */
static double syn_weight(uint64_t tok)
{
    return (double)(mix(tok ^ 0x7765696768740000ULL) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* A synthetic response: SYN_TOKENS Zipf-like tokens, counts normalised. */
static double syn_response(uint64_t *s, uint32_t mask, uint32_t *idx, float *val, size_t *n)
{
    double r = 0.0, inv = 1.0 / sqrt((double)SYN_TOKENS);
    *n = 0;
    for (unsigned t = 0; t < SYN_TOKENS; t++) {
        uint64_t tok = (uint64_t)pow((double)SYN_VOCAB, rng_unit(s));
        uint32_t b = (uint32_t)mix(tok) & mask;
        size_t k;
        for (k = 0; k < *n && idx[k] != b; k++)
            ;
        if (k == *n) {
            idx[k] = b;
            val[k] = 0.0f;
            (*n)++;
        }
        val[k] += (float)inv;
        r += syn_weight(tok) * inv;
    }
    return r;
}

static int write_synth(const char *path, size_t n, uint64_t seed, uint32_t mask)
{
    FILE *f = fopen(path, "w");
    uint32_t ia[SYN_TOKENS], ib[SYN_TOKENS];
    float va[SYN_TOKENS], vb[SYN_TOKENS];
    uint64_t s = seed;
    if (!f)
        return -errno;
    for (size_t i = 0; i < n; i++) {
        size_t na, nb;
        double ra = syn_response(&s, mask, ia, va, &na);
        double rb = syn_response(&s, mask, ib, vb, &nb);
        double u = rng_unit(&s);
        /* Logistic label noise: P(a wins) = sigmoid(SCALE * (ra - rb)). */
        int a_wins = u < 1.0 / (1.0 + exp(-SYN_SCALE * (ra - rb)));
        struct feat_vec a = {ia, va, na, na}, b = {ib, vb, nb, nb};
        /* write_row expects sorted indices. */
        sort_sparse(ia, va, na);
        sort_sparse(ib, vb, nb);
        write_row(f, a_wins ? 1 : -1, &a, &b);
    }
    return fclose(f) ? -errno : 0;
}

static int cmd_synth(int argc, char **argv)
{
    unsigned long n, bits = 20;
    if (argc < 3 || parse_ul(argv[0], &n) ||
        (argc >= 5 && (strcmp(argv[3], "--bits") || parse_ul(argv[4], &bits)))) {
        fprintf(stderr, "usage: synth N OUT_TRAIN OUT_TEST [--bits B]\n");
        return 2;
    }
    uint32_t mask = (uint32_t)((1ULL << bits) - 1);
    if (write_synth(argv[1], n, 1, mask) || write_synth(argv[2], n / 5, 2, mask)) {
        perror("synth");
        return 1;
    }
    return 0;
}

/* ---- training from libsvm -------------------------------------------------- */

/* Reads a libsvm file of +1/-1 labels into rows; 0 or negative errno. */
static int read_libsvm(const char *path, struct reward_rows *rows)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, ic = 0;
    uint32_t *idx = NULL;
    float *val = NULL;
    int rc = 0;
    if (!f)
        return -errno;
    while (getline(&line, &cap, f) > 0) {
        char *p = line, *end;
        size_t n = 0;
        long lab = strtol(p, &end, 10);
        if (end == p)
            continue;
        p = end;
        for (;;) {
            unsigned long j = strtoul(p, &end, 10);
            if (end == p || *end != ':')
                break;
            p = end + 1;
            float v = strtof(p, &end);
            if (end == p) {
                rc = -EINVAL;
                goto out;
            }
            p = end;
            if (n == ic) {
                size_t nc = ic ? ic * 2 : 256;
                uint32_t *ni = realloc(idx, nc * sizeof(*ni));
                float *nv = ni ? realloc(val, nc * sizeof(*nv)) : NULL;
                if (ni)
                    idx = ni;
                if (!ni || !nv) {
                    rc = -ENOMEM;
                    goto out;
                }
                val = nv;
                ic = nc;
            }
            idx[n] = (uint32_t)(j - 1);
            val[n++] = v;
        }
        rc = reward_rows_add(rows, idx, val, n, lab > 0 ? 1.0 : 0.0, 1.0);
        if (rc)
            goto out;
    }
out:
    free(line);
    free(idx);
    free(val);
    fclose(f);
    return rc;
}

static int cmd_train_libsvm(int argc, char **argv)
{
    double t0 = now_s();
    struct reward_params p;
    struct reward_rows *tr = NULL, *te = NULL;
    struct reward_layer *l = NULL;
    json_t *rep = NULL, *ev = NULL;
    int rc = 1;
    reward_params_default(&p);
    p.bits = 20;
    if (argc < 2)
        goto usage;
    for (int i = 2; i + 1 < argc; i += 2) {
        unsigned long u;
        double d;
        if (!strcmp(argv[i], "--members") && !parse_ul(argv[i + 1], &u))
            p.members = (unsigned)u;
        else if (!strcmp(argv[i], "--bits") && !parse_ul(argv[i + 1], &u))
            p.bits = (unsigned)u;
        else if (!strcmp(argv[i], "--epochs") && !parse_ul(argv[i + 1], &u))
            p.epochs = (unsigned)u;
        else if (!strcmp(argv[i], "--threads") && !parse_ul(argv[i + 1], &u))
            p.threads = (unsigned)u;
        else if (!strcmp(argv[i], "--seed") && !parse_ul(argv[i + 1], &u))
            p.seed = u;
        else if (!strcmp(argv[i], "--calib") && !parse_d(argv[i + 1], &d))
            p.calib_share = d;
        else if (!strcmp(argv[i], "--l2") && !parse_d(argv[i + 1], &d))
            p.l2 = d;
        else
            goto usage;
    }
    tr = reward_rows_new(p.bits);
    if (!tr || read_libsvm(argv[0], tr)) {
        fprintf(stderr, "cannot read %s (indices must be <= 2^%u)\n", argv[0], p.bits);
        goto out;
    }
    size_t ntr = reward_rows_count(tr), nnz = reward_rows_nnz(tr);
    double t1 = now_s();
    l = reward_train_rows(&p, tr, NULL, &rep);
    if (!l) {
        fprintf(stderr, "training failed\n");
        goto out;
    }
    double t2 = now_s();
    /* The test rows are read only now, so they do not add to the peak. */
    reward_rows_free(tr);
    tr = NULL;
    te = reward_rows_new(p.bits);
    if (!te || read_libsvm(argv[1], te)) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        goto out;
    }
    ev = reward_evaluate_rows(l, te);
    double t3 = now_s();
    printf("rows_train %zu nnz_train %zu rows_test %zu\n", ntr, nnz, reward_rows_count(te));
    printf("accuracy %.4f\n", json_real_value(json_object_get(ev, "accuracy")));
    printf("read_s %.2f train_s %.2f test_read_eval_s %.2f wall_s %.2f\n", t1 - t0, t2 - t1,
           t3 - t2, t3 - t0);
    printf("peak_rss_kb %ld\n", peak_rss_kb());
    char *s = json_dumps(rep, JSON_COMPACT | JSON_REAL_PRECISION(4));
    if (s)
        printf("report %s\n", s);
    free(s);
    rc = 0;
    goto out;
usage:
    fprintf(stderr, "usage: train-libsvm TRAIN TEST [--members M] [--bits B] [--calib S] "
                    "[--epochs E] [--threads T] [--l2 X] [--seed S]\n");
    rc = 2;
out:
    json_decref(rep);
    json_decref(ev);
    reward_free(l);
    reward_rows_free(tr);
    reward_rows_free(te);
    return rc;
}

/* ---- scoring throughput ------------------------------------------------------ */

static const char *const WORDS[] = {
    "the",      "answer", "is",   "because", "we",    "can",     "compute", "total", "of",
    "apples",   "each",   "step", "so",      "then",  "however", "I",       "think", "you",
    "should",   "not",    "do",   "that",    "sorry", "help",    "42",      "x",     "=",
    "function", "return", "if",   "café",    "naïve", "数学"};

/* Appends words to buf until ~len bytes; returns the length. */
static size_t make_text(uint64_t *s, char *buf, size_t len)
{
    size_t n = 0, nw = sizeof(WORDS) / sizeof(WORDS[0]);
    while (n + 16 < len) {
        const char *w = WORDS[rng_next(s) % nw];
        size_t wl = strlen(w);
        memcpy(buf + n, w, wl);
        n += wl;
        buf[n++] = (rng_next(s) % 12) ? ' ' : '\n';
    }
    buf[n] = '\0';
    return n;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *x, size_t n)
{
    qsort(x, n, sizeof(*x), cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2.0;
}

enum { SCORE_TEXT = 1024, SCORE_POOL = 64, SCORE_ROUNDS_MAX = 99 };

/* Scores n texts of pool with l; the rate per second of this thread's CPU
 * time into *cpu_rate and of wall time into *wall_rate. */
static int score_round(const struct reward_layer *l, char (*pool)[SCORE_TEXT], unsigned long n,
                       double *cpu_rate, double *wall_rate, double *acc)
{
    double w0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        struct reward_single r;
        if (reward_score_single(l, "What is the total number of apples?", pool[i % SCORE_POOL], &r))
            return -1;
        *acc += r.r;
    }
    *cpu_rate = (double)n / (cpu_s() - c0);
    *wall_rate = (double)n / (now_s() - w0);
    return 0;
}

/* R rounds of n responses with the FNV-1a layer l[0] and the FX layer l[1]
 * in turn (which goes first alternates); prints the medians and the median
 * of the rounds' FX / FNV-1a ratios. */
static int score_compare(const char *what, struct reward_layer *const l[2],
                         char (*pool)[SCORE_TEXT], unsigned long n, unsigned long rounds)
{
    double cpu[2][SCORE_ROUNDS_MAX], wall[2][SCORE_ROUNDS_MAX], ratio[SCORE_ROUNDS_MAX];
    double acc[2] = {0.0, 0.0}, ratio_min = INFINITY, ratio_max = 0.0;
    for (unsigned long r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int h = (int)(r & 1) ^ k;
            if (score_round(l[h], pool, n, &cpu[h][r], &wall[h][r], &acc[h]))
                return -1;
        }
        ratio[r] = cpu[1][r] / cpu[0][r];
        ratio_min = ratio[r] < ratio_min ? ratio[r] : ratio_min;
        ratio_max = ratio[r] > ratio_max ? ratio[r] : ratio_max;
    }
    double fnv = median(cpu[0], rounds), fx = median(cpu[1], rounds);
    printf("%s, old hash FNV-1a (blob v1/v2): %.0f responses/s/core (wall %.0f/s)\n", what, fnv,
           median(wall[0], rounds));
    printf("%s, new hash FX (blob v3):        %.0f responses/s/core (wall %.0f/s)\n", what, fx,
           median(wall[1], rounds));
    printf("%s, speed-up FX / FNV-1a: %.3fx (median of %lu rounds, range %.3f-%.3f; checksums "
           "%.3f %.3f)\n",
           what, median(ratio, rounds), rounds, ratio_min, ratio_max, acc[0], acc[1]);
    return 0;
}

/* bench_reward score [N] [--rounds R]: layers with and without the checker
 * block, each trained with both token hashes on the same data, score N ~1 KB
 * responses per round on this thread. Rates are per second of the thread's
 * CPU time (the machine may be shared; wall time beside it). */
static int cmd_score(int argc, char **argv)
{
    unsigned long n = 100000, rounds = 5;
    enum { NTRAIN = 400 };
    struct reward_params p;
    struct reward_pair_ex *ex = calloc(NTRAIN, sizeof(*ex));
    char(*texts)[SCORE_TEXT] = calloc(2 * NTRAIN + SCORE_POOL, sizeof(*texts));
    struct reward_layer *l[2][2] = {{NULL, NULL}, {NULL, NULL}}; /* [checks][hash] */
    uint64_t s = 7;
    int rc = 1;
    if ((argc >= 1 && parse_ul(argv[0], &n)) ||
        (argc >= 3 && (strcmp(argv[1], "--rounds") || parse_ul(argv[2], &rounds))) || rounds < 1 ||
        rounds > SCORE_ROUNDS_MAX) {
        fprintf(stderr, "usage: score [N] [--rounds R (1-%d)]\n", SCORE_ROUNDS_MAX);
        rc = 2;
        goto out;
    }
    if (!ex || !texts)
        goto out;
    for (size_t i = 0; i < NTRAIN; i++) {
        make_text(&s, texts[2 * i], SCORE_TEXT);
        make_text(&s, texts[2 * i + 1], SCORE_TEXT);
        ex[i] = (struct reward_pair_ex){"a question?",   texts[2 * i], texts[2 * i + 1],
                                        (double)(i & 1), 1.0,          (uint64_t)i + 1};
    }
    reward_params_default(&p);
    p.calib_share = 0.0;
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++) {
            p.checks = (unsigned)c;
            p.hash = h ? FEAT_HASH_FX : FEAT_HASH_FNV1A;
            if (!(l[c][h] = reward_train(&p, ex, NTRAIN, NULL, 0, NULL)))
                goto out;
        }
    /* 64 distinct ~1 KB texts, cycled. */
    char(*pool)[SCORE_TEXT] = texts + 2 * NTRAIN;
    size_t bytes = 0;
    for (size_t i = 0; i < SCORE_POOL; i++)
        bytes += make_text(&s, pool[i], SCORE_TEXT);
    printf("%lu responses per round (mean %.0f bytes), 5 members, 2^%u buckets, one thread\n", n,
           (double)bytes / SCORE_POOL, REWARD_BITS_DEFAULT);
    if (score_compare("with checkers", l[1], pool, n, rounds) ||
        score_compare("features only", l[0], pool, n, rounds))
        goto out;
    rc = 0;
out:
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++)
            reward_free(l[c][h]);
    free(ex);
    free(texts);
    return rc;
}

/* ---- evaluation on a public data set --------------------------------------- */

struct eval_ctx {
    struct reward_pair_ex *rows; /* training rows first, then test rows from the end */
    size_t ntr, nte, cap;
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static int eval_pair(void *cls, const struct dataset_pair *p)
{
    struct eval_ctx *c = cls;
    if (c->ntr + c->nte == c->cap) {
        fprintf(stderr, "eval: more than %zu pairs\n", c->cap);
        return -E2BIG;
    }
    /* The same side order as the libsvm export: from the pair's own text. */
    int flip = (int)(feat_fnv1a64(p->chosen, strlen(p->chosen)) >> 63);
    struct reward_pair_ex e = {dup_str(p->prompt),
                               dup_str(flip ? p->rejected : p->chosen),
                               dup_str(flip ? p->chosen : p->rejected),
                               flip ? 0.0 : 1.0,
                               1.0,
                               0};
    if (dataset_split_is_test(p->prompt))
        c->rows[c->cap - ++c->nte] = e;
    else
        c->rows[c->ntr++] = e;
    return e.prompt && e.a && e.b ? 0 : -ENOMEM;
}

/* Share of pairs where the longer reply is the preferred one (ties half). */
static double longer_share(const struct reward_pair_ex *e, size_t n)
{
    double ok = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t la = strlen(e[i].a), lb = strlen(e[i].b);
        ok += la == lb ? 0.5 : (double)((la > lb) == (e[i].y > 0.5));
    }
    return n ? ok / (double)n : 0.0;
}

/* Microseconds per pair of reward_score_pair over te[0..n), the best of 10
 * rounds (as the daemon scores a pair item: features, checkers, members);
 * -1 when scoring fails. */
static double score_us(const struct reward_layer *l, const struct reward_pair_ex *te, size_t n)
{
    double best = INFINITY;
    for (int round = 0; round < 10 && n; round++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            struct reward_pair r;
            if (reward_score_pair(l, te[i].prompt, te[i].a, te[i].b, &r))
                return -1;
        }
        double us = (now_s() - t0) * 1e6 / (double)n;
        best = us < best ? us : best;
    }
    return n ? best : 0.0;
}

/* Trains on c's training rows, evaluates on its test rows, adds the figures
 * to out. 0 or -ENOMEM. */
static int eval_run(const struct eval_ctx *c, unsigned checks, enum feat_hash hash, json_t *out)
{
    struct reward_params p;
    reward_params_default(&p);
    p.checks = checks;
    p.hash = hash;
    const struct reward_pair_ex *te = c->rows + c->cap - c->nte;
    double t0 = now_s();
    json_t *rep = NULL;
    struct reward_layer *l = reward_train(&p, c->rows, c->ntr, NULL, 0, &rep);
    if (!l)
        return -ENOMEM;
    json_object_set(out, "checks", json_object_get(rep, "checks"));
    json_object_set(out, "calibration_threshold_note", json_object_get(rep, "threshold_note"));
    json_object_set(out, "calibration", json_object_get(rep, "calibration"));
    json_decref(rep);
    double train_s = now_s() - t0;
    json_t *ev = reward_evaluate(l, te, c->nte);
    json_object_set_new(out, "score_us_per_pair", json_real(score_us(l, te, c->nte)));
    reward_free(l);
    if (!ev)
        return -ENOMEM;
    json_object_update(out, ev);
    json_decref(ev);
    json_object_set_new(out, "train_pairs", json_integer((json_int_t)c->ntr));
    json_object_set_new(out, "longer_wins", json_real(longer_share(te, c->nte)));
    json_object_set_new(out, "train_seconds", json_real(train_s));
    return 0;
}

static int cmd_eval(int argc, char **argv)
{
    enum dataset_format fmt;
    unsigned checks = 1;
    enum feat_hash hash = FEAT_HASH_FX;
    for (; argc > 3; argc--) {
        if (!strcmp(argv[argc - 1], "--no-checks"))
            checks = 0;
        else if (!strcmp(argv[argc - 1], "--fnv1a"))
            hash = FEAT_HASH_FNV1A;
        else
            break;
    }
    if (argc != 3 || strcmp(argv[0], "--format") || dataset_format_parse(argv[1], &fmt)) {
        fprintf(stderr, "usage: eval --format hh|gsm8k FILE [--no-checks] [--fnv1a]\n");
        return 2;
    }
    struct eval_ctx c = {calloc(100000, sizeof(*c.rows)), 0, 0, 100000};
    struct dataset_stats st;
    json_t *out = json_object();
    FILE *in = fopen(argv[2], "r");
    int rc = 1;
    if (!in) {
        perror(argv[2]);
        goto out;
    }
    if (!c.rows || !out || dataset_read(in, fmt, eval_pair, NULL, &c, &st))
        goto out;
    if (eval_run(&c, checks, hash, out))
        goto out;
    /* reward_evaluate's "pairs" are the held-out ones; "pairs" is the file's. */
    json_object_set(out, "test_pairs", json_object_get(out, "pairs"));
    json_object_set_new(out, "file", json_string(argv[2]));
    json_object_set_new(out, "lines", json_integer((json_int_t)st.lines));
    json_object_set_new(out, "pairs", json_integer((json_int_t)st.pairs));
    json_object_set_new(out, "rejected_lines", json_integer((json_int_t)st.rejected_lines));
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(4));
    putchar('\n');
    rc = 0;
out:
    for (size_t i = 0; c.rows && i < c.cap; i++) {
        free((char *)c.rows[i].prompt);
        free((char *)c.rows[i].a);
        free((char *)c.rows[i].b);
    }
    free(c.rows);
    json_decref(out);
    if (in)
        fclose(in);
    return rc;
}

/* The fold of prompt in round r of 5. */
static unsigned cv_fold(const char *prompt, unsigned r)
{
    uint64_t h = reward_group_of(prompt) * 0x9E3779B97F4A7C15ULL + (uint64_t)r * 0x1234567ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (unsigned)(h % 5);
}

/* Adds the figures of a layer trained on tr[0..ntr), judged on te[0..nte),
 * to the sums f: grouped accuracy, coverage, covered right, pairs, then
 * the same three with each pair alone. */
static int cv_run(const struct reward_params *p, const struct reward_pair_ex *tr, size_t ntr,
                  const struct reward_pair_ex *te, size_t nte, double *f)
{
    struct reward_layer *l = reward_train(p, tr, ntr, NULL, 0, NULL);
    json_t *ev = l ? reward_evaluate(l, te, nte) : NULL;
    reward_free(l);
    if (!ev)
        return -ENOMEM;
    json_t *g =
        json_is_object(json_object_get(ev, "grouped")) ? json_object_get(ev, "grouped") : ev;
    double cov = json_number_value(json_object_get(g, "coverage"));
    f[0] += json_number_value(json_object_get(g, "accuracy")) * (double)nte;
    f[1] += cov * (double)nte;
    f[2] += cov * (double)nte * json_number_value(json_object_get(g, "accuracy_on_covered"));
    f[3] += (double)nte;
    double lcov = json_number_value(json_object_get(ev, "coverage"));
    f[4] += json_number_value(json_object_get(ev, "accuracy")) * (double)nte;
    f[5] += lcov * (double)nte;
    if (lcov > 0)
        f[6] += lcov * (double)nte * json_number_value(json_object_get(ev, "accuracy_on_covered"));
    json_decref(ev);
    return 0;
}

/* Sets the training parameter that opt names (--l2, --members, --epochs,
 * --seed) from val: 1 when opt is one (*bad set on a bad value), else 0. */
static int cv_param(const char *opt, const char *val, struct reward_params *p, int *bad)
{
    unsigned long u = 0;
    if (!strcmp(opt, "--l2"))
        *bad |= parse_d(val, &p->l2) || !(p->l2 > 0);
    else if (!strcmp(opt, "--members"))
        *bad |= parse_ul(val, &u) || !u || u > REWARD_MEMBERS_MAX || !(p->members = (unsigned)u);
    else if (!strcmp(opt, "--epochs"))
        *bad |= parse_ul(val, &u) || !u || u > 1000 || !(p->epochs = (unsigned)u);
    else if (!strcmp(opt, "--seed"))
        *bad |= parse_ul(val, &u) || !(p->seed = u);
    else
        return 0;
    return 1;
}

static int cmd_cv(int argc, char **argv)
{
    enum dataset_format fmt;
    unsigned reps = 2;
    struct reward_params p;
    reward_params_default(&p);
    unsigned long ul = 2;
    int bad = 0, train_only = 0;
    while (argc > 3) {
        if (!strcmp(argv[argc - 1], "--train-only")) {
            train_only = 1;
            argc--;
        } else if (argc > 4 && !strcmp(argv[argc - 2], "--reps")) {
            bad |= parse_ul(argv[argc - 1], &ul) || ul > 100;
            argc -= 2;
        } else if (argc > 4 && !strcmp(argv[argc - 2], "--ngram-scale")) {
            bad |= parse_d(argv[argc - 1], &p.ngram_scale);
            argc -= 2;
        } else if (argc > 4 && cv_param(argv[argc - 2], argv[argc - 1], &p, &bad)) {
            argc -= 2;
        } else {
            break;
        }
    }
    reps = bad ? 0 : (unsigned)ul;
    if (argc != 3 || strcmp(argv[0], "--format") || dataset_format_parse(argv[1], &fmt) || !reps) {
        fprintf(stderr, "usage: cv --format hh|gsm8k FILE [--reps R] [--ngram-scale X] "
                        "[--l2 X] [--members M] [--epochs E] [--seed S] [--train-only]\n");
        return 2;
    }
    struct eval_ctx c = {calloc(100000, sizeof(*c.rows)), 0, 0, 100000};
    struct reward_pair_ex *tr = calloc(100000, sizeof(*tr)), *te = calloc(100000, sizeof(*te));
    struct dataset_stats st;
    double f[7] = {0};
    FILE *in = fopen(argv[2], "r");
    int rc = !in || !c.rows || !tr || !te || dataset_read(in, fmt, eval_pair, NULL, &c, &st);
    for (unsigned r = 0; r < reps && !rc; r++)
        for (unsigned k = 0; k < 5 && !rc; k++) {
            size_t ntr = 0, nte = 0;
            for (size_t i = 0; i < c.cap; i++)
                if (!c.rows[i].prompt || (train_only && i >= c.ntr))
                    continue; /* the fixed split's held-out rows sit at the end */
                else if (cv_fold(c.rows[i].prompt, r) == k)
                    te[nte++] = c.rows[i];
                else
                    tr[ntr++] = c.rows[i];
            rc = cv_run(&p, tr, ntr, te, nte, f);
        }
    if (!rc)
        printf("{\"file\":\"%s\",\"train_only\":%s,\"rounds\":%u,\"held_out_pairs\":%.0f,"
               "\"accuracy\":%.4f,\"coverage\":%.4f,\"accuracy_on_covered\":%.4f,"
               "\"alone\":{\"accuracy\":%.4f,\"coverage\":%.4f,\"accuracy_on_covered\":%.4f}}\n",
               argv[2], train_only ? "true" : "false", reps, f[3], f[0] / f[3], f[1] / f[3],
               f[1] > 0 ? f[2] / f[1] : NAN, f[4] / f[3], f[5] / f[3],
               f[5] > 0 ? f[6] / f[5] : NAN);
    for (size_t i = 0; c.rows && i < c.cap; i++) {
        free((char *)c.rows[i].prompt);
        free((char *)c.rows[i].a);
        free((char *)c.rows[i].b);
    }
    free(c.rows);
    free(tr);
    free(te);
    if (in)
        fclose(in);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "libsvm"))
        return cmd_libsvm(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "synth"))
        return cmd_synth(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "train-libsvm"))
        return cmd_train_libsvm(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "score"))
        return cmd_score(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "eval"))
        return cmd_eval(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "cv"))
        return cmd_cv(argc - 2, argv + 2);
    fprintf(stderr, "usage: bench_reward libsvm|synth|train-libsvm|score|eval|cv ...\n");
    return 2;
}
