/* body.h - the rules for request bodies, without HTTP: the items of POST
 * /v1/items and /v1/score (JSON or NDJSON) and the label of POST
 * /v1/tasks/{id}/label. server/ picks the format from Content-Type, calls
 * these, and turns a struct body_error into its JSON error reply; the fuzz
 * targets in tests/fuzz/ call them directly.
 *
 * Bodies are untrusted bytes: they need not be NUL-terminated nor valid
 * UTF-8, and nothing here reads past the length given. Thread-safe.
 */
#ifndef RUNG_BODY_H
#define RUNG_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define BODY_EXTERNAL_ID_MAX 256 /* external_id: bytes */
#define BODY_RATIONALE_MAX 4096  /* a label's rationale: bytes */

/* Why a body was refused: the reply's status, error code and sentence.
 * index and field name the offending item of an invalid_item (index -1
 * otherwise). message may be cut inside a character: sanitise it before it
 * goes into JSON. */
struct body_error {
    unsigned status;  /* 400, 422, or 503 when out of memory */
    const char *code; /* static: "malformed_json", "invalid_item", ... */
    char message[256];
    long long index;
    char field[72];
};

enum body_format { BODY_JSON, BODY_NDJSON };

/* A parsed body of items: root keeps every string alive, objs[i] are
 * borrowed from it (not yet validated). */
struct body_items {
    json_t *root;
    json_t **objs;
    size_t n;
    bool bare; /* a single object was posted: answer a single object */
};

/* Parses body[0..len) as a single item object or {"items": [...]} (JSON),
 * or one value per line (NDJSON; blank lines skipped), into *b: 1 to
 * max_items values. Returns 0, or -EINVAL / -ENOMEM with *err filled and
 * *b empty. */
int body_items_parse(const char *body, size_t len, enum body_format fmt, size_t max_items,
                     struct body_items *b, struct body_error *err);

/* Frees b's values and leaves it empty. */
void body_items_clear(struct body_items *b);

/* Validates item i (the value o) into *it: its strings are borrowed from o;
 * the metadata object, when given, is serialised into *meta (malloc'd, the
 * caller frees it) and it->metadata points there. Returns 0, or -EINVAL
 * with *err an invalid_item naming the field. */
int body_item_validate(json_t *o, size_t i, struct store_item_in *it, char **meta,
                       struct body_error *err);

/* Reads a label object into l's answer, confidence and rationale (strings
 * borrowed from body) and seconds; other fields of l are left alone.
 * Returns 0, or -EINVAL with *err an invalid_label. */
int body_label_parse(json_t *body, struct store_label *l, struct body_error *err);

#endif
