/* test_check_answer.c - final answers: formats, normal form, equality. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The answer of s, read from an exact-size heap copy so that a read past
 * the length is caught; the span must hold span_text. */
static struct check_answer answer(const char *s, const char *span_text)
{
    size_t n = strlen(s);
    char *copy = test_malloc(n ? n : 1);
    memcpy(copy, s, n);
    struct check_answer a;
    assert_int_equal(check_answer(copy, n, &a, NULL), 0);
    test_free(copy);
    if (span_text) {
        assert_int_equal(a.len, strlen(span_text));
        assert_memory_equal(s + a.start, span_text, a.len);
    }
    return a;
}

/* Numeric answers: text, the span's text, kind, canon. */
static const struct {
    const char *text, *span;
    enum check_answer_kind kind;
    const char *canon;
} NUMBERS[] = {
    {"She makes $18 a day.\nA: 18", "18", CHECK_ANS_MARKED, "18"},
    {"So 1,000 + 200 = 1,200\n#### 1,200", "1,200", CHECK_ANS_MARKED, "1200"},
    {"The answer is $1,200. Done", "$1,200", CHECK_ANS_MARKED, "1200"},
    {"Thus the answer is: 42 apples!", "42 apples", CHECK_ANS_MARKED, "42"},
    {"so $\\boxed{3/4}$ of it", "3/4", CHECK_ANS_BOXED, "0.75"},
    {"\\boxed{\\frac{3}{4}}", "\\frac{3}{4}", CHECK_ANS_BOXED, "0.75"},
    {"Final Answer: -3 degrees", "-3 degrees", CHECK_ANS_MARKED, "-3"},
    {"He has 5 apples and 7 pears", "7", CHECK_ANS_FALLBACK, "7"},
    {"It went down to -12.", "-12", CHECK_ANS_FALLBACK, "-12"},
    /* The last marker wins; "A:" only counts at a line start. */
    {"A: 5\nno, wait\n  A: 6\nPLAN A: 9 is not an answer", "6", CHECK_ANS_MARKED, "6"},
    /* \boxed wins over markers. */
    {"\\boxed{12}\nA: 13", "12", CHECK_ANS_BOXED, "12"},
    /* Normal form: currency, commas, units, decimals, fractions. */
    {"A: $1,200.00", "$1,200.00", CHECK_ANS_MARKED, "1200"},
    {"A: 18 dollars", "18 dollars", CHECK_ANS_MARKED, "18"},
    {"A: 18.50", "18.50", CHECK_ANS_MARKED, "18.5"},
    {"A: .5", ".5", CHECK_ANS_MARKED, "0.5"},
    {"A: 2 1/2 hours", "2 1/2 hours", CHECK_ANS_MARKED, "2.5"},
    {"A: \xe2\x82\xac"
     "12",
     "\xe2\x82\xac"
     "12",
     CHECK_ANS_MARKED, "12"},
    {"A: \xc2\xa3"
     "3.50",
     "\xc2\xa3"
     "3.50",
     CHECK_ANS_MARKED, "3.5"},
    {"A: $-4", "$-4", CHECK_ANS_MARKED, "-4"},
    {"A: 0.3333333333", "0.3333333333", CHECK_ANS_MARKED, "0.333333"},
};

static void test_numbers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(NUMBERS) / sizeof(NUMBERS[0]); i++) {
        struct check_answer a = answer(NUMBERS[i].text, NUMBERS[i].span);
        assert_int_equal(a.kind, NUMBERS[i].kind);
        assert_true(a.numeric);
        assert_string_equal(a.canon, NUMBERS[i].canon);
    }
}

static void test_other_answers(void **state)
{
    (void)state;
    struct check_answer a = answer("A: 25%", "25%");
    assert_true(a.percent);
    assert_true(a.value == 25);
    /* Text answers: lowercased, blanks collapsed, cut at a UTF-8 boundary. */
    a = answer("Answer:  New   YORK.", "New   YORK");
    assert_false(a.numeric);
    assert_string_equal(a.canon, "new york");
    char accents[3 + 2 * 24 + 4] = "A: ";
    for (size_t i = 0; i < 24; i++)
        memcpy(accents + 3 + 2 * i, "\xc3\xa9", 2);
    memcpy(accents + 3 + 48, "xyz", 4);
    a = answer(accents, NULL);
    assert_int_equal(strlen(a.canon), 46);
    a = answer("", NULL);
    assert_int_equal(a.kind, CHECK_ANS_NONE);
    a = answer("no numbers here", NULL);
    assert_int_equal(a.kind, CHECK_ANS_NONE);
    a = answer("A:\nB", NULL);
    assert_int_equal(a.kind, CHECK_ANS_NONE);
}

static void test_equal(void **state)
{
    (void)state;
    struct check_answer a = answer("\\boxed{3/4}", NULL), b = answer("A: 0.75", NULL);
    struct check_answer c = answer("A: $1,200.00", NULL), d = answer("#### 1200", NULL);
    struct check_answer t = answer("Answer: yes", NULL), u = answer("Answer: YES", NULL);
    struct check_answer none = answer("", NULL);
    assert_true(check_answer_equal(&a, &b));
    assert_true(check_answer_equal(&c, &d));
    assert_false(check_answer_equal(&a, &c));
    assert_true(check_answer_equal(&t, &u));
    assert_false(check_answer_equal(&t, &a));
    assert_false(check_answer_equal(&none, &none));
    assert_false(check_answer_equal(NULL, &a));
}

static void test_result(void **state)
{
    (void)state;
    struct check_result r;
    struct check_answer a;
    const char *s = "so she has 9\nA: 9";
    check_result_init(&r);
    assert_int_equal(check_answer(s, strlen(s), &a, &r), 0);
    assert_true(r.v[CHECK_ANSWER_FOUND] == 1 && r.v[CHECK_ANSWER_FALLBACK] == 0);
    assert_true(r.v[CHECK_ANSWER_NUMERIC] == 1);
    assert_int_equal(r.nf, 1);
    assert_string_equal(r.f[0].checker, "answer");
    assert_string_equal(r.f[0].text, "final answer 9");
    assert_int_equal(r.f[0].start, 16);
    check_result_init(&r);
    assert_int_equal(check_answer("about 4 or 5", 12, &a, &r), 0);
    assert_true(r.v[CHECK_ANSWER_FOUND] == 0 && r.v[CHECK_ANSWER_FALLBACK] == 1);
    assert_string_equal(r.f[0].code, "answer_fallback");
    assert_int_equal(check_answer(NULL, 1, &a, &r), -EINVAL);
    assert_int_equal(check_answer(s, 1, NULL, &r), -EINVAL);
    assert_int_equal(check_answer(NULL, 0, &a, NULL), 0);
    assert_int_equal(a.kind, CHECK_ANS_NONE);
}

/* Random bytes, cut anywhere: never a crash, never a read past the length
 * (the sanitizer build checks), and a span always inside the text. */
static void test_random_bytes(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789.,$%/-+ A:#\\boxed{}frac\n\xc3\xa9\xe2\x82\xac";
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(round % 97);
        char *s = test_malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[i] = alphabet[x % (sizeof(alphabet) - 1)];
        }
        struct check_answer a;
        struct check_result r;
        check_result_init(&r);
        assert_int_equal(check_answer(s, n, &a, &r), 0);
        assert_true(a.start + a.len <= n);
        assert_true(strlen(a.canon) < CHECK_CANON_MAX);
        test_free(s);
    }
}

/* A 200,000-digit number at the end: too long for a value, read once (a
 * rescan from each of its digits would take minutes). */
static void test_long_number(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = test_malloc(n + 3);
    memcpy(s, "A: ", 3);
    memset(s + 3, '3', n);
    struct check_answer a;
    assert_int_equal(check_answer(s, n + 3, &a, NULL), 0);
    assert_int_equal(a.kind, CHECK_ANS_MARKED);
    assert_false(a.numeric);
    assert_int_equal(a.len, 255); /* 256 bytes after "A:", less the blank */
    assert_int_equal(check_answer(s + 3, n, &a, NULL), 0);
    assert_int_equal(a.kind, CHECK_ANS_FALLBACK);
    assert_int_equal(a.len, n);
    assert_false(a.numeric);
    test_free(s);
}

/* Markers at every offset of the 8-byte windows the search reads from the
 * end (the text after the marker grows by a byte each round): the last
 * marker that starts a word is found wherever it sits, with words after it
 * that start as markers do ("the", "a", "at", "to", '#'). One right after
 * a letter or a digit is no marker ("xA:", "zAnswer:", "5The answer
 * is"), nor is "A:" anywhere but at a line start; after '(', a blank or a
 * byte >= 0x80 (0xe1 is 'a' with its high bit) the others are. Without a marker the last number is
 * the answer: here the same one. */
static void test_marker_offsets(void **state)
{
    (void)state;
    static const char *const MARKS[] = {"A: ", "The answer is ", "Answer: ", "#### "};
    static const char *const BEFORE[] = {"", " ", "(", "\xc3\xa9", "\xe1", "x", "z", "5"};
    static const char *const TAIL = " then at the top a tea # to Tt aa";
    char text[256];
    for (size_t m = 0; m < 4; m++)
        for (size_t b = 0; b < 8; b++)
            for (size_t off = 0; off < 24; off++) {
                int n = snprintf(text, sizeof text, "at to a tt#\n%s%s", BEFORE[b], MARKS[m]);
                int e = snprintf(text + n, sizeof text - (size_t)n, "%zu%s", off, TAIL);
                memset(text + n + e, 'q', off);
                text[(size_t)(n + e) + off] = '\0';
                int marked = b < 2 || (b < 5 && m > 0);
                struct check_answer a = answer(text, NULL);
                assert_int_equal(a.kind, marked ? CHECK_ANS_MARKED : CHECK_ANS_FALLBACK);
                assert_int_equal(a.start, (size_t)n);
                assert_true(a.numeric);
                assert_int_equal((size_t)a.value, off);
                if (!marked)
                    assert_int_equal(a.len, (size_t)e - strlen(TAIL));
            }
}

/* head and then off bytes of pad into text (at most 256 bytes); returns
 * head's length. */
static size_t padded(char *text, const char *head, char pad, size_t off)
{
    size_t n = strlen(head);
    assert_true(n + off < 256);
    memcpy(text, head, n);
    memset(text + n, pad, off);
    text[n + off] = '\0';
    return n;
}

/* A marker among the last bytes (read one by one), or one whose text is
 * empty. */
static void test_marker_at_end(void **state)
{
    (void)state;
    char text[256];
    for (size_t off = 0; off < 10; off++) {
        size_t n = padded(text, "zzzzzzzzzzzzzzzz\nA: 7", '\n', off);
        struct check_answer a = answer(text, "7");
        assert_int_equal(a.kind, CHECK_ANS_MARKED);
        assert_int_equal(a.start, 20);
        text[n - 1] = ' '; /* "A: " and nothing: the last number, none */
        a = answer(text, NULL);
        assert_int_equal(a.kind, CHECK_ANS_NONE);
    }
}

/* Two markers in one window or two: the later one is the answer. */
static void test_two_markers(void **state)
{
    (void)state;
    char text[256];
    for (size_t off = 0; off < 24; off++) {
        padded(text, "zzzzzzzzz\nA: 1\nA: 2\n", 'q', off);
        struct check_answer a = answer(text, "2");
        assert_int_equal(a.kind, CHECK_ANS_MARKED);
        assert_int_equal(a.start, 18);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),        cmocka_unit_test(test_other_answers),
        cmocka_unit_test(test_equal),          cmocka_unit_test(test_result),
        cmocka_unit_test(test_random_bytes),   cmocka_unit_test(test_long_number),
        cmocka_unit_test(test_marker_offsets), cmocka_unit_test(test_marker_at_end),
        cmocka_unit_test(test_two_markers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
