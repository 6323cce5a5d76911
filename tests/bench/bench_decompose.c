/* bench_decompose - decomposition throughput.
 *
 *   bench_decompose [--kind steps|code|paragraphs|criteria] [--cap N]
 *                   [--seconds S] FILE
 *
 * A FILE ending in .jsonl is read a line at a time: every string under a
 * "solution" key (at the top or one object down, as in GSM8K's
 * model_solutions.jsonl) is one response, decomposed as steps by default.
 * Any other FILE is one response, decomposed as code by default. The whole
 * set is decomposed again until S seconds (default 2) have passed, and one
 * JSON line reports the texts, bytes, segments per pass and MB/s
 * (10^6 bytes of response per second, one thread).
 */
#include "decompose.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_MAX (1024L * 1024 * 1024) /* largest input read */

/* The responses, each a malloc'd copy. */
struct texts {
    char **s;
    size_t *len;
    size_t n, cap, bytes;
};

static int texts_add(struct texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        char **ns = realloc(t->s, ncap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        t->s = ns;
        size_t *nl = realloc(t->len, ncap * sizeof *nl);
        if (!nl)
            return -ENOMEM;
        t->len = nl;
        t->cap = ncap;
    }
    char *c = malloc(len ? len : 1);
    if (!c)
        return -ENOMEM;
    memcpy(c, s, len);
    t->s[t->n] = c;
    t->len[t->n++] = len;
    t->bytes += len;
    return 0;
}

static void texts_free(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->len);
}

/* Adds o["solution"] and o[*]["solution"] when they are strings. */
static int add_solutions(struct texts *t, json_t *o)
{
    const char *key;
    json_t *v;
    json_t *sol = json_object_get(o, "solution");
    if (json_is_string(sol) && texts_add(t, json_string_value(sol), json_string_length(sol)))
        return -ENOMEM;
    json_object_foreach(o, key, v)
    {
        sol = json_object_get(v, "solution");
        if (json_is_string(sol) && texts_add(t, json_string_value(sol), json_string_length(sol)))
            return -ENOMEM;
    }
    return 0;
}

static int read_jsonl(FILE *f, struct texts *t)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while (!rc && (got = getline(&line, &cap, f)) > 0) {
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)got, 0, &err);
        if (!o) {
            fprintf(stderr, "bench_decompose: line %d: %s\n", err.line, err.text);
            rc = -EINVAL;
            break;
        }
        rc = add_solutions(t, o);
        json_decref(o);
    }
    free(line);
    return rc;
}

static int read_whole(FILE *f, struct texts *t)
{
    if (fseek(f, 0, SEEK_END) || ftell(f) < 0 || ftell(f) > FILE_MAX)
        return -EFBIG;
    size_t len = (size_t)ftell(f);
    rewind(f);
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    int rc = fread(buf, 1, len, f) == len ? texts_add(t, buf, len) : -EIO;
    free(buf);
    return rc;
}

static double now_s(void)
{
    return (double)util_mono_us() * 1e-6;
}

/* Decomposes every text once; returns the segments, or -1 on an error. */
static long one_pass(const struct texts *t, enum decompose_kind kind,
                     const struct decompose_opts *o, struct decompose_seg *segs, size_t cap)
{
    long total = 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t n;
        if (decompose(kind, t->s[i], t->len[i], o, segs, cap, &n))
            return -1;
        total += (long)n;
    }
    return total;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_decompose [--kind steps|code|paragraphs|criteria] "
                    "[--cap N] [--seconds S] FILE\n");
    return 2;
}

/* Options: the decomposer and cap, the time to run, and the file. */
struct args {
    const char *file;
    enum decompose_kind kind;
    bool kind_set;
    int64_t cap, seconds;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--kind") == 0 && v) {
            if (decompose_kind_parse(v, &a->kind))
                return -EINVAL;
            a->kind_set = true;
            i++;
        } else if (strcmp(argv[i], "--cap") == 0 && v) {
            if (util_parse_i64(v, 1, 1 << 20, &a->cap))
                return -EINVAL;
            i++;
        } else if (strcmp(argv[i], "--seconds") == 0 && v) {
            if (util_parse_i64(v, 1, 3600, &a->seconds))
                return -EINVAL;
            i++;
        } else if (argv[i][0] != '-' && !a->file) {
            a->file = argv[i];
        } else {
            return -EINVAL;
        }
    }
    return a->file ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
    struct args a = {NULL, DECOMPOSE_CODE, false, DECOMPOSE_MAX_SEGMENTS, 2};
    if (parse_args(argc, argv, &a))
        return usage();
    size_t fl = strlen(a.file);
    bool jsonl = fl > 6 && strcmp(a.file + fl - 6, ".jsonl") == 0;
    if (!a.kind_set)
        a.kind = jsonl ? DECOMPOSE_STEPS : DECOMPOSE_CODE;
    FILE *f = fopen(a.file, "rb");
    if (!f) {
        perror(a.file);
        return 1;
    }
    struct texts t = {NULL, NULL, 0, 0, 0};
    int rc = jsonl ? read_jsonl(f, &t) : read_whole(f, &t);
    fclose(f);
    struct decompose_seg *segs = malloc((size_t)a.cap * sizeof *segs);
    struct decompose_opts o = {.ncriteria = 3};
    long per_pass = rc || !segs ? -1 : one_pass(&t, a.kind, &o, segs, (size_t)a.cap);
    size_t passes = 1;
    double t0 = now_s(), el = 0;
    while (per_pass >= 0 && el < (double)a.seconds) {
        one_pass(&t, a.kind, &o, segs, (size_t)a.cap);
        passes++;
        el = now_s() - t0;
    }
    if (per_pass >= 0) {
        json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:f}", "file", a.file, "kind",
                              decompose_kind_name(a.kind), "texts", (json_int_t)t.n, "bytes",
                              (json_int_t)t.bytes, "segments", (json_int_t)per_pass, "passes",
                              (json_int_t)(passes - 1), "seconds", el, "mb_per_s",
                              (double)t.bytes * (double)(passes - 1) / el / 1e6);
        json_dumpf(r, stdout, JSON_REAL_PRECISION(4));
        putchar('\n');
        json_decref(r);
    } else {
        fprintf(stderr, "bench_decompose: cannot read or decompose %s\n", a.file);
    }
    free(segs);
    texts_free(&t);
    return per_pass >= 0 ? 0 : 1;
}
