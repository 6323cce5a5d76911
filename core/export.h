/* export.h - the export formats, shared by GET /v1/export and rungd export:
 * their names, their filters parsed from text, and one row of the store's
 * export cursor (store_export_next) as one line of JSON.
 *
 * preference: {"prompt", "chosen", "rejected"} (the TRL / DPO convention,
 *             what rungd import --format trl reads) with provenance: "id"
 *             (the comparison), "item_id", "batch", "source", "raters" (key
 *             names), "agreement", "layer_id" (null where unknown).
 * steps:      {"prompt", "response", "steps": [{"span": [start, end],
 *             "answer": "yes"|"no"|"unsure"}], "item_id", "side"}: rung's
 *             step JSONL (what rungd import --format steps reads).
 * items:      {"id", "external_id", "batch", "kind", "domain", "status",
 *             "route", "scores", "verdict", "verdict_source", "confidence",
 *             "layer_id", "gold", "created_ms", "updated_ms"}. */
#ifndef RUNG_EXPORT_H
#define RUNG_EXPORT_H

#include <stddef.h>

#include "store.h"

#define EXPORT_WHY_MAX 160   /* a sentence saying what a filter value must be, bytes */
#define EXPORT_SOURCE_MAX 32 /* bytes of a source name */
#define EXPORT_REAL_DIGITS 6 /* significant digits of agreement and confidence */

/* Parses "preference", "steps" or "items" into *out. 0 or -EINVAL. */
int export_format_parse(const char *name, enum store_export_format *out);

/* The name of a format ("preference", ...). */
const char *export_format_name(enum store_export_format fmt);

/* Sets the filter called name from its text value: "since" (milliseconds
 * since the Unix epoch, 0 or more), "batch" (1 to STORE_LABEL_MAX bytes of
 * UTF-8), "source" (1 to EXPORT_SOURCE_MAX bytes of [a-z_]) or
 * "min_agreement" (a number from 0 to 1). batch and source point into
 * value, which must outlive f. Returns 0, -ENOENT for another name, or
 * -EINVAL with a sentence in why (what the value must be). */
int export_filter_set(struct store_export_filter *f, const char *name, const char *value,
                      char why[EXPORT_WHY_MAX]);

/* Checks that the filters fit the format: min_agreement is known for
 * preference rows only. 0, or -EINVAL with a sentence in why. */
int export_filter_check(enum store_export_format fmt, const struct store_export_filter *f,
                        char why[EXPORT_WHY_MAX]);

/* The row as one line of compact JSON ending in '\n' (malloc'd, the caller
 * frees), *len its length without a NUL. Returns NULL when memory is short
 * or a text is not valid UTF-8. */
char *export_line(enum store_export_format fmt, const struct store_export_row *row, size_t *len);

#endif
