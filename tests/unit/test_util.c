#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <sodium.h>

#include "util.h"

static void utf8_accepts_valid(void **state)
{
    (void)state;
    const char *ok[] = {
        "", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(util_utf8_valid(ok[i], strlen(ok[i])));
}

static void utf8_rejects_invalid(void **state)
{
    (void)state;
    const char *bad[] = {"\xc3",             /* truncated */
                         "\xc0\xaf",         /* overlong '/' */
                         "\xe0\x80\xaf",     /* overlong */
                         "\xed\xa0\x80",     /* surrogate */
                         "\xf4\x90\x80\x80", /* past U+10FFFF */
                         "\xff",
                         "a\x80z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(util_utf8_valid(bad[i], strlen(bad[i])));
}

static void parse_i64_bounds(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(util_parse_i64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_i64("101", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_i64("4x", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_i64("", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_i64("99999999999999999999", 0, INT64_MAX, &v), -EINVAL);
}

static void uuid_shape(void **state)
{
    (void)state;
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    util_uuid(a);
    util_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '7');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    /* Time-ordered: the 48-bit millisecond prefix never goes back. */
    usleep(2000);
    util_uuid(b);
    assert_true(strncmp(a, b, 13) < 0);
}

static int by_random_part(const void *a, const void *b)
{
    return memcmp((const char *)a + 14, (const char *)b + 14, UUID_STR_LEN - 14);
}

/* Ids drawn past the thread's pool of random bytes (1 KB: 102 ids) in the
 * same millisecond never repeat their random part. */
static void uuid_random_parts_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*ids)[UUID_STR_LEN] = calloc(N, UUID_STR_LEN);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        util_uuid(ids[i]);
        assert_int_equal(ids[i][14], '7');
        assert_true(strchr("89ab", ids[i][19]) != NULL);
    }
    qsort(ids, N, UUID_STR_LEN, by_random_part);
    for (int i = 1; i < N; i++)
        assert_true(by_random_part(ids[i - 1], ids[i]) != 0);
    free(ids);
}

static void strlcpy_truncates(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(util_strlcpy(buf, "abc", sizeof buf), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(util_strlcpy(buf, "abcd", sizeof buf), -ENAMETOOLONG);
    assert_string_equal(buf, "abc");
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_accepts_valid), cmocka_unit_test(utf8_rejects_invalid),
        cmocka_unit_test(parse_i64_bounds),   cmocka_unit_test(uuid_shape),
        cmocka_unit_test(strlcpy_truncates),  cmocka_unit_test(uuid_random_parts_distinct),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
