/* conf.c - `key = value` lines (see conf.h). */
#include "conf.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

/* One line [p, end): 0 (also for a blank or comment line), -EINVAL, or
 * the callback's result. */
static int conf_line(char *p, char *end, unsigned line, conf_entry_fn fn, void *cls)
{
    /* A comment starts with a '#' that begins the line or follows a blank;
     * one inside a value (a path "rung#2") is part of it. */
    for (char *h = p; h < end; h++)
        if (*h == '#' && (h == p || h[-1] == ' ' || h[-1] == '\t')) {
            end = h;
            break;
        }
    char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq) {
        char *rest = trim(p, end);
        return *rest ? -EINVAL : 0;
    }
    char *key = trim(p, eq);
    char *value = trim(eq + 1, end);
    if (!*key)
        return -EINVAL;
    return fn(cls, key, value, line);
}

int conf_parse(char *text, size_t len, conf_entry_fn fn, void *cls, unsigned *bad_line)
{
    char *p = text, *end = text + len;
    unsigned line = 0;
    *bad_line = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        line++;
        int rc = memchr(p, '\0', (size_t)(le - p)) ? -EINVAL : conf_line(p, le, line, fn, cls);
        if (rc) {
            *bad_line = line;
            return rc;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int conf_bool(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcasecmp(v, yes[i]))
            return 1;
        if (!strcasecmp(v, no[i]))
            return 0;
    }
    return -EINVAL;
}
