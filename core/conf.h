/* conf.h - the daemon's configuration file: lines of `key = value`, '#'
 * starting a comment, blank lines ignored. Pure: it splits text, the
 * caller decides what each key means. */
#ifndef RUNG_CONF_H
#define RUNG_CONF_H

#include <stddef.h>

/* Called for each setting: key and value are NUL-terminated, trimmed of
 * surrounding blanks, pointing into the parsed text; line counts from 1.
 * Returns 0 to go on, anything else to stop (conf_parse returns it). */
typedef int (*conf_entry_fn)(void *cls, const char *key, const char *value, unsigned line);

/* Parses text (len bytes, modified in place: keys and values are cut out
 * of it, so it must outlive their use). A line without '=' or with an
 * empty key, or a NUL byte, is -EINVAL with *bad_line set. Returns 0, the
 * callback's first non-zero result, or -EINVAL. */
int conf_parse(char *text, size_t len, conf_entry_fn fn, void *cls, unsigned *bad_line);

/* Reads a switch's value: true/yes/on/1 -> 1, false/no/off/0 -> 0, else
 * -EINVAL. */
int conf_bool(const char *value);

#endif
