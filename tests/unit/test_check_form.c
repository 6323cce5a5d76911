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

/* Texts, one feature's value, and the finding (code, span text) it gives. */
static const struct {
    const char *text;
    enum check_feat feat;
    double want;
    const char *code, *span;
} CASES[] = {
    {"First we add the prices, and then the", CHECK_FORM_TRUNCATED, 1, "truncated", "the"},
    {"So the total is 3 +  \n", CHECK_FORM_TRUNCATED, 1, "truncated", "+"},
    {"Here:\n```python\nprint(1)\n", CHECK_FORM_TRUNCATED, 1, "unbalanced", "```"},
    {"Here:\n```python\nprint(1)\n", CHECK_FORM_UNBALANCED, 1, "truncated", "```python\nprint(1)"},
    /* A cut UTF-8 sequence at the very end. */
    {"caf\xc3", CHECK_FORM_TRUNCATED, 1, NULL, NULL},
    {"caf\xc3\xa9", CHECK_FORM_TRUNCATED, 0, NULL, NULL},
    /* GSM8K lines carry no stop: a last letter is no truncation. */
    {"She makes $224 a day at the farmers' market", CHECK_FORM_TRUNCATED, 0, NULL, NULL},
    /* Each bracket kind is counted alone: the ')' closes the '(', the '['
     * stays open. */
    {"f(x) = (a + [b * 2) and more.", CHECK_FORM_UNBALANCED, 1, "unbalanced", "["},
    {"total) is 4.", CHECK_FORM_UNBALANCED, 1, "unbalanced", ")"},
    {"I\xe2\x80\x99m sorry, but I CAN'T help with that. As an AI model, no.", CHECK_FORM_REFUSAL, 3,
     "refusal", "I\xe2\x80\x99m sorry, but"},
    {"As an aide I cannot-ly", CHECK_FORM_REFUSAL, 1, "refusal", "I cannot"},
    {"Hi cannot", CHECK_FORM_REFUSAL, 0, NULL, NULL},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        struct check_result r;
        const char *s = CASES[i].text;
        form(s, &r);
        assert_true(r.v[CASES[i].feat] == CASES[i].want);
        if (!CASES[i].code)
            continue;
        assert_span(s, finding(&r, CASES[i].code), CASES[i].span);
    }
}

static void test_refusal_spans(void **state)
{
    (void)state;
    struct check_result r;
    const char *s = "I\xe2\x80\x99m sorry, but I CAN'T help. As an AI model, no.";
    form(s, &r);
    assert_int_equal(r.nf, 3);
    assert_span(s, &r.f[0], "I\xe2\x80\x99m sorry, but");
    assert_span(s, &r.f[1], "I CAN'T");
    assert_span(s, &r.f[2], "As an AI");
}

static void test_errors(void **state)
{
    (void)state;
    struct check_result r;
    check_result_init(&r);
    assert_int_equal(check_form(NULL, 1, &r), -EINVAL);
    assert_int_equal(check_form("x", 1, NULL), -EINVAL);
    assert_int_equal(check_form(NULL, 0, &r), 0);
}

/* A flood of refusals: counted in full, findings capped. */
static void test_refusal_flood(void **state)
{
    (void)state;
    size_t n = 100, unit = 10;
    char *s = test_malloc(n * unit);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * unit, "I cannot. ", unit);
    struct check_result r;
    check_result_init(&r);
    assert_int_equal(check_form(s, n * unit, &r), 0);
    assert_true(r.v[CHECK_FORM_REFUSAL] == (double)n);
    assert_int_equal(r.nf, CHECK_FINDINGS_MAX);
    /* Refusals fill the findings; the repetition, a fail, takes the last
     * refusal's place. */
    assert_int_equal(r.dropped, n + 1 - CHECK_FINDINGS_MAX);
    assert_string_equal(r.f[0].code, "refusal");
    assert_string_equal(r.f[CHECK_FINDINGS_MAX - 1].code, "repetition");
    test_free(s);
}

/* The 4-gram table moves from the stack to the heap past ~500 words; the
 * share must not change with it. */
static void test_table_sizes(void **state)
{
    (void)state;
    static const char unit[] = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w0 ";
    size_t reps[] = {10, 200}, u = sizeof(unit) - 1;
    double share[2];
    for (size_t k = 0; k < 2; k++) {
        char *s = test_malloc(reps[k] * u);
        for (size_t i = 0; i < reps[k]; i++)
            memcpy(s + i * u, unit, u);
        struct check_result r;
        check_result_init(&r);
        assert_int_equal(check_form(s, reps[k] * u, &r), 0);
        share[k] = r.v[CHECK_FORM_REPETITION];
        test_free(s);
    }
    /* 10 words a unit: of 10 * reps - 3 grams, the first 10 are new. */
    assert_true(share[0] == 87.0 / 97.0);
    assert_true(share[1] == 1987.0 / 1997.0);
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
        cmocka_unit_test(test_clean),         cmocka_unit_test(test_repetition),
        cmocka_unit_test(test_cases),         cmocka_unit_test(test_refusal_spans),
        cmocka_unit_test(test_long),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_refusal_flood), cmocka_unit_test(test_table_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
