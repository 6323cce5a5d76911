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

static int emit(struct line_ctx *c, const char *prompt, const char *chosen, const char *rejected)
{
    struct dataset_pair p = {prompt, chosen, rejected};
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
    rc = emit(c, prompt, ch + co, rj + ro);
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
    return emit(c, p, ch, rj);
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
            rc = emit(c, q, ci, ri);
            if (rc)
                return rc;
        }
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

int dataset_read(FILE *f, enum dataset_format fmt, dataset_pair_cb on_pair,
                 dataset_error_cb on_error, void *cls, struct dataset_stats *stats)
{
    struct dataset_stats local = {0, 0, 0};
    struct line_ctx c = {on_pair, on_error, cls, 0, stats ? stats : &local};
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;

    if (!f || (fmt != DATASET_HH && fmt != DATASET_TRL && fmt != DATASET_GSM8K))
        return -EINVAL;
    *c.st = local;
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
        c.line_no++;
        c.st->lines++;
        if (is_blank(buf, (size_t)n))
            continue;
        if ((size_t)n > DATASET_LINE_MAX) {
            report(&c, "line too long");
            continue;
        }
        rc = handle_line(&c, fmt, buf, (size_t)n);
        if (rc)
            break;
    }
    free(buf);
    return rc;
}

int dataset_split_is_test(const char *prompt)
{
    return feat_fnv1a64(prompt, strlen(prompt)) % 5 == 0;
}
