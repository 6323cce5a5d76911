/* body.c - the rules for request bodies: see body.h. */
#include "body.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "group.h"
#include "limits.h"
#include "rollup.h"
#include "util.h"

static int fail(struct body_error *err, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct body_error *err, unsigned status, const char *code, const char *fmt, ...)
{
    err->status = status;
    err->code = code;
    err->index = -1;
    err->field[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status == 503 ? -ENOMEM : -EINVAL;
}

static int no_memory(struct body_error *err)
{
    return fail(err, 503, "out_of_memory", "The server is out of memory; retry later.");
}

static int json_load_error(struct body_error *err, const json_error_t *je, size_t line_no)
{
    char where[48] = "";
    if (line_no)
        snprintf(where, sizeof where, " on line %zu", line_no);
    if (json_error_code(je) == json_error_invalid_utf8)
        return fail(err, 400, "invalid_utf8", "The body is not valid UTF-8%s.", where);
    if (line_no)
        return fail(err, 400, "malformed_json", "Malformed JSON on line %zu, column %d: %s.",
                    line_no, je->column, je->text);
    return fail(err, 400, "malformed_json", "Malformed JSON at line %d, column %d: %s.", je->line,
                je->column, je->text);
}

void body_items_clear(struct body_items *b)
{
    json_decref(b->root);
    free(b->objs);
    memset(b, 0, sizeof *b);
}

/* Splits an NDJSON body into an array of values. Empty lines are skipped. */
static int parse_ndjson(const char *body, size_t blen, struct body_items *b, struct body_error *err)
{
    b->root = json_array();
    if (!b->root)
        return no_memory(err);
    const char *p = body, *end = body + blen;
    size_t line_no = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line_no++;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        bool blank = true;
        for (size_t i = 0; i < len && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t';
        if (!blank) {
            json_error_t je;
            json_t *v = json_loadb(p, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
            if (!v)
                return json_load_error(err, &je, line_no);
            if (json_array_append_new(b->root, v))
                return no_memory(err);
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Parses a JSON body: *list gets the items array, or stays NULL for a bare
 * item object (b->bare). */
static int parse_json(const char *body, size_t len, struct body_items *b, json_t **list,
                      struct body_error *err)
{
    json_error_t je;
    b->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!b->root) {
        if (len == 0)
            return fail(err, 400, "empty_body", "The request needs a JSON body.");
        return json_load_error(err, &je, 0);
    }
    if (!json_is_object(b->root))
        return fail(err, 422, "invalid_body",
                    "The body must be an item object or {\"items\": [...]}.");
    json_t *items = json_object_get(b->root, "items");
    if (!items) {
        b->bare = true;
        return 0;
    }
    if (!json_is_array(items) || json_object_size(b->root) != 1)
        return fail(err, 422, "invalid_body",
                    "'items' must be an array and the only key of the body.");
    *list = items;
    return 0;
}

static int items_parse(const char *body, size_t len, enum body_format fmt, size_t max_items,
                       struct body_items *b, struct body_error *err)
{
    json_t *list = NULL;
    int rc =
        fmt == BODY_NDJSON ? parse_ndjson(body, len, b, err) : parse_json(body, len, b, &list, err);
    if (rc)
        return rc;
    if (fmt == BODY_NDJSON)
        list = b->root;
    b->n = b->bare ? 1 : json_array_size(list);
    if (b->n == 0)
        return fail(err, 422, "no_items", "The request holds no items.");
    if (b->n > max_items)
        return fail(err, 422, "too_many_items", "The request holds %zu items; the limit is %zu.",
                    b->n, max_items);
    b->objs = calloc(b->n, sizeof *b->objs);
    if (!b->objs)
        return no_memory(err);
    for (size_t i = 0; i < b->n; i++)
        b->objs[i] = b->bare ? b->root : json_array_get(list, i);
    return 0;
}

int body_items_parse(const char *body, size_t len, enum body_format fmt, size_t max_items,
                     struct body_items *b, struct body_error *err)
{
    memset(b, 0, sizeof *b);
    int rc = items_parse(body, len, fmt, max_items, b, err);
    if (rc)
        body_items_clear(b);
    return rc;
}

static int invalid(struct body_error *err, size_t index, const char *field, const char *why)
{
    fail(err, 422, "invalid_item", "Item %zu: '%s' %s.", index, field, why);
    err->index = (long long)index;
    util_strlcpy(err->field, field, sizeof err->field);
    return -EINVAL;
}

static const char *opt_string(json_t *o, const char *key, size_t max, bool *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* Refuses a key that is no field of an item. */
static int known_fields(json_t *o, size_t i, struct body_error *err)
{
    static const char *const known[] = {"prompt",      "response", "responses",
                                        "external_id", "domain",   "metadata",
                                        "priority",    "batch",    "group"};
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0] && !ok; k++)
            ok = !strcmp(key, known[k]);
        if (!ok)
            return invalid(err, i,
                           strlen(key) <= 64 && util_utf8_valid(key, strlen(key)) ? key : "?",
                           "is not a known field");
    }
    return 0;
}

/* The prompt and the response or the pair of responses. */
static int texts(json_t *o, size_t i, struct store_item_in *it, struct body_error *err)
{
    json_t *v = json_object_get(o, "prompt");
    if (!json_is_string(v))
        return invalid(err, i, "prompt", "must be a string");
    it->prompt = json_string_value(v);
    json_t *one = json_object_get(o, "response"), *two = json_object_get(o, "responses");
    if (one && two)
        return invalid(err, i, "responses", "cannot be given together with 'response'");
    if (one) {
        if (!json_is_string(one))
            return invalid(err, i, "response", "must be a string");
        it->response_a = json_string_value(one);
    } else if (two) {
        if (!json_is_array(two) || json_array_size(two) != 2 ||
            !json_is_string(json_array_get(two, 0)) || !json_is_string(json_array_get(two, 1)))
            return invalid(err, i, "responses", "must be an array of exactly two strings");
        it->response_a = json_string_value(json_array_get(two, 0));
        it->response_b = json_string_value(json_array_get(two, 1));
    } else {
        return invalid(err, i, "response", "is required (or 'responses' for a pair)");
    }
    return 0;
}

int body_item_validate(json_t *o, size_t i, struct store_item_in *it, char **meta,
                       struct body_error *err)
{
    if (!json_is_object(o))
        return invalid(err, i, "item", "must be a JSON object");
    memset(it, 0, sizeof *it);
    if (known_fields(o, i, err) || texts(o, i, it, err))
        return -EINVAL;
    /* jansson keeps \u0000 out (we never pass JSON_ALLOW_NUL), so these
     * strings are safe as C strings. */
    bool bad = false;
    it->external_id = opt_string(o, "external_id", BODY_EXTERNAL_ID_MAX, &bad);
    if (bad)
        return invalid(err, i, "external_id", "must be a non-empty string of at most 256 bytes");
    it->domain = opt_string(o, "domain", STORE_LABEL_MAX, &bad);
    if (bad)
        return invalid(err, i, "domain", "must be a non-empty string of at most 128 bytes");
    it->batch = opt_string(o, "batch", STORE_LABEL_MAX, &bad);
    if (bad)
        return invalid(err, i, "batch", "must be a non-empty string of at most 128 bytes");
    it->group = opt_string(o, "group", GROUP_NAME_MAX, &bad);
    if (bad)
        return invalid(err, i, "group", "must be a non-empty string of at most 128 bytes");
    it->group_seen = -1; /* not scored with its group (yet) */
    json_t *v = json_object_get(o, "priority");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < -1000000000 ||
            json_integer_value(v) > 1000000000)
            return invalid(err, i, "priority", "must be an integer between -1e9 and 1e9");
        it->priority = json_integer_value(v);
    }
    v = json_object_get(o, "metadata");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            return invalid(err, i, "metadata", "must be a JSON object");
        *meta = json_dumps(v, JSON_COMPACT);
        if (!*meta)
            return invalid(err, i, "metadata", "could not be stored");
        it->metadata = *meta;
    }
    return 0;
}

static int bad_label(struct body_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad_label(struct body_error *err, const char *fmt, ...)
{
    err->status = 422;
    err->code = "invalid_label";
    err->index = -1;
    err->field[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool label_field(const char *key)
{
    return !strcmp(key, "answer") || !strcmp(key, "confidence") || !strcmp(key, "rationale") ||
           !strcmp(key, "seconds");
}

int body_label_parse(json_t *body, struct store_label *l, struct body_error *err)
{
    if (!json_is_object(body))
        return bad_label(err, "The body must be a JSON object.");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (!label_field(key))
            return bad_label(err, "'%.64s' is not a field of a label.", key);
    }
    v = json_object_get(body, "answer");
    l->answer = json_string_value(v);
    if (!l->answer ||
        !(aggregate_answer_fits("pair", l->answer) || aggregate_answer_fits("single", l->answer) ||
          rollup_answer_fits(l->answer)))
        return bad_label(err, "'answer' must be one of \"a\", \"b\", \"tie\", \"good\", \"bad\", "
                              "\"yes\", \"no\", \"unsure\".");
    v = json_object_get(body, "confidence");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 5)
            return bad_label(err, "'confidence' must be an integer from 1 to 5.");
        l->confidence = (int)json_integer_value(v);
    }
    v = json_object_get(body, "rationale");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) > BODY_RATIONALE_MAX)
            return bad_label(err, "'rationale' must be a string of at most %d bytes.",
                             BODY_RATIONALE_MAX);
        l->rationale = json_string_length(v) ? json_string_value(v) : NULL;
    }
    v = json_object_get(body, "seconds");
    if (v && !json_is_null(v)) {
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            json_number_value(v) > LABEL_SECONDS_MAX)
            return bad_label(err, "'seconds' must be a number from 0 to %d.", LABEL_SECONDS_MAX);
        l->seconds = json_number_value(v);
    }
    return 0;
}
