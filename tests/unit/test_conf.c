/* The configuration file's lines (conf.c) and the token bucket of the
 * per-key rate limit (ratelimit.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "ratelimit.h"

struct seen {
    char text[512];      /* "key=value@line;" for each entry */
    const char *stop_at; /* a key whose callback returns 7 */
};

static int record(void *cls, const char *key, const char *value, unsigned line)
{
    struct seen *s = cls;
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%s=%s@%u;", key, value, line);
    return s->stop_at && !strcmp(key, s->stop_at) ? 7 : 0;
}

static int parse(const char *text, struct seen *s, unsigned *bad)
{
    static char buf[512];
    size_t len = strlen(text);
    memcpy(buf, text, len + 1);
    return conf_parse(buf, len, record, s, bad);
}

static void conf_lines(void **state)
{
    (void)state;
    struct seen s = {0};
    unsigned bad = 99;
    assert_int_equal(parse("# comment\n\n max-body = 1048576  # bytes\r\nquiet=true\n"
                           "\t\nlisten = 127.0.0.1:80\n",
                           &s, &bad),
                     0);
    assert_string_equal(s.text, "max-body=1048576@3;quiet=true@4;listen=127.0.0.1:80@6;");
    assert_int_equal(bad, 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(parse("empty =\nlast = x", &s, &bad), 0);
    assert_string_equal(s.text, "empty=@1;last=x@2;");
    /* '#' inside a value is part of it; after a blank it starts a comment. */
    memset(&s, 0, sizeof s);
    assert_int_equal(parse("db = /srv/rung#2/rung.db\nx = a #b#c\n#y = 1\n", &s, &bad), 0);
    assert_string_equal(s.text, "db=/srv/rung#2/rung.db@1;x=a@2;");
}

static void conf_refuses(void **state)
{
    (void)state;
    struct seen s = {0};
    unsigned bad = 0;
    assert_int_equal(parse("a = 1\nno equals sign\n", &s, &bad), -EINVAL);
    assert_int_equal(bad, 2);
    memset(&s, 0, sizeof s);
    assert_int_equal(parse("a = 1\n = 2\n", &s, &bad), -EINVAL);
    assert_int_equal(bad, 2);
    char nul[] = "a = 1\nb = x\0y\n";
    memset(&s, 0, sizeof s);
    assert_int_equal(conf_parse(nul, sizeof nul - 1, record, &s, &bad), -EINVAL);
    assert_int_equal(bad, 2);
    /* The callback's verdict stops the parse and is returned. */
    memset(&s, 0, sizeof s);
    s.stop_at = "b";
    assert_int_equal(parse("a = 1\nb = 2\nc = 3\n", &s, &bad), 7);
    assert_int_equal(bad, 2);
    assert_string_equal(s.text, "a=1@1;b=2@2;");
}

static void conf_bools(void **state)
{
    (void)state;
    assert_int_equal(conf_bool("true"), 1);
    assert_int_equal(conf_bool("YES"), 1);
    assert_int_equal(conf_bool("1"), 1);
    assert_int_equal(conf_bool("off"), 0);
    assert_int_equal(conf_bool("false"), 0);
    assert_int_equal(conf_bool("perhaps"), -EINVAL);
    assert_int_equal(conf_bool(""), -EINVAL);
}

static void bucket_burst_then_rate(void **state)
{
    (void)state;
    struct bucket b = {0};
    unsigned retry = 0;
    uint64_t t = 1000000;
    for (int i = 0; i < 3; i++)
        assert_true(bucket_take(&b, 2.0, 3.0, t, &retry));
    assert_false(bucket_take(&b, 2.0, 3.0, t, &retry));
    assert_int_equal(retry, 1);
    /* Half a second at 2 a second earns one. */
    assert_true(bucket_take(&b, 2.0, 3.0, t + 500000, &retry));
    assert_false(bucket_take(&b, 2.0, 3.0, t + 500000, &retry));
    /* A long pause refills to the burst, never past it. */
    for (int i = 0; i < 3; i++)
        assert_true(bucket_take(&b, 2.0, 3.0, t + 100000000, &retry));
    assert_false(bucket_take(&b, 2.0, 3.0, t + 100000000, &retry));
}

static void bucket_slow_rate_retry(void **state)
{
    (void)state;
    struct bucket b = {0};
    unsigned retry = 0;
    assert_true(bucket_take(&b, 0.1, 1.0, 5, &retry));
    assert_false(bucket_take(&b, 0.1, 1.0, 6, &retry));
    assert_int_equal(retry, 10); /* one a ten seconds */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_lines),
        cmocka_unit_test(conf_refuses),
        cmocka_unit_test(conf_bools),
        cmocka_unit_test(bucket_burst_then_rate),
        cmocka_unit_test(bucket_slow_rate_retry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
