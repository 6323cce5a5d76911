/* export.c - export formats, filters and lines (see export.h). */
#include "export.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const format_names[] = {
    [STORE_EXPORT_PREFERENCE] = "preference",
    [STORE_EXPORT_STEPS] = "steps",
    [STORE_EXPORT_ITEMS] = "items",
};

#define FORMATS (sizeof format_names / sizeof format_names[0])

int export_format_parse(const char *name, enum store_export_format *out)
{
    for (size_t i = 0; name && i < FORMATS; i++) {
        if (!strcmp(name, format_names[i])) {
            *out = (enum store_export_format)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *export_format_name(enum store_export_format fmt)
{
    return (size_t)fmt < FORMATS ? format_names[fmt] : "?";
}

static bool source_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > EXPORT_SOURCE_MAX)
        return false;
    return strspn(v, "abcdefghijklmnopqrstuvwxyz_") == n;
}

/* Parses a whole decimal number in [0, 1]. 0 or -EINVAL. */
static int parse_share(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1)
        return -EINVAL;
    *out = d;
    return 0;
}

int export_filter_set(struct store_export_filter *f, const char *name, const char *value,
                      char why[EXPORT_WHY_MAX])
{
    const char *msg = NULL;
    if (!strcmp(name, "since")) {
        if (util_parse_i64(value, 0, INT64_MAX, &f->since_ms))
            msg = "'since' must be milliseconds since the Unix epoch (an integer, 0 or more).";
    } else if (!strcmp(name, "batch")) {
        size_t n = strlen(value);
        if (n == 0 || n > STORE_LABEL_MAX || !util_utf8_valid(value, n))
            msg = "'batch' must be 1 to 128 bytes of UTF-8.";
        f->batch = value;
    } else if (!strcmp(name, "source")) {
        if (!source_ok(value))
            msg = "'source' must be a source name such as human, layer, aggregate or import.";
        f->source = value;
    } else if (!strcmp(name, "min_agreement")) {
        if (parse_share(value, &f->min_agreement))
            msg = "'min_agreement' must be a number from 0 to 1.";
        f->has_min_agreement = true;
    } else {
        return -ENOENT;
    }
    if (!msg)
        return 0;
    util_strlcpy(why, msg, EXPORT_WHY_MAX);
    return -EINVAL;
}

int export_filter_check(enum store_export_format fmt, const struct store_export_filter *f,
                        char why[EXPORT_WHY_MAX])
{
    if (f->has_min_agreement && fmt != STORE_EXPORT_PREFERENCE) {
        snprintf(why, EXPORT_WHY_MAX,
                 "'min_agreement' applies to format=preference only (raters' agreement is "
                 "kept with comparisons), not to %s.",
                 export_format_name(fmt));
        return -EINVAL;
    }
    return 0;
}

/* The raters' names: the store's JSON array text, [] when none. */
static json_t *raters_json(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_array(v))
        return v;
    json_decref(v);
    return json_array();
}

static json_t *real_or_null(bool has, double v)
{
    return has ? json_real(v) : json_null();
}

static json_t *id_or_null(int64_t id)
{
    return id ? json_integer(id) : json_null();
}

static json_t *preference_json(const struct store_export_row *r)
{
    return json_pack(
        "{s:s,s:s,s:s,s:I,s:s?,s:s?,s:s,s:o,s:o,s:o}", "prompt", r->prompt, "chosen", r->chosen,
        "rejected", r->rejected, "id", (json_int_t)r->id, "item_id", r->item_id, "batch", r->batch,
        "source", r->source, "raters", raters_json(r->raters), "agreement",
        real_or_null(r->has_agreement, r->agreement), "layer_id", id_or_null(r->layer_id));
}

static json_t *steps_json(const struct store_export_row *r)
{
    json_t *steps = json_array();
    for (size_t i = 0; steps && i < r->nsteps; i++) {
        const struct store_export_step *s = &r->steps[i];
        if (json_array_append_new(steps, json_pack("{s:[I,I],s:s}", "span", (json_int_t)s->start,
                                                   (json_int_t)s->end, "answer", s->answer))) {
            json_decref(steps);
            return NULL;
        }
    }
    if (!steps)
        return NULL;
    return json_pack("{s:s,s:s,s:o,s:s?,s:s?}", "prompt", r->prompt, "response", r->response,
                     "steps", steps, "item_id", r->item_id, "side", r->side);
}

/* The item's scores: the stored JSON text, null when none. */
static json_t *scores_json(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : json_null();
}

static json_t *item_json(const struct store_export_row *r)
{
    return json_pack("{s:s,s:s?,s:s?,s:s,s:s?,s:s,s:s?,s:o,s:s?,s:s?,s:o,s:o,s:b,s:I,s:I}", "id",
                     r->item_id, "external_id", r->external_id, "batch", r->batch, "kind", r->kind,
                     "domain", r->domain, "status", r->status, "route", r->route, "scores",
                     scores_json(r->scores), "verdict", r->verdict, "verdict_source", r->source,
                     "confidence", real_or_null(r->has_confidence, r->confidence), "layer_id",
                     id_or_null(r->layer_id), "gold", r->gold, "created_ms",
                     (json_int_t)r->created_ms, "updated_ms", (json_int_t)r->updated_ms);
}

char *export_line(enum store_export_format fmt, const struct store_export_row *row, size_t *len)
{
    json_t *o = fmt == STORE_EXPORT_PREFERENCE ? preference_json(row)
                : fmt == STORE_EXPORT_STEPS    ? steps_json(row)
                                               : item_json(row);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(EXPORT_REAL_DIGITS)) : NULL;
    json_decref(o);
    if (!text)
        return NULL;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
    return line;
}
