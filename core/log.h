/* log.h - JSON log lines, built with jansson so that every string is
 * escaped. One line per call, written with one fwrite so that lines from
 * different threads never interleave. */
#ifndef RUNG_LOG_H
#define RUNG_LOG_H

#include <stdio.h>

#include <jansson.h>

/* Writes line (a JSON object, reference stolen; NULL is ignored) as one
 * compact line, non-ASCII escaped, to `to`. Returns 0, -EINVAL for NULL,
 * -ENOMEM when it cannot be encoded, -EIO when the write fails. */
int log_write(FILE *to, json_t *line);

/* Writes {"level": level, "msg": msg, ...} to stderr, where the further
 * fields come from the json_pack format fmt ("{s:i,s:s}" style, an object;
 * NULL for none) and its arguments. Text that is not valid UTF-8 is
 * written with '?' for each bad byte. When the fields cannot be packed, the
 * line still carries level and msg and says "fields": "unencodable".
 * Returns as log_write. */
int log_json(const char *level, const char *msg, const char *fmt, ...);

#endif
