/* jsonfast.h - a fast path in front of jansson's parser for request bodies
 * (issue 14: jansson's lexer spends ~140 instructions a byte, the largest
 * cost of a batch ingest).
 *
 * jsonfast_load parses the common shapes of JSON (objects, arrays, strings
 * with any escapes, integers, true/false/null) into the jansson values
 * json_loadb would build, with JSON_REJECT_DUPLICATES. It never accepts a
 * text jansson refuses, and what it accepts it builds the same way (the
 * same values, the same key order). Anything else - a syntax error, bad
 * UTF-8, a duplicate key, a real number, an integer of more than 18 digits,
 * deep nesting, no memory - makes it return NULL, and the caller parses
 * with json_loadb, which gives the value or its own error message. */
#ifndef RUNG_JSONFAST_H
#define RUNG_JSONFAST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The value of buf[0..len), or NULL: parse it with json_loadb. any: any
 * value at the top (JSON_DECODE_ANY), else an object or an array. */
json_t *jsonfast_load(const char *buf, size_t len, bool any);

#endif
