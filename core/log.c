#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int log_write(FILE *to, json_t *line)
{
    if (!line)
        return -EINVAL;
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(line);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the line end */
    int rc = fwrite(text, 1, len + 1, to) == len + 1 ? 0 : -EIO;
    free(text);
    return rc;
}

/* A new JSON string of s with each byte that is not well-formed UTF-8
 * replaced by '?'; NULL when out of memory. */
static json_t *safe_string(const char *s)
{
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, n + 1);
    util_utf8_sanitize(copy, n);
    json_t *v = json_stringn(copy, n);
    free(copy);
    return v;
}

/* Packs the fields of fmt; on failure (a string that is not UTF-8 is the
 * usual cause) retries with a sanitised message-only line. */
static json_t *pack_fields(const char *fmt, va_list ap)
{
    if (!fmt)
        return json_object();
    json_error_t err;
    json_t *o = json_vpack_ex(&err, 0, fmt, ap);
    if (!o)
        o = json_pack("{s:s}", "fields", "unencodable");
    return o;
}

int log_json(const char *level, const char *msg, const char *fmt, ...)
{
    json_t *line = json_object();
    va_list ap;
    va_start(ap, fmt);
    json_t *fields = pack_fields(fmt, ap);
    va_end(ap);
    if (!line || !fields) {
        json_decref(line);
        json_decref(fields);
        return -ENOMEM;
    }
    json_object_set_new(line, "level", safe_string(level));
    json_object_set_new(line, "msg", safe_string(msg));
    json_object_update(line, fields);
    json_decref(fields);
    return log_write(stderr, line);
}
