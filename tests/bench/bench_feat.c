/* bench_feat - feature extraction alone (feat_extract of feat.h): ~1 KB
 * responses on one thread, rates per second of the thread's CPU time.
 *
 *   bench_feat [--hash fnv1a|fx] [N]
 *
 * The same file builds against an older feat.c (score.sh compiles it with
 * -DBENCH_FEAT_LEGACY against the baseline revision, whose feat_extract is
 * the only one), so one run compares today's extractor with that one. The
 * line ends with a checksum of the pool's vectors (every index and value,
 * computed before the timing): two extractors that agree bit for bit print
 * the same one. */
#include "feat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TEXT = 1024, POOL = 64 };

static const char *const WORDS[] = {
    "the",      "answer", "is",   "because", "we",    "can",     "compute", "total", "of",
    "apples",   "each",   "step", "so",      "then",  "however", "I",       "think", "you",
    "should",   "not",    "do",   "that",    "sorry", "help",    "42",      "x",     "=",
    "function", "return", "if",   "café",    "naïve", "数学"};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The texts of bench_reward score: words until ~len bytes. */
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

/* FNV-1a 64 of every index and value of v, folded into sum. */
static uint64_t vec_sum(uint64_t sum, const struct feat_vec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        unsigned char rec[8];
        memcpy(rec, &v->idx[i], 4);
        memcpy(rec + 4, &v->val[i], 4);
        for (int k = 0; k < 8; k++)
            sum = (sum ^ rec[k]) * 0x100000001b3ULL;
    }
    return sum;
}

/* One feature vector with the selected hash (legacy builds: FNV-1a only). */
static int extract(int fx, const char *q, const char *t, size_t tlen, struct feat_vec *v)
{
#ifdef BENCH_FEAT_LEGACY
    (void)fx;
    return feat_extract(18, q, strlen(q), t, tlen, v);
#else
    return feat_extract_hash(fx ? FEAT_HASH_FX : FEAT_HASH_FNV1A, 18, q, strlen(q), t, tlen, v);
#endif
}

int main(int argc, char **argv)
{
    static char pool[POOL][TEXT];
    size_t len[POOL];
    unsigned long n = 100000;
    int fx = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--hash") && i + 1 < argc) {
            fx = !strcmp(argv[++i], "fx");
        } else {
            char *end;
            errno = 0;
            n = strtoul(argv[i], &end, 10);
            if (errno || end == argv[i] || *end || !n) {
                fprintf(stderr, "usage: bench_feat [--hash fnv1a|fx] [N]\n");
                return 2;
            }
        }
    }
    uint64_t s = 7;
    for (size_t i = 0; i < POOL; i++)
        len[i] = make_text(&s, pool[i], TEXT);
    struct feat_vec v;
    feat_vec_init(&v);
    uint64_t sum = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < POOL; i++) {
        if (extract(fx, "What is the total number of apples?", pool[i], len[i], &v))
            return 1;
        sum = vec_sum(sum, &v);
    }
    size_t nnz = 0;
    double t0 = cpu_s();
    for (unsigned long i = 0; i < n; i++) {
        if (extract(fx, "What is the total number of apples?", pool[i % POOL], len[i % POOL], &v))
            return 1;
        nnz += v.n;
    }
    double dt = cpu_s() - t0;
    printf("%.0f texts/s/core (%lu texts, %.1f nonzeros each) checksum %016llx\n", (double)n / dt,
           n, (double)nnz / (double)n, (unsigned long long)sum);
    feat_vec_clear(&v);
    return 0;
}
