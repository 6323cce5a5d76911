/* The fast JSON path (core/jsonfast.c) against jansson: whatever it
 * accepts, jansson accepts and builds the same (compared as compact dumps,
 * which keep the key order); what it cannot do (reals, escaped keys,
 * duplicates, bad input) it leaves to jansson; and it accepts the shapes
 * it is there for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonfast.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* 1: the fast path took s and built what jansson builds; 0: it left s to
 * jansson. Fails the test when it took what jansson refuses or built
 * something else. */
static int agrees(const char *s, size_t len, bool any)
{
    json_t *f = jsonfast_load(s, len, any);
    json_error_t je;
    size_t flags = JSON_REJECT_DUPLICATES | (any ? JSON_DECODE_ANY : 0);
    json_t *j = json_loadb(s, len, flags, &je);
    if (!f) {
        json_decref(j);
        return 0;
    }
    if (!j)
        fail_msg("fast path accepted what jansson refuses (%s): %.*s", je.text, (int)len, s);
    char *a = json_dumps(f, DUMP_FLAGS), *b = json_dumps(j, DUMP_FLAGS);
    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(a, b))
        fail_msg("fast %s, jansson %s, input %.*s", a, b, (int)len, s);
    free(a);
    free(b);
    json_decref(f);
    json_decref(j);
    return 1;
}

static int agrees_str(const char *s, bool any)
{
    return agrees(s, strlen(s), any);
}

static void test_taken(void **state)
{
    (void)state;
    const char *const ok[] = {
        "{}",
        "[]",
        " {\"items\": [ {\"prompt\": \"p\", \"response\": \"r\"} ] }\n",
        "{\"a\":\"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\"}",
        "{\"a\":\"\\u00e9\\u20ac\\ud83d\\ude00 \\u0041\"}",
        "{\"a\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"n\":[0,-0,7,-12,123456789012345678,-123456789012345678]}",
        "{\"t\":true,\"f\":false,\"z\":null,\"o\":{\"p\":[[],{}]}}",
        "[\"\xed\x9f\xbf\", \"\xee\x80\x80\", \"\xf4\x8f\xbf\xbf\"]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!agrees_str(ok[i], false))
            fail_msg("fast path left to jansson: %s", ok[i]);
    assert_int_equal(agrees_str("\"s\"", true), 1);
    assert_int_equal(agrees_str("42", true), 1);
}

static void test_left_to_jansson(void **state)
{
    (void)state;
    const char *const no[] = {
        "",
        "   ",
        "\"s\"",
        "42",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":1}x",
        "{\"a\":1,\"a\":2}", /* duplicate: jansson's error */
        "{\"\\u0061\":1}",   /* escaped key */
        "[1.5]",
        "[1e3]",
        "[01]",
        "[-]",                   /* reals, bad numbers */
        "[1234567890123456789]", /* 19 digits */
        "[\"\\u0000\"]",
        "[\"\\ud800\"]",
        "[\"\\udc00\"]",
        "[\"\\ud800\\u0041\"]",
        "[\"\\x\"]",
        "[\"\\u12\"]",
        "[\"a\tb\"]",
        "[\"\xc0\xaf\"]",
        "[\"\xe0\x80\xaf\"]",
        "[\"\xed\xa0\x80\"]",
        "[\"\xf4\x90\x80\x80\"]",
        "[\"\xff\"]",
        "[\"\xc3\"]",
        "[\"open",
        "[tru]",
        "[nul]",
        "[true1]",
        "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (agrees_str(no[i], false))
            fail_msg("fast path took: %s", no[i]);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(agrees(deep, sizeof deep, false), 0);
    /* A NUL byte inside the buffer is not the end. */
    assert_int_equal(agrees("{}\0", 3, false), 0);
    assert_int_equal(agrees("[\"a\0b\"]", 7, false), 0);
}

/* ---- random documents, then the same with their bytes mangled ---- */

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const pieces[] = {
    "a",
    "Z",
    " ",
    "\\n",
    "\\\"",
    "\\\\",
    "\\/",
    "\\t",
    "\\u00e9",
    "\\u20AC",
    "\\ud83d\\ude00",
    "\xc3\xa9",
    "\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "Human: ",
    "\n",
    "\\u0000",
    "\\ud800",
    "\xff",
};

static void gen_string(char *out, size_t *n, size_t cap, bool key)
{
    out[(*n)++] = '"';
    for (unsigned k = rnd(6); k--;) {
        /* keys: plain text; values: anything, the last pieces invalid */
        size_t np = key ? 3 : rnd(8) ? 16 : sizeof pieces / sizeof pieces[0];
        const char *p = key ? (const char *[]){"a", "b", "k"}[rnd(3)] : pieces[rnd((unsigned)np)];
        size_t l = strlen(p);
        if (*n + l + 2 < cap) {
            memcpy(out + *n, p, l);
            *n += l;
        }
    }
    out[(*n)++] = '"';
}

static void gen_value(char *out, size_t *n, size_t cap, int depth)
{
    if (*n + 64 > cap)
        depth = 9;
    unsigned kind = depth > 4 ? 2 + rnd(4) : rnd(6);
    if (kind < 2) {
        out[(*n)++] = kind ? '[' : '{';
        for (unsigned k = rnd(4), first = 1; k--; first = 0) {
            if (!first)
                out[(*n)++] = ',';
            if (!kind) {
                gen_string(out, n, cap, true);
                out[(*n)++] = ':';
            }
            gen_value(out, n, cap, depth + 1);
        }
        out[(*n)++] = kind ? ']' : '}';
    } else if (kind == 2) {
        gen_string(out, n, cap, false);
    } else if (kind == 3) {
        *n += (size_t)snprintf(out + *n, cap - *n, "%d", (int)rnd(200000) - 100000);
    } else {
        const char *w = (const char *[]){"true", "false", "null", " 7 ", "1.5"}[rnd(5)];
        memcpy(out + *n, w, strlen(w));
        *n += strlen(w);
    }
}

static void test_random_documents(void **state)
{
    (void)state;
    char doc[4096];
    size_t taken = 0, mangled_taken = 0;
    for (int i = 0; i < 100000; i++) {
        size_t n = 0;
        doc[n++] = '{';
        gen_string(doc, &n, sizeof doc, true);
        doc[n++] = ':';
        gen_value(doc, &n, sizeof doc, 0);
        doc[n++] = '}';
        taken += (size_t)agrees(doc, n, false);
        /* mangle: flip, drop or insert a byte, or cut the end */
        size_t at = rnd((unsigned)n);
        switch (rnd(4)) {
        case 0:
            doc[at] = (char)"\"\\{}[],:0u \x80\xc3"[rnd(13)];
            break;
        case 1:
            memmove(doc + at, doc + at + 1, n - at - 1);
            n--;
            break;
        case 2:
            memmove(doc + at + 1, doc + at, n - at);
            doc[at] = (char)"\"\\{}[],:0u \x80\xc3"[rnd(13)];
            n++;
            break;
        default:
            n = at;
        }
        mangled_taken += (size_t)agrees(doc, n, rnd(2));
    }
    /* The generator's values are mostly ones the fast path is for. */
    assert_true(taken > 30000);
    assert_true(mangled_taken > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken),
        cmocka_unit_test(test_left_to_jansson),
        cmocka_unit_test(test_random_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
