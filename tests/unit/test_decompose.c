/* test_decompose.c - steps, code, paragraphs and criteria decomposers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decompose.h"
#include "util.h"

#define CAP 64
#define BIG_CAP 4096

static bool ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Does offset p split a well-formed UTF-8 sequence of s[0..len)? Brute
 * force: from each lead byte in the 3 bytes before p, the shortest valid
 * window of 2..4 bytes is one character; it must not reach past p. */
static bool splits_char(const char *s, size_t len, size_t p)
{
    for (size_t q = p >= 3 ? p - 3 : 0; q < p; q++) {
        if ((unsigned char)s[q] < 0xc0)
            continue;
        for (size_t w = 2; w <= 4 && q + w <= len; w++)
            if (util_utf8_valid(s + q, w)) {
                if (q + w > p)
                    return true;
                break;
            }
    }
    return false;
}

/* The contract of decompose.h: valid, ordered, trimmed spans, whitespace
 * only between them, no boundary inside a character. */
static void assert_exhaustive(const char *text, size_t len, const struct decompose_seg *segs,
                              size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t covered = 0; /* end of the previous span */
    for (size_t i = 0; i < n; i++) {
        assert_true(segs[i].start < segs[i].end);
        assert_true(segs[i].end <= len);
        assert_true(segs[i].start >= covered);
        for (size_t p = covered; p < segs[i].start; p++)
            assert_true(ws(s[p]));
        assert_false(ws(s[segs[i].start]));
        assert_false(ws(s[segs[i].end - 1]));
        assert_false(splits_char(text, len, segs[i].start));
        assert_false(splits_char(text, len, segs[i].end));
        covered = segs[i].end;
    }
    for (size_t p = covered; p < len; p++)
        assert_true(ws(s[p]));
}

/* Decomposes NUL-terminated text and checks the contract. */
static size_t run(enum decompose_kind k, const char *text, struct decompose_seg *segs, size_t cap)
{
    size_t n = 99;
    assert_int_equal(decompose(k, text, strlen(text), NULL, segs, cap, &n), 0);
    assert_true(n <= cap);
    assert_exhaustive(text, strlen(text), segs, n);
    return n;
}

static void assert_seg(const char *text, const struct decompose_seg *g, const char *want)
{
    size_t wl = strlen(want);
    if (g->end - g->start != wl || memcmp(text + g->start, want, wl) != 0)
        fail_msg("segment [%zu,%zu) is \"%.*s\", want \"%s\"", g->start, g->end,
                 (int)(g->end - g->start), text + g->start, want);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const names[] = {"none", "steps", "code", "paragraphs", "criteria"};
    for (size_t i = 0; i < 5; i++) {
        enum decompose_kind k = DECOMPOSE_NONE;
        assert_int_equal(decompose_kind_parse(names[i], &k), 0);
        assert_string_equal(decompose_kind_name(k), names[i]);
    }
    enum decompose_kind k = DECOMPOSE_CODE;
    assert_int_equal(decompose_kind_parse("Steps", &k), -EINVAL);
    assert_int_equal(decompose_kind_parse("", &k), -EINVAL);
    assert_int_equal(decompose_kind_parse(NULL, &k), -EINVAL);
    assert_int_equal(k, DECOMPOSE_CODE);
    assert_null(decompose_kind_name((enum decompose_kind)99));
    assert_string_equal(decompose_seg_kind_name(DECOMPOSE_SEG_STEP), "step");
    assert_string_equal(decompose_seg_kind_name(DECOMPOSE_SEG_CODE), "code");
    assert_string_equal(decompose_seg_kind_name(DECOMPOSE_SEG_PARAGRAPH), "paragraph");
    assert_string_equal(decompose_seg_kind_name(DECOMPOSE_SEG_CRITERION), "criterion");
    assert_null(decompose_seg_kind_name((enum decompose_seg_kind)4));
}

static void check_question(enum decompose_seg_kind k, const char *crit, const char *want)
{
    char *q = decompose_question(k, crit);
    if (!want) {
        assert_null(q);
        return;
    }
    assert_non_null(q);
    assert_string_equal(q, want);
    free(q); /* allocated by the library with malloc */
}

static void test_questions(void **state)
{
    (void)state;
    check_question(DECOMPOSE_SEG_STEP, NULL,
                   "Is this step correct, given the question and the steps before it?");
    check_question(DECOMPOSE_SEG_CODE, "ignored",
                   "Is this code unit correct, given the task and the code before it?");
    check_question(DECOMPOSE_SEG_PARAGRAPH, NULL,
                   "Is this paragraph correct and appropriate, given the prompt and what comes "
                   "before it?");
    check_question(DECOMPOSE_SEG_CRITERION, "cites its sources",
                   "Does the response satisfy: cites its sources?");
    check_question(DECOMPOSE_SEG_CRITERION, "  Is it polite? \n",
                   "Does the response satisfy: Is it polite?");
    check_question(DECOMPOSE_SEG_CRITERION, "No harm done.",
                   "Does the response satisfy: No harm done?");
    check_question(DECOMPOSE_SEG_CRITERION, " ?. ", NULL);
    check_question(DECOMPOSE_SEG_CRITERION, NULL, NULL);
    check_question((enum decompose_seg_kind)7, "x", NULL);
    size_t big = DECOMPOSE_QUESTION_MAX + 1;
    char *huge = test_malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = '\0';
    check_question(DECOMPOSE_SEG_CRITERION, huge, NULL);
    huge[big - 1] = '\0';
    char *q = decompose_question(DECOMPOSE_SEG_CRITERION, huge);
    assert_non_null(q);
    assert_int_equal(strlen(q), strlen("Does the response satisfy: ?") + big - 1);
    free(q);
    test_free(huge);
}

static void test_is_hard(void **state)
{
    (void)state;
    const char *t = "  one two\tthree\n four ";
    assert_true(decompose_is_hard(t, strlen(t), 0));
    assert_true(decompose_is_hard(t, strlen(t), 3));
    assert_false(decompose_is_hard(t, strlen(t), 4));
    assert_false(decompose_is_hard(" \n\t ", 4, 0));
    assert_false(decompose_is_hard("", 0, 0));
    assert_false(decompose_is_hard(NULL, 5, 0));
    assert_true(decompose_is_hard("x", 1, 0));
    assert_false(decompose_is_hard("xyz abc", 3, 1)); /* the length bounds the read */
}

static void test_bad_args(void **state)
{
    (void)state;
    struct decompose_seg segs[4];
    size_t n = 7;
    struct decompose_opts o = {.max_seg_bytes = DECOMPOSE_MIN_SEG_BYTES - 1};
    assert_int_equal(decompose(DECOMPOSE_STEPS, "a", 1, NULL, NULL, 4, &n), -EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(decompose(DECOMPOSE_STEPS, "a", 1, NULL, segs, 4, NULL), -EINVAL);
    assert_int_equal(decompose(DECOMPOSE_STEPS, "a", 1, NULL, segs, 0, &n), -EINVAL);
    assert_int_equal(decompose(DECOMPOSE_STEPS, NULL, 1, NULL, segs, 4, &n), -EINVAL);
    assert_int_equal(decompose((enum decompose_kind)9, "a", 1, NULL, segs, 4, &n), -EINVAL);
    assert_int_equal(decompose(DECOMPOSE_STEPS, "a", 1, &o, segs, 4, &n), -EINVAL);
    o = (struct decompose_opts){.ncriteria = 5};
    assert_int_equal(decompose(DECOMPOSE_CRITERIA, "a", 1, &o, segs, 4, &n), -E2BIG);
    assert_int_equal(decompose(DECOMPOSE_STEPS, NULL, 0, NULL, segs, 4, &n), 0);
    assert_int_equal(n, 0);
}

/* Every model solution and reference of the GSM8K fixture: each non-empty
 * line is one step, and a final "A:" line a final-answer step. Returns 1
 * when the text ends with such a line. */
static int check_gsm8k_solution(const char *sol, size_t *steps)
{
    struct decompose_seg segs[CAP];
    size_t n = run(DECOMPOSE_STEPS, sol, segs, CAP), lines = 0;
    for (const char *p = sol; *p;) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        size_t a = 0;
        while (a < l && ws((unsigned char)p[a]))
            a++;
        if (a < l) {
            assert_true(lines < n);
            assert_int_equal(segs[lines].start, (size_t)(p - sol) + a);
            assert_int_equal(segs[lines].kind, DECOMPOSE_SEG_STEP);
            lines++;
        }
        p += l + (nl != NULL);
    }
    assert_int_equal(n, lines);
    assert_true(n >= 1);
    *steps += n;
    bool answer = memcmp(sol + segs[n - 1].start, "A:", 2) == 0;
    assert_int_equal(segs[n - 1].final_answer, answer);
    return answer;
}

static void test_gsm8k_fixture(void **state)
{
    (void)state;
    static const char *const keys[] = {"ground_truth", "6b_finetuning", "6b_verification",
                                       "175b_finetuning", "175b_verification"};
    FILE *f = fopen(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, texts = 0, answered = 0, steps = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        for (size_t k = 0; k < 5; k++) {
            json_t *v = json_object_get(o, keys[k]);
            json_t *sol = k ? json_object_get(v, "solution") : v;
            assert_true(json_is_string(sol));
            answered += (size_t)check_gsm8k_solution(json_string_value(sol), &steps);
            texts++;
        }
        json_decref(o);
    }
    free(line); /* from getline */
    fclose(f);
    assert_int_equal(texts, 165 * 5);
    /* One 175B solution is a run of 1,571 "3"s with no answer line. */
    assert_int_equal(answered, texts - 1);
    assert_true(steps > texts * 3);
}

static void test_steps_listed(void **state)
{
    (void)state;
    struct decompose_seg g[CAP];
    const char *t = "Let's go.\n\n1. First, x = 2.\n   So 2x = 4.\n2) Second\n"
                    "Step 3: third\n  still third\n- bullet\n  more bullet\n* star\n"
                    "+ plus\n\xe2\x80\xa2 dot\n## Heading\n  under it\n"
                    "not indented\n   indented but after a plain line\n"
                    "3. after\n\n   blank line ended it\nThe answer is 18.\n";
    size_t n = run(DECOMPOSE_STEPS, t, g, CAP);
    static const char *const want[] = {"Let's go.",
                                       "1. First, x = 2.\n   So 2x = 4.",
                                       "2) Second",
                                       "Step 3: third\n  still third",
                                       "- bullet\n  more bullet",
                                       "* star",
                                       "+ plus",
                                       "\xe2\x80\xa2 dot",
                                       "## Heading\n  under it",
                                       "not indented",
                                       "indented but after a plain line",
                                       "3. after",
                                       "blank line ended it",
                                       "The answer is 18."};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++) {
        assert_seg(t, &g[i], want[i]);
        assert_int_equal(g[i].final_answer, i == n - 1);
    }
}

static void test_final_answers(void **state)
{
    (void)state;
    static const char *const yes[] = {"#### 18",
                                      "The answer is 18.",
                                      "the answer is: 18",
                                      "So, the final answer is 18",
                                      "Thus the answer is 18",
                                      "Therefore $\\boxed{18}$ eggs.",
                                      "A: 18",
                                      "**Answer:** 18",
                                      "Final answer: 18",
                                      "####"};
    static const char *const no[] = {"The answer isn't obvious",
                                     "Answer the question",
                                     "##### 18",
                                     "A 18",
                                     "a: 18",
                                     "Soon the answer is 3",
                                     "Boxed 18",
                                     "The answers is 2"};
    struct decompose_seg g[CAP];
    char buf[256];
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        snprintf(buf, sizeof buf, "x = 18\n  %s  \n", yes[i]);
        assert_int_equal(run(DECOMPOSE_STEPS, buf, g, CAP), 2);
        assert_seg(buf, &g[1], yes[i]);
        assert_false(g[0].final_answer);
        assert_true(g[1].final_answer);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        snprintf(buf, sizeof buf, "x = 18\n%s\n", no[i]);
        assert_int_equal(run(DECOMPOSE_STEPS, buf, g, CAP), 2);
        assert_false(g[1].final_answer);
    }
    /* A fenced block is one step, or part of the listed step it is
     * indented under; an answer line inside it is code, not the answer. */
    const char *fenced = "Compute:\n```python\nx = 2\n\nA: 1\n```\n1. Then\n   ~~~\n"
                         "   y = 3\n\n   ~~~\n   so y = 3\n2. Next\nA: 5";
    static const char *const wf[] = {"Compute:", "```python\nx = 2\n\nA: 1\n```",
                                     "1. Then\n   ~~~\n   y = 3\n\n   ~~~\n   so y = 3", "2. Next",
                                     "A: 5"};
    assert_int_equal(run(DECOMPOSE_STEPS, fenced, g, CAP), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_seg(fenced, &g[i], wf[i]);
        assert_int_equal(g[i].final_answer, i == 4);
    }
    /* A step past long_paragraph bytes is cut into sentences; the last one
     * here is the final answer. */
    const char *one = "Janet sells 16 - 3 - 4 = 9 eggs. She makes 9 * 2 = 18 dollars. So the "
                      "answer is 18.\nDone";
    struct decompose_opts o = {.long_paragraph = 40};
    size_t n = 0;
    assert_int_equal(decompose(DECOMPOSE_STEPS, one, strlen(one), &o, g, CAP, &n), 0);
    assert_exhaustive(one, strlen(one), g, n);
    static const char *const w1[] = {"Janet sells 16 - 3 - 4 = 9 eggs.",
                                     "She makes 9 * 2 = 18 dollars.", "So the answer is 18.",
                                     "Done"};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_seg(one, &g[i], w1[i]);
        assert_int_equal(g[i].final_answer, i == 2);
    }
    /* A final answer never continues a listed step, and ends it. */
    const char *t = "1. x = 18\n   #### 18\n   after\n";
    assert_int_equal(run(DECOMPOSE_STEPS, t, g, CAP), 3);
    assert_seg(t, &g[1], "#### 18");
    assert_true(g[1].final_answer);
    assert_seg(t, &g[2], "after");
}

/* Kind and text of each segment, in order. */
struct want {
    enum decompose_seg_kind kind;
    const char *text;
};

static void check_segs(enum decompose_kind k, const char *t, const struct want *w, size_t nw)
{
    struct decompose_seg g[CAP];
    size_t n = run(k, t, g, CAP);
    for (size_t i = 0; i < n && i < nw; i++) {
        assert_seg(t, &g[i], w[i].text);
        assert_int_equal(g[i].kind, w[i].kind);
        assert_false(g[i].final_answer);
    }
    assert_int_equal(n, nw);
}

/* check_segs with the wanted segments written in place. */
#define CHECK_SEGS(kind, text, ...)                                                                \
    do {                                                                                           \
        const struct want want_[] = {__VA_ARGS__};                                                 \
        check_segs(kind, text, want_, sizeof want_ / sizeof want_[0]);                             \
    } while (0)

#define C DECOMPOSE_SEG_CODE
#define P DECOMPOSE_SEG_PARAGRAPH

static void test_code_fenced(void **state)
{
    (void)state;
    const char *t = "Here is the code:\n\n```c\n#include <stdio.h>\n\n"
                    "static int add(int a, int b)\n{\n    /* { not counted */\n"
                    "    return a + b; // }\n}\nint main(void) {\n    puts(\"}\");\n"
                    "    char c = '{';\n\n    return add(1, 2);\n}\n```\n\nAnd in Python:\n"
                    "  ~~~~python\n  @cache\n  def f(x):\n      \"\"\"Returns (x.\"\"\"\n"
                    "      return x\n\n  class A:\n      pass\n  if True:\n      f(1)\n"
                    "  else:\n      f(2)\n  ~~~~\nDone.";
    CHECK_SEGS(
        DECOMPOSE_CODE, t, {P, "Here is the code:"}, {C, "```c\n#include <stdio.h>"},
        {C, "static int add(int a, int b)\n{\n    /* { not counted */\n    return a + b; // }\n}"},
        {C,
         "int main(void) {\n    puts(\"}\");\n    char c = '{';\n\n    return add(1, 2);\n}\n```"},
        {P, "And in Python:"},
        {C, "~~~~python\n  @cache\n  def f(x):\n      \"\"\"Returns (x.\"\"\"\n      return x"},
        {C, "class A:\n      pass"}, {C, "if True:\n      f(1)\n  else:\n      f(2)\n  ~~~~"},
        {P, "Done."});
}

static void test_code_bare(void **state)
{
    (void)state;
    /* No fence anywhere: all code. JS by brace depth, one-liners kept together. */
    const char *js = "const a = 1;\nconst b = 2;\nfunction f(x) {\n  if (x) {\n    return 1;\n"
                     "  }\n  return [\n    x,\n  ];\n}\nconst g = () => {\n  return 3;\n};\n"
                     "g();";
    CHECK_SEGS(DECOMPOSE_CODE, js,
               {C, "const a = 1;\nconst b = 2;\nfunction f(x) {\n  if (x) {\n    return 1;\n  }\n"
                   "  return [\n    x,\n  ];\n}"},
               {C, "const g = () => {\n  return 3;\n};"}, {C, "g();"});
    /* Python by indentation; a bracket spanning lines stays in its unit. */
    const char *py = "import os\nx = [\n    1,\n]\ndef f():\n    return 1\ndef g(a,\n      b):\n"
                     "    try:\n        pass\n    except OSError:\n        pass\n# it's done\n"
                     "print(f())";
    CHECK_SEGS(
        DECOMPOSE_CODE, py, {C, "import os\nx = [\n    1,\n]"}, {C, "def f():\n    return 1"},
        {C, "def g(a,\n      b):\n    try:\n        pass\n    except OSError:\n        pass"},
        {C, "# it's done\nprint(f())"});
    /* Python (a "def ...:" line): // divides and # comments; a quoted
     * bracket is not counted; a ~~~ indented past 3 bytes is no fence. */
    const char *py2 = "def half(n):\n    return [n // 2, '(%s' % n]  # (\n\ndef f():\n"
                      "    s = '''\n    ~~~\n    '''\n    return s\nx = (1)";
    CHECK_SEGS(DECOMPOSE_CODE, py2, {C, "def half(n):\n    return [n // 2, '(%s' % n]  # ("},
               {C, "def f():\n    s = '''\n    ~~~\n    '''\n    return s"}, {C, "x = (1)"});
    /* Not Python: // comments, apostrophes are no quotes. */
    const char *c = "int f(void) { // it's (\n    return 1;\n}\nint g;";
    CHECK_SEGS(DECOMPOSE_CODE, c, {C, "int f(void) { // it's (\n    return 1;\n}"}, {C, "int g;"});
}

static void test_code_fence_edges(void **state)
{
    (void)state;
    /* "```inner" has an info string, so it cannot close; the bare fence does.
     * A longer fence is closed only by one at least as long. The last fence
     * never closes: it runs to the end. */
    const char *t = "intro\n```\na = 1\n```inner\nb = 2\n```\nmid\n````md\n```\nx\n```\n````\n"
                    "tail\n```\nunclosed {\n\nstill(\n";
    CHECK_SEGS(DECOMPOSE_CODE, t, {P, "intro"}, {C, "```\na = 1\n```inner\nb = 2\n```"}, {P, "mid"},
               {C, "````md\n```\nx\n```\n````"}, {P, "tail"}, {C, "```\nunclosed {\n\nstill("});
    /* An empty block, and a fence followed by a blank line. */
    const char *e = "```\n```\n```py\n\nx = 1\n```";
    CHECK_SEGS(DECOMPOSE_CODE, e, {C, "```\n```"}, {C, "```py\n\nx = 1\n```"});
}

static void test_paragraphs(void **state)
{
    (void)state;
    const char *t = "First paragraph,\nstill first.\n\n \t\nSecond one.\r\n\r\nThird.";
    CHECK_SEGS(DECOMPOSE_PARAGRAPHS, t, {P, "First paragraph,\nstill first."}, {P, "Second one."},
               {P, "Third."});

    /* A fenced block is one code segment, blank lines inside it included. */
    const char *f = "Intro text.\n```c\nint a;\n\nint b;\n```\nAfter.\n\n~~~\nopen {\n\n";
    CHECK_SEGS(DECOMPOSE_PARAGRAPHS, f, {P, "Intro text."}, {C, "```c\nint a;\n\nint b;\n```"},
               {P, "After."}, {C, "~~~\nopen {"});

    /* Past long_paragraph bytes, sentences; "e.g. lower" and 3.14 do not end one. */
    const char *l = "Pi is 3.14, e.g. roughly. Is it \"exact?\" No! It is irrational (see "
                    "below.) \xe7\x84\xa1\xe7\x90\x86\xe3\x80\x82\xe6\x98\xaf\xe3\x80\x82 End";
    const struct want wl[] = {{P, "Pi is 3.14, e.g. roughly."},
                              {P, "Is it \"exact?\""},
                              {P, "No!"},
                              {P, "It is irrational (see below.)"},
                              {P, "\xe7\x84\xa1\xe7\x90\x86\xe3\x80\x82"},
                              {P, "\xe6\x98\xaf\xe3\x80\x82"},
                              {P, "End"}};
    struct decompose_opts o = {.long_paragraph = 40};
    struct decompose_seg g[CAP];
    size_t n = 0;
    assert_int_equal(decompose(DECOMPOSE_PARAGRAPHS, l, strlen(l), &o, g, CAP, &n), 0);
    assert_exhaustive(l, strlen(l), g, n);
    assert_int_equal(n, sizeof wl / sizeof wl[0]);
    for (size_t i = 0; i < n; i++)
        assert_seg(l, &g[i], wl[i].text);
    /* Under the default threshold the same paragraph stays whole. */
    CHECK_SEGS(DECOMPOSE_PARAGRAPHS, l, {P, l});
}

static void test_criteria_none(void **state)
{
    (void)state;
    struct decompose_seg g[CAP];
    size_t n = 9;
    const char *t = "\n  The whole response.  \n";
    struct decompose_opts o = {.ncriteria = 3};
    assert_int_equal(decompose(DECOMPOSE_CRITERIA, t, strlen(t), &o, g, 3, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_seg(t, &g[i], "The whole response.");
        assert_int_equal(g[i].kind, DECOMPOSE_SEG_CRITERION);
    }
    assert_int_equal(decompose(DECOMPOSE_CRITERIA, t, strlen(t), NULL, g, 3, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(decompose(DECOMPOSE_CRITERIA, " \n", 2, &o, g, 3, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(decompose(DECOMPOSE_NONE, t, strlen(t), &o, g, CAP, &n), 0);
    assert_int_equal(n, 0);
}

/* Empty and all-whitespace texts have no segments in any kind. */
static void test_empty(void **state)
{
    (void)state;
    static const char *const texts[] = {"", " ", "\n\n\r\n", "\t \v\f \n "};
    struct decompose_seg g[CAP];
    for (int k = DECOMPOSE_NONE; k <= DECOMPOSE_PARAGRAPHS; k++)
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            assert_int_equal(run((enum decompose_kind)k, texts[i], g, CAP), 0);
}

static uint64_t rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Every kind on text, at cap 64 and a large cap, checking the contract. */
static size_t run_all(const char *text, size_t len, size_t cap, size_t *largest)
{
    struct decompose_seg *g = test_malloc(cap * sizeof *g);
    size_t total = 0;
    *largest = 0;
    for (int k = DECOMPOSE_STEPS; k <= DECOMPOSE_PARAGRAPHS; k++) {
        size_t n = 0;
        assert_int_equal(decompose((enum decompose_kind)k, text, len, NULL, g, cap, &n), 0);
        assert_true(n <= cap);
        assert_exhaustive(text, len, g, n);
        for (size_t i = 0; i < n; i++)
            if (g[i].end - g[i].start > *largest)
                *largest = g[i].end - g[i].start;
        total += n;
    }
    test_free(g);
    return total;
}

#define MB (1024 * 1024)

static void test_hostile_long_line(void **state)
{
    (void)state;
    char *t = test_malloc(MB);
    size_t largest;
    /* Words, no newline: cut at whitespace into pieces of at most max_seg_bytes. */
    for (size_t i = 0; i < MB; i++)
        t[i] = (i % 7 == 6) ? ' ' : 'a';
    t[MB - 1] = 'a';
    assert_true(run_all(t, MB, BIG_CAP, &largest) >= 3 * MB / DECOMPOSE_MAX_SEG_BYTES);
    assert_true(largest <= DECOMPOSE_MAX_SEG_BYTES);
    assert_true(largest > DECOMPOSE_MAX_SEG_BYTES - 8);
    /* At the default cap the pieces merge into at most 64, of like sizes. */
    assert_true(run_all(t, MB, CAP, &largest) >= 3 * CAP / 4);
    assert_true(largest <= 4 * MB / CAP);
    /* One 2-byte character repeated, no space: cut between characters. */
    for (size_t i = 0; i < MB; i += 2)
        memcpy(t + i, "\xc3\xa9", 2);
    assert_true(run_all(t, MB, BIG_CAP, &largest) > 3 * 60);
    /* 4-byte characters shifted by one byte, so cuts land mid-sequence. */
    t[0] = 'x';
    for (size_t i = 1; i + 4 <= MB; i += 4)
        memcpy(t + i, "\xf0\x9f\x98\x80", 4);
    run_all(t, MB - 3, BIG_CAP, &largest);
    run_all(t, MB - 3, 5, &largest);
    /* Quotes that never close, each escaping the next: linear, not a scan
     * to the end of the line per quote. */
    for (size_t i = 0; i + 4 <= MB; i += 4)
        memcpy(t + i, "'\\\"\\", 4);
    run_all(t, MB, CAP, &largest);
    test_free(t);
}

/* A segment past max_seg_bytes is cut at a newline, else after a sentence,
 * else at a space, each piece at most max_seg_bytes long. */
static void test_cut_policy(void **state)
{
    (void)state;
    struct decompose_opts o = {.max_seg_bytes = DECOMPOSE_MIN_SEG_BYTES,
                               .long_paragraph = SIZE_MAX};
    struct decompose_seg g[CAP];
    size_t n = 0;
    const char *lines = "line 01 xxxxxxxxxxxx\nline 02 xxxxxxxxxxxx\nline 03 xxxxxxxxxxxx\n"
                        "line 04 xxxxxxxxxxxx\nline 05 xxxxxxxxxxxx\nline 06 xxxxxxxxxxxx";
    assert_int_equal(decompose(DECOMPOSE_PARAGRAPHS, lines, strlen(lines), &o, g, CAP, &n), 0);
    assert_exhaustive(lines, strlen(lines), g, n);
    assert_int_equal(n, 2); /* three 20-byte lines and two newlines fit in 64 */
    assert_seg(lines, &g[0], "line 01 xxxxxxxxxxxx\nline 02 xxxxxxxxxxxx\nline 03 xxxxxxxxxxxx");
    const char *prose = "One two three four five six seven eight nine. Ten eleven twelve "
                        "thirteen fourteen fifteen sixteen seventeen eighteen.";
    assert_int_equal(decompose(DECOMPOSE_STEPS, prose, strlen(prose), &o, g, CAP, &n), 0);
    assert_exhaustive(prose, strlen(prose), g, n);
    assert_int_equal(n, 3);
    assert_seg(prose, &g[0], "One two three four five six seven eight nine.");
    assert_seg(prose, &g[1], "Ten eleven twelve thirteen fourteen fifteen sixteen seventeen");
    for (size_t i = 0; i < n; i++)
        assert_true(g[i].end - g[i].start <= DECOMPOSE_MIN_SEG_BYTES);
}

static void test_hostile_junk(void **state)
{
    (void)state;
    size_t len = 256 * 1024, largest;
    char *t = test_malloc(len);
    uint64_t seed = 42;
    for (int round = 0; round < 4; round++) {
        /* Binary junk without NUL: invalid UTF-8, stray fences and brackets. */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)(rng(&seed) & 0xff);
            t[i] = (char)(c ? c : '`');
        }
        run_all(t, len, CAP, &largest);
        run_all(t, len, 2, &largest);
        run_all(t, len, 1, &largest);
        /* Short pieces of structure, shuffled: fences, steps, quotes, comments. */
        static const char *const bits[] = {
            "```",      "~~~~", "\n",           "\r\n", "{",      "}",    "(",     "\"",
            "'",        "/*",   "*/",           "//",   "\"\"\"", "1. ",  "- ",    "A: 1",
            "\\boxed{", ". ",   "\xe3\x80\x82", "\xc3", "    ",   "\n\n", "#### ", "word"};
        size_t i = 0;
        while (i < len) {
            const char *b = bits[rng(&seed) % (sizeof bits / sizeof bits[0])];
            size_t bl = strlen(b) < len - i ? strlen(b) : len - i;
            memcpy(t + i, b, bl);
            i += bl;
        }
        run_all(t, len, CAP, &largest);
        run_all(t, len, 3, &largest);
    }
    test_free(t);
}

/* 100k lines: capped at 64 and merged into groups of like size; a final
 * answer at the end stays its own step. */
static void test_many_lines(void **state)
{
    (void)state;
    size_t lines = 100000, len = 0, cap = lines * 12 + 16, largest;
    char *t = test_malloc(cap);
    for (size_t i = 0; i < lines; i++)
        len += (size_t)snprintf(t + len, cap - len, i % 3 ? "%zu + 1\r\n" : "- x%zu\n", i);
    len += (size_t)snprintf(t + len, cap - len, "A: 7\n");
    struct decompose_seg g[CAP];
    size_t n = 0;
    assert_int_equal(decompose(DECOMPOSE_STEPS, t, len, NULL, g, CAP, &n), 0);
    assert_exhaustive(t, len, g, n);
    assert_true(n > CAP / 4 && n <= CAP);
    assert_seg(t, &g[n - 1], "A: 7");
    assert_true(g[n - 1].final_answer);
    size_t small = SIZE_MAX, big = 0;
    for (size_t i = 0; i + 2 < n; i++) { /* all but the answer and the remainder */
        size_t w = g[i].end - g[i].start;
        small = w < small ? w : small;
        big = w > big ? w : big;
        assert_false(g[i].final_answer);
    }
    assert_true(big <= 3 * small); /* balanced, not one giant tail */
    run_all(t, len, CAP, &largest);
    run_all(t, len, 1, &largest);
    /* Under the cap, the steps come back as they are: one per line. */
    size_t nl = 0;
    for (size_t i = 0; i < 2000; i++)
        nl += t[i] == '\n';
    struct decompose_seg *many = test_malloc(BIG_CAP * sizeof *many);
    assert_int_equal(decompose(DECOMPOSE_STEPS, t, 2000, NULL, many, BIG_CAP, &n), 0);
    assert_int_equal(n, nl + (t[1999] != '\n'));
    test_free(many);
    test_free(t);
}

static void test_crlf(void **state)
{
    (void)state;
    const char *t = "1. a = 2\r\n   b = 3\r\n2) c\r\n\r\nA: 3\r\n";
    const struct want w[] = {{DECOMPOSE_SEG_STEP, "1. a = 2\r\n   b = 3"},
                             {DECOMPOSE_SEG_STEP, "2) c"}};
    struct decompose_seg g[CAP];
    assert_int_equal(run(DECOMPOSE_STEPS, t, g, CAP), 3);
    for (size_t i = 0; i < 2; i++)
        assert_seg(t, &g[i], w[i].text);
    assert_seg(t, &g[2], "A: 3");
    assert_true(g[2].final_answer);
    const char *c = "```\r\nint f(void)\r\n{\r\n}\r\nint g;\r\n```\r\n";
    CHECK_SEGS(DECOMPOSE_CODE, c, {C, "```\r\nint f(void)\r\n{\r\n}"}, {C, "int g;\r\n```"});
}

int main(void)
{
    /* Three groups, so a failure says at once which promise broke. */
    const struct CMUnitTest interface[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_questions),
        cmocka_unit_test(test_is_hard),
        cmocka_unit_test(test_bad_args),
    };
    const struct CMUnitTest kinds[] = {
        cmocka_unit_test(test_gsm8k_fixture), cmocka_unit_test(test_steps_listed),
        cmocka_unit_test(test_final_answers), cmocka_unit_test(test_code_fenced),
        cmocka_unit_test(test_code_bare),     cmocka_unit_test(test_code_fence_edges),
        cmocka_unit_test(test_paragraphs),    cmocka_unit_test(test_criteria_none),
    };
    const struct CMUnitTest hostile[] = {
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_hostile_long_line),
        cmocka_unit_test(test_cut_policy), cmocka_unit_test(test_hostile_junk),
        cmocka_unit_test(test_many_lines), cmocka_unit_test(test_crlf),
    };
    int failed = cmocka_run_group_tests_name("interface", interface, NULL, NULL);
    failed += cmocka_run_group_tests_name("decomposers", kinds, NULL, NULL);
    failed += cmocka_run_group_tests_name("hostile input", hostile, NULL, NULL);
    return failed ? 1 : 0;
}
