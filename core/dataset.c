/* dataset.c - JSONL preference readers (see dataset.h). */
#include "dataset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "feat.h"

static const char HH_MARKER[] = "\n\nAssistant:";
#define HH_MARKER_LEN (sizeof(HH_MARKER) - 1)

int dataset_format_parse(const char *name, enum dataset_format *out)
{
    if (!name || !out)
        return -EINVAL;
    if (!strcmp(name, "hh"))
        *out = DATASET_HH;
    else if (!strcmp(name, "trl"))
        *out = DATASET_TRL;
    else if (!strcmp(name, "gsm8k"))
        *out = DATASET_GSM8K;
    else if (!strcmp(name, "steps"))
        *out = DATASET_STEPS;
    else if (!strcmp(name, "prm800k"))
        *out = DATASET_PRM800K;
    else
        return -EINVAL;
    return 0;
}

/* End offset of the last marker in s[0..limit) that ends at or before limit,
 * or 0 when none. */
static size_t last_marker_end(const char *s, size_t limit)
{
    size_t best = 0;
    const char *p = s;
    while ((p = strstr(p, HH_MARKER)) != NULL) {
        size_t end = (size_t)(p - s) + HH_MARKER_LEN;
        if (end > limit)
            break;
        best = end;
        p += 1;
    }
    return best;
}

static size_t skip_spaces(const char *s, size_t off)
{
    while (s[off] == ' ')
        off++;
    return off;
}

int dataset_hh_split(const char *chosen, const char *rejected, size_t *prompt_len,
                     size_t *chosen_off, size_t *rejected_off)
{
    size_t clen = strlen(chosen);
    size_t end = last_marker_end(chosen, clen);
    if (!end)
        return -EINVAL;
    if (strncmp(chosen, rejected, end) != 0) {
        /* Fall back to the longest common prefix ending at a marker. */
        size_t lcp = 0;
        while (chosen[lcp] && chosen[lcp] == rejected[lcp])
            lcp++;
        end = last_marker_end(chosen, lcp);
        if (!end)
            return -EINVAL;
    }
    *prompt_len = end;
    *chosen_off = skip_spaces(chosen, end);
    *rejected_off = skip_spaces(rejected, end);
    return 0;
}

/* Per-line context: reports the first problem of a line. */
struct line_ctx {
    dataset_pair_cb on_pair;
    dataset_step_cb on_step;
    dataset_error_cb on_error;
    void *cls;
    size_t line_no;
    struct dataset_stats *st;
};

static void report(struct line_ctx *c, const char *msg)
{
    c->st->rejected_lines++;
    if (c->on_error)
        c->on_error(c->cls, c->line_no, msg);
}

static int emit(struct line_ctx *c, const char *prompt, const char *chosen, const char *rejected,
                const char *reference)
{
    struct dataset_pair p = {prompt, chosen, rejected, reference};
    c->st->pairs++;
    return c->on_pair ? c->on_pair(c->cls, &p) : 0;
}

/* The string value of key in o, or NULL when absent or not a string. */
static const char *get_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int line_hh(struct line_ctx *c, json_t *o)
{
    const char *ch = get_str(o, "chosen"), *rj = get_str(o, "rejected");
    size_t plen, co, ro;
    int rc;
    if (!ch || !rj) {
        report(c, "hh: missing string field \"chosen\" or \"rejected\"");
        return 0;
    }
    if (dataset_hh_split(ch, rj, &plen, &co, &ro)) {
        report(c, "hh: no shared prompt ending with \"\\n\\nAssistant:\"");
        return 0;
    }
    char *prompt = malloc(plen + 1);
    if (!prompt)
        return -ENOMEM;
    memcpy(prompt, ch, plen);
    prompt[plen] = '\0';
    rc = emit(c, prompt, ch + co, rj + ro, NULL);
    free(prompt);
    return rc;
}

static int line_trl(struct line_ctx *c, json_t *o)
{
    const char *p = get_str(o, "prompt"), *ch = get_str(o, "chosen"), *rj = get_str(o, "rejected");
    if (!p || !ch || !rj) {
        report(c, "trl: missing string field \"prompt\", \"chosen\" or \"rejected\"");
        return 0;
    }
    return emit(c, p, ch, rj, NULL);
}

/* The solution of a model entry and whether it is correct; 0 or -EINVAL
 * when v is not such an entry. */
static int gsm_entry(json_t *v, const char **sol, int *correct)
{
    json_t *ic = json_object_get(v, "is_correct");
    *sol = get_str(v, "solution");
    if (!json_is_object(v) || !json_is_boolean(ic) || !*sol)
        return -EINVAL;
    *correct = json_is_true(ic);
    return 0;
}

static int line_gsm8k(struct line_ctx *c, json_t *o)
{
    const char *q = get_str(o, "question"), *key, *ci, *ri;
    json_t *vi, *vj;
    int oki, okj, rc = 0;
    if (!q) {
        report(c, "gsm8k: missing string field \"question\"");
        return 0;
    }
    /* Insertion order of the object makes the pair order follow the file. */
    json_object_foreach(o, key, vi)
    {
        if (gsm_entry(vi, &ci, &oki) || !oki)
            continue;
        const char *key2;
        json_object_foreach(o, key2, vj)
        {
            if (gsm_entry(vj, &ri, &okj) || okj)
                continue;
            rc = emit(c, q, ci, ri, get_str(o, "ground_truth"));
            if (rc)
                return rc;
        }
    }
    return rc;
}

/* ---- step verdicts ---- */

/* The context of the next step: the prompt, then each step so far after a
 * newline. */
struct context {
    char *s;
    size_t n, cap;
};

/* Appends sep (when nonzero) and len bytes of t. 0 or -ENOMEM. */
static int context_add(struct context *x, char sep, const char *t, size_t len)
{
    size_t need = x->n + len + 2;
    if (need > x->cap) {
        size_t cap = x->cap ? x->cap : 256;
        while (cap < need)
            cap *= 2;
        char *s = realloc(x->s, cap);
        if (!s)
            return -ENOMEM;
        x->s = s;
        x->cap = cap;
    }
    if (sep)
        x->s[x->n++] = sep;
    memcpy(x->s + x->n, t, len);
    x->n += len;
    x->s[x->n] = '\0';
    return 0;
}

static int emit_step(struct line_ctx *c, const char *prompt, const struct context *x,
                     const char *step, int good)
{
    struct dataset_step s = {prompt, x->s, step, good};
    c->st->steps++;
    return c->on_step ? c->on_step(c->cls, &s) : 0;
}

/* Reads a step's span into [*b, *e): 0, or -EINVAL when it is not two
 * integers with from <= b < e <= len. */
static int step_span(json_t *st, size_t from, size_t len, size_t *b, size_t *e)
{
    json_t *sp = json_object_get(st, "span");
    json_t *b0 = json_array_get(sp, 0), *e0 = json_array_get(sp, 1);
    if (!json_is_array(sp) || json_array_size(sp) != 2 || !json_is_integer(b0) ||
        !json_is_integer(e0))
        return -EINVAL;
    json_int_t bi = json_integer_value(b0), ei = json_integer_value(e0);
    if (bi < (json_int_t)from || ei <= bi || ei > (json_int_t)len)
        return -EINVAL;
    *b = (size_t)bi;
    *e = (size_t)ei;
    return 0;
}

/* Checks a steps line without emitting anything: every span in order and
 * every answer known. */
static const char *steps_invalid(json_t *steps, size_t rlen)
{
    size_t i, from = 0, b, e;
    json_t *st;
    if (!json_is_array(steps))
        return "steps: \"steps\" must be an array";
    json_array_foreach(steps, i, st)
    {
        const char *a = json_string_value(json_object_get(st, "answer"));
        if (step_span(st, from, rlen, &b, &e))
            return "steps: a span is not [start, end] in order within the response";
        if (!a || (strcmp(a, "yes") && strcmp(a, "no") && strcmp(a, "unsure")))
            return "steps: \"answer\" must be yes, no or unsure";
        from = e;
    }
    return NULL;
}

static int line_steps(struct line_ctx *c, json_t *o, struct context *x)
{
    const char *p = get_str(o, "prompt"), *r = get_str(o, "response"), *bad;
    json_t *steps = json_object_get(o, "steps"), *st;
    if (!p || !r) {
        report(c, "steps: missing string field \"prompt\" or \"response\"");
        return 0;
    }
    size_t rlen = strlen(r), i, from = 0, b, e;
    if ((bad = steps_invalid(steps, rlen)) != NULL) {
        report(c, bad);
        return 0;
    }
    int rc = context_add(x, 0, p, strlen(p));
    json_array_foreach(steps, i, st)
    {
        const char *a = json_string_value(json_object_get(st, "answer"));
        step_span(st, from, rlen, &b, &e);
        char *text = strndup(r + b, e - b);
        if (!rc && !text)
            rc = -ENOMEM;
        if (!rc && strcmp(a, "unsure"))
            rc = emit_step(c, p, x, text, !strcmp(a, "yes"));
        if (!rc)
            rc = context_add(x, '\n', r + b, e - b);
        free(text);
        from = e;
    }
    return rc;
}

/* The text that continues a PRM800K solution after step st, or NULL. */
static const char *prm_chosen(json_t *st)
{
    json_t *i = json_object_get(st, "chosen_completion");
    json_t *human = json_object_get(st, "human_completion");
    if (json_is_integer(i))
        return get_str(
            json_array_get(json_object_get(st, "completions"), (size_t)json_integer_value(i)),
            "text");
    return json_is_string(human) ? json_string_value(human) : get_str(human, "text");
}

/* Emits the rated, unflagged completions of one PRM800K step. */
static int prm_step(struct line_ctx *c, const char *p, const struct context *x, json_t *st)
{
    size_t k;
    json_t *comp;
    json_array_foreach(json_object_get(st, "completions"), k, comp)
    {
        const char *t = get_str(comp, "text");
        json_t *rating = json_object_get(comp, "rating");
        if (!t || !json_is_integer(rating) || json_is_true(json_object_get(comp, "flagged")))
            continue;
        int rc = emit_step(c, p, x, t, json_integer_value(rating) >= 0);
        if (rc)
            return rc;
    }
    return 0;
}

static int line_prm800k(struct line_ctx *c, json_t *o, struct context *x)
{
    const char *p = get_str(json_object_get(o, "question"), "problem");
    json_t *steps = json_object_get(json_object_get(o, "label"), "steps"), *st;
    size_t i;
    if (!p || !json_is_array(steps)) {
        report(c, "prm800k: missing \"question\".\"problem\" or \"label\".\"steps\"");
        return 0;
    }
    int rc = context_add(x, 0, p, strlen(p));
    json_array_foreach(steps, i, st)
    {
        const char *next = prm_chosen(st);
        if (!rc)
            rc = prm_step(c, p, x, st);
        if (rc || !next)
            break;
        rc = context_add(x, '\n', next, strlen(next));
    }
    return rc;
}

static int handle_line(struct line_ctx *c, enum dataset_format fmt, const char *buf, size_t len)
{
    json_error_t err;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    int rc = 0;
    if (!o || !json_is_object(o)) {
        report(c, o ? "not a JSON object" : "invalid JSON");
        goto out;
    }
    switch (fmt) {
    case DATASET_HH:
        rc = line_hh(c, o);
        break;
    case DATASET_TRL:
        rc = line_trl(c, o);
        break;
    case DATASET_GSM8K:
        rc = line_gsm8k(c, o);
        break;
    case DATASET_STEPS:
    case DATASET_PRM800K: {
        struct context x = {0};
        rc = fmt == DATASET_STEPS ? line_steps(c, o, &x) : line_prm800k(c, o, &x);
        free(x.s);
        break;
    }
    }
out:
    json_decref(o);
    return rc;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

int dataset_format_is_steps(enum dataset_format fmt)
{
    return fmt == DATASET_STEPS || fmt == DATASET_PRM800K;
}

/* Reads every line of f through handle_line. */
static int read_lines(FILE *f, enum dataset_format fmt, struct line_ctx *c)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&buf, &cap, f);
        if (n < 0) {
            if (ferror(f))
                rc = errno ? -errno : -EIO;
            else if (errno == ENOMEM)
                rc = -ENOMEM;
            break;
        }
        c->line_no++;
        c->st->lines++;
        if (is_blank(buf, (size_t)n))
            continue;
        if ((size_t)n > DATASET_LINE_MAX) {
            report(c, "line too long");
            continue;
        }
        rc = handle_line(c, fmt, buf, (size_t)n);
        if (rc)
            break;
    }
    free(buf);
    return rc;
}

int dataset_read(FILE *f, enum dataset_format fmt, dataset_pair_cb on_pair,
                 dataset_error_cb on_error, void *cls, struct dataset_stats *stats)
{
    struct dataset_stats local = {0};
    struct line_ctx c = {on_pair, NULL, on_error, cls, 0, stats ? stats : &local};
    if (!f || (fmt != DATASET_HH && fmt != DATASET_TRL && fmt != DATASET_GSM8K))
        return -EINVAL;
    *c.st = local;
    return read_lines(f, fmt, &c);
}

int dataset_read_steps(FILE *f, enum dataset_format fmt, dataset_step_cb on_step,
                       dataset_error_cb on_error, void *cls, struct dataset_stats *stats)
{
    struct dataset_stats local = {0};
    struct line_ctx c = {NULL, on_step, on_error, cls, 0, stats ? stats : &local};
    if (!f || !dataset_format_is_steps(fmt))
        return -EINVAL;
    *c.st = local;
    return read_lines(f, fmt, &c);
}

int dataset_split_is_test(const char *prompt)
{
    return feat_fnv1a64(prompt, strlen(prompt)) % 5 == 0;
}
