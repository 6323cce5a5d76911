/* test_check_form.c - repetition, truncation, balance, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Runs the form checker on an exact-size heap copy of s. */
static void form(const char *s, struct check_result *r)
{
    size_t n = strlen(s);
    char *copy = test_malloc(n ? n : 1);
    memcpy(copy, s, n);
    check_result_init(r);
    assert_int_equal(check_form(copy, n, r), 0);
    test_free(copy);
}

/* The finding with this code, which must exist. */
static const struct check_finding *finding(const struct check_result *r, const char *code)
{
    for (size_t i = 0; i < r->nf; i++)
        if (!strcmp(r->f[i].code, code))
            return &r->f[i];
    fail_msg("no finding %s", code);
    return NULL;
}

static void assert_span(const char *s, const struct check_finding *f, const char *want)
{
    assert_int_equal(f->len, strlen(want));
    assert_memory_equal(s + f->start, want, f->len);
}

static void test_clean(void **state)
{
    (void)state;
    struct check_result r;
    form("She sells 9 eggs (at $2 each) so she makes 9 * 2 = $18 per day\nA: 18", &r);
    assert_true(r.v[CHECK_FORM_REPETITION] == 0);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 0);
    assert_true(r.v[CHECK_FORM_UNBALANCED] == 0);
    assert_true(r.v[CHECK_FORM_REFUSAL] == 0);
    assert_int_equal(r.nf, 0);
    /* List labels and smileys are not brackets; closed fences balance. */
    form("Steps:\n1) add\n  b) sum :)\n```c\nint f(void) { return 0; }\n```\nDone.", &r);
    assert_int_equal(r.nf, 0);
    form("", &r);
    assert_int_equal(r.nf, 0);
}

static void test_repetition(void **state)
{
    (void)state;
    struct check_result r;
    const char *s =
        "Intro. the cat sat on the mat. the cat sat on the mat. the cat sat on the mat.";
    form(s, &r);
    /* 19 words, 16 4-grams: the 9 from the second "the" on repeat. */
    assert_true(r.v[CHECK_FORM_REPETITION] == 9.0 / 16.0);
    const struct check_finding *f = finding(&r, "repetition");
    assert_int_equal(f->verdict, CHECK_FAIL);
    assert_int_equal(f->start, 31);
    assert_int_equal(f->start + f->len, strlen(s));
    form("One two three four five six seven", &r);
    assert_true(r.v[CHECK_FORM_REPETITION] == 0);
}

static void test_truncation(void **state)
{
    (void)state;
    struct check_result r;
    const char *s = "First we add the prices, and then the";
    form(s, &r);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 1);
    assert_span(s, finding(&r, "truncated"), "the");
    s = "So the total is 3 +  \n";
    form(s, &r);
    assert_span(s, finding(&r, "truncated"), "+");
    s = "Here:\n```python\nprint(1)\n";
    form(s, &r);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 1);
    assert_true(r.v[CHECK_FORM_UNBALANCED] == 1);
    assert_span(s, finding(&r, "unbalanced"), "```");
    /* A cut UTF-8 sequence at the very end. */
    form("caf\xc3", &r);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 1);
    form("caf\xc3\xa9", &r);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 0);
    /* GSM8K lines carry no stop: a last letter is no truncation. */
    form("She makes $224 a day at the farmers' market", &r);
    assert_true(r.v[CHECK_FORM_TRUNCATED] == 0);
}

static void test_brackets(void **state)
{
    (void)state;
    struct check_result r;
    const char *s = "f(x) = (a + [b * 2) and more.";
    form(s, &r);
    assert_true(r.v[CHECK_FORM_UNBALANCED] == 1);
    /* Each kind is counted alone: the ')' closes the '(', the '[' stays open. */
    assert_span(s, finding(&r, "unbalanced"), "[");
    assert_int_equal(finding(&r, "unbalanced")->start, 12);
    s = "total) is 4.";
    form(s, &r);
    assert_int_equal(finding(&r, "unbalanced")->start, 5);
}

static void test_refusal(void **state)
{
    (void)state;
    struct check_result r;
    const char *s = "I\xe2\x80\x99m sorry, but I CAN'T help with that. As an AI model, no.";
    form(s, &r);
    assert_true(r.v[CHECK_FORM_REFUSAL] == 3);
    assert_span(s, &r.f[0], "I\xe2\x80\x99m sorry, but");
    assert_span(s, &r.f[1], "I CAN'T");
    assert_span(s, &r.f[2], "As an AI");
    form("As an aide I cannot-ly", &r);
    assert_true(r.v[CHECK_FORM_REFUSAL] == 1);
    form("Hi cannot", &r);
    assert_true(r.v[CHECK_FORM_REFUSAL] == 0);
    assert_int_equal(check_form(NULL, 1, &r), -EINVAL);
    assert_int_equal(check_form("x", 1, NULL), -EINVAL);
}

/* A long repetitive text: bounded table, no leak, a share near 1. */
static void test_long(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = test_malloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = "ab "[i % 3];
    struct check_result r;
    check_result_init(&r);
    assert_int_equal(check_form(s, n, &r), 0);
    assert_true(r.v[CHECK_FORM_REPETITION] > 0.99);
    test_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),      cmocka_unit_test(test_repetition),
        cmocka_unit_test(test_truncation), cmocka_unit_test(test_brackets),
        cmocka_unit_test(test_refusal),    cmocka_unit_test(test_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
