/* The rules for request bodies (core/body.c) without a daemon: items as
 * JSON and NDJSON, item validation, the label body. The API tests check the
 * same refusals as HTTP replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "body.h"

static int parse(const char *s, enum body_format f, size_t cap, struct body_items *b,
                 struct body_error *e)
{
    return body_items_parse(s, strlen(s), f, cap, b, e);
}

static void test_json_bare_list_and_refusals(void **state)
{
    (void)state;
    struct body_items b;
    struct body_error e;
    assert_int_equal(parse("{\"prompt\":\"p\",\"response\":\"r\"}", BODY_JSON, 5, &b, &e), 0);
    assert_true(b.bare);
    assert_int_equal(b.n, 1);
    body_items_clear(&b);
    assert_int_equal(parse("{\"items\":[{},{},{}]}", BODY_JSON, 3, &b, &e), 0);
    assert_false(b.bare);
    assert_int_equal(b.n, 3);
    body_items_clear(&b);

    assert_int_equal(parse("{\"items\":[{},{},{}]}", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "too_many_items");
    assert_int_equal(e.status, 422);
    assert_null(b.root);
    assert_int_equal(parse("", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "empty_body");
    assert_int_equal(e.status, 400);
    assert_int_equal(parse("{\"items\":[]}", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "no_items");
    assert_int_equal(parse("{\"items\":[{}],\"x\":1}", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "invalid_body");
    assert_int_equal(parse("[1]", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "invalid_body");
    assert_int_equal(parse("{\"a\":1,\"a\":2}", BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "malformed_json");
    assert_int_equal(body_items_parse("{\"p\":\"\xc3(\"}", 10, BODY_JSON, 2, &b, &e), -EINVAL);
    assert_string_equal(e.code, "invalid_utf8");
    assert_int_equal(e.index, -1);
}

static void test_ndjson_lines(void **state)
{
    (void)state;
    struct body_items b;
    struct body_error e;
    assert_int_equal(parse("{\"a\":1}\r\n\n  \t\n{\"b\":2}", BODY_NDJSON, 5, &b, &e), 0);
    assert_int_equal(b.n, 2);
    assert_false(b.bare);
    body_items_clear(&b);
    assert_int_equal(parse("{\"a\":1}\n\n{\"b\":\n", BODY_NDJSON, 5, &b, &e), -EINVAL);
    assert_string_equal(e.code, "malformed_json");
    assert_non_null(strstr(e.message, "on line 3"));
    assert_int_equal(parse("\n \n", BODY_NDJSON, 5, &b, &e), -EINVAL);
    assert_string_equal(e.code, "no_items");
}

/* Validates the single item of a JSON body; returns its result. */
static int validate(const char *s, struct store_item_in *it, char **meta, struct body_error *e)
{
    struct body_items b;
    assert_int_equal(parse(s, BODY_JSON, 1, &b, e), 0);
    *meta = NULL;
    int rc = body_item_validate(b.objs[0], 7, it, meta, e);
    body_items_clear(&b);
    return rc;
}

static void test_item_fields(void **state)
{
    (void)state;
    struct store_item_in it;
    struct body_error e;
    char *meta;
    assert_int_equal(validate("{\"prompt\":\"p\",\"responses\":[\"a\",\"b\"],\"priority\":-3,"
                              "\"metadata\":{\"k\":[1,2]}}",
                              &it, &meta, &e),
                     0);
    assert_int_equal(it.priority, -3);
    assert_string_equal(it.metadata, "{\"k\":[1,2]}");
    assert_null(it.group); /* the API gives it its prompt's default group */
    assert_int_equal(it.group_seen, -1);
    free(meta);
    /* The group is borrowed from the body: read it before the body goes. */
    struct body_items b;
    assert_int_equal(
        parse("{\"prompt\":\"p\",\"response\":\"r\",\"group\":\"q7\"}", BODY_JSON, 1, &b, &e), 0);
    assert_int_equal(body_item_validate(b.objs[0], 0, &it, &meta, &e), 0);
    assert_string_equal(it.group, "q7");
    body_items_clear(&b);
    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"prompt\":\"p\"}", "response"},
        {"{\"prompt\":1,\"response\":\"r\"}", "prompt"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"responses\":[\"a\",\"b\"]}", "responses"},
        {"{\"prompt\":\"p\",\"responses\":[\"a\"]}", "responses"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"colour\":1}", "colour"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"batch\":\"\"}", "batch"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"group\":\"\"}", "group"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"group\":3}", "group"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"priority\":1.5}", "priority"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"priority\":1000000001}", "priority"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"metadata\":[]}", "metadata"},
        {"{\"prompt\":\"p\",\"response\":\"r\",\"\":1}", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(validate(bad[i].body, &it, &meta, &e), -EINVAL);
        assert_string_equal(e.code, "invalid_item");
        assert_int_equal(e.status, 422);
        assert_int_equal(e.index, 7);
        assert_string_equal(e.field, bad[i].field);
        free(meta);
    }
}

static int label(const char *s, struct store_label *l, struct body_error *e)
{
    json_t *v = json_loads(s, 0, NULL);
    assert_non_null(v);
    *l = (struct store_label){.seconds = -1};
    int rc = body_label_parse(v, l, e);
    json_decref(v);
    return rc;
}

static void test_label(void **state)
{
    (void)state;
    struct store_label l;
    struct body_error e;
    assert_int_equal(
        label("{\"answer\":\"a\",\"confidence\":5,\"rationale\":\"\",\"seconds\":0}", &l, &e), 0);
    assert_int_equal(l.confidence, 5);
    assert_null(l.rationale); /* empty: none */
    assert_true(l.seconds == 0);
    assert_int_equal(label("{\"answer\":\"unsure\",\"confidence\":null}", &l, &e), 0);
    assert_int_equal(l.confidence, 0);
    assert_true(l.seconds < 0);
    static const char *const bad[] = {"{}",
                                      "{\"answer\":\"maybe\"}",
                                      "{\"answer\":\"a\",\"confidence\":0}",
                                      "{\"answer\":\"a\",\"seconds\":-1}",
                                      "{\"answer\":\"a\",\"seconds\":86401}",
                                      "{\"answer\":\"a\",\"rationale\":3}",
                                      "{\"answer\":\"a\",\"why\":\"x\"}",
                                      "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(label(bad[i], &l, &e), -EINVAL);
        assert_string_equal(e.code, "invalid_label");
        assert_int_equal(e.status, 422);
    }
    char big[BODY_RATIONALE_MAX + 64];
    int n = snprintf(big, sizeof big, "{\"answer\":\"a\",\"rationale\":\"");
    memset(big + n, 'x', BODY_RATIONALE_MAX + 1);
    snprintf(big + n + BODY_RATIONALE_MAX + 1, sizeof big - (size_t)n - BODY_RATIONALE_MAX - 1,
             "\"}");
    assert_int_equal(label(big, &l, &e), -EINVAL);
    big[n + BODY_RATIONALE_MAX] = '"';
    big[n + BODY_RATIONALE_MAX + 1] = '}';
    big[n + BODY_RATIONALE_MAX + 2] = '\0';
    assert_int_equal(label(big, &l, &e), 0); /* exactly the limit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_bare_list_and_refusals),
        cmocka_unit_test(test_ndjson_lines),
        cmocka_unit_test(test_item_fields),
        cmocka_unit_test(test_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
