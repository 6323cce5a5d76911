/* The export formats (core/export.c) and the export cursor
 * (core/store_export.c) on a real SQLite file. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "export.h"
#include "fixture.h"
#include "store.h"
#include "token.h"

static void formats_parse_and_name(void **state)
{
    (void)state;
    static const char *const names[] = {"preference", "steps", "items"};
    enum store_export_format f;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        assert_int_equal(export_format_parse(names[i], &f), 0);
        assert_string_equal(export_format_name(f), names[i]);
    }
    assert_int_equal(export_format_parse("csv", &f), -EINVAL);
    assert_int_equal(export_format_parse(NULL, &f), -EINVAL);
}

static void filters_parse_and_refuse(void **state)
{
    (void)state;
    struct store_export_filter f = {0};
    char why[EXPORT_WHY_MAX];
    assert_int_equal(export_filter_set(&f, "since", "1700000000000", why), 0);
    assert_int_equal(f.since_ms, 1700000000000);
    assert_int_equal(export_filter_set(&f, "min_agreement", "0.75", why), 0);
    assert_true(f.has_min_agreement && f.min_agreement == 0.75);
    assert_int_equal(export_filter_set(&f, "source", "human", why), 0);
    assert_string_equal(f.source, "human");
    assert_int_equal(export_filter_set(&f, "batch", "b 1", why), 0);
    const char *bad[][2] = {
        {"since", "-1"},          {"since", "1e3"},         {"since", ""},  {"min_agreement", "2"},
        {"min_agreement", "nan"}, {"source", "Human"},      {"source", ""}, {"batch", ""},
        {"batch", "\xff"},        {"min_agreement", "0.5x"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(export_filter_set(&f, bad[i][0], bad[i][1], why), -EINVAL);
        assert_non_null(strstr(why, bad[i][0]));
    }
    assert_int_equal(export_filter_set(&f, "limit", "5", why), -ENOENT);
    assert_int_equal(export_filter_check(STORE_EXPORT_PREFERENCE, &f, why), 0);
    assert_int_equal(export_filter_check(STORE_EXPORT_ITEMS, &f, why), -EINVAL);
}

static void lines_are_one_json_object_each(void **state)
{
    (void)state;
    struct store_export_row r = {.id = 7,
                                 .prompt = "p \"q\"",
                                 .chosen = "c\nd",
                                 .rejected = "r",
                                 .source = "import",
                                 .raters = "[\"r1\"]",
                                 .has_agreement = true,
                                 .agreement = 2.0 / 3.0};
    size_t len;
    char *line = export_line(STORE_EXPORT_PREFERENCE, &r, &len);
    assert_non_null(line);
    assert_int_equal(len, strlen(line));
    assert_string_equal(line, "{\"prompt\":\"p \\\"q\\\"\",\"chosen\":\"c\\nd\",\"rejected\":\"r\","
                              "\"id\":7,\"item_id\":null,\"batch\":null,\"source\":\"import\","
                              "\"raters\":[\"r1\"],\"agreement\":0.666667,\"layer_id\":null}\n");
    free(line);
    const struct store_export_step steps[] = {{0, 3, "yes"}, {4, 6, "no"}};
    struct store_export_row s = {
        .prompt = "P", .response = "abc de", .item_id = "u", .nsteps = 2, .steps = steps};
    line = export_line(STORE_EXPORT_STEPS, &s, &len);
    assert_string_equal(line,
                        "{\"prompt\":\"P\",\"response\":\"abc de\",\"steps\":[{\"span\":[0,3],"
                        "\"answer\":\"yes\"},{\"span\":[4,6],\"answer\":\"no\"}],"
                        "\"item_id\":\"u\",\"side\":null}\n");
    free(line);
    r.prompt = "bad \xff";
    assert_null(export_line(STORE_EXPORT_PREFERENCE, &r, &len));
}

static int fx_setup(void **state)
{
    struct fixture_db *f = calloc(1, sizeof *f);
    *state = f;
    return f && token_init() == 0 ? fixture_db_open(f, 1) : -1;
}

static int fx_teardown(void **state)
{
    struct fixture_db *f = *state;
    int rc = fixture_db_close(f);
    free(f);
    return rc;
}

/* Counts the rows of an export; the cursor's own checks ride along. */
static int count_rows(struct store *s, const struct store_export_filter *flt, const char *first)
{
    struct store_export *x;
    const struct store_export_row *row;
    assert_int_equal(store_export_open(s, STORE_EXPORT_PREFERENCE, flt, &x), 0);
    int n = 0, rc;
    while ((rc = store_export_next(x, &row)) == 1) {
        if (n++ == 0 && first)
            assert_string_equal(row->prompt, first);
        assert_non_null(row->rejected);
    }
    assert_int_equal(rc, 0);
    store_export_close(x);
    return n;
}

static void cursor_leaves_out_ties_and_points(void **state)
{
    struct fixture_db *f = *state;
    const struct store_comparison c[] = {
        {.prompt = "p1", .chosen = "a", .rejected = "b", .source = "import"},
        {.prompt = "p2", .chosen = "a", .rejected = "b", .tie = true, .source = "human"},
        {.prompt = "p3", .chosen = "a", .label = "good", .source = "human"},
        {.prompt = "p4",
         .chosen = "a",
         .rejected = "b",
         .source = "human",
         .provenance = "{\"raters\":[],\"agreement\":0.5}"},
    };
    assert_int_equal(store_comparisons_add(f->s, c, 4), 0);
    struct store_export_filter all = {0}, human = {.source = "human"};
    assert_int_equal(count_rows(f->s, &all, "p1"), 2);
    assert_int_equal(count_rows(f->s, &human, "p4"), 1);
    struct store_export_filter agreed = {.has_min_agreement = true, .min_agreement = 0.6};
    assert_int_equal(count_rows(f->s, &agreed, NULL), 0);
    agreed.min_agreement = 0.5;
    assert_int_equal(count_rows(f->s, &agreed, "p4"), 1);
    struct store_export_filter later = {.since_ms = INT64_MAX};
    assert_int_equal(count_rows(f->s, &later, NULL), 0);
    struct store_export_filter batch = {.batch = "b1"};
    assert_int_equal(count_rows(f->s, &batch, NULL), 0); /* no item, no batch */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formats_parse_and_name),
        cmocka_unit_test(filters_parse_and_refuse),
        cmocka_unit_test(lines_are_one_json_object_each),
        cmocka_unit_test_setup_teardown(cursor_leaves_out_ties_and_points, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
