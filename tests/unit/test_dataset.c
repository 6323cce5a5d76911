/* test_dataset.c - hh / trl / gsm8k readers, steps / prm800k verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

#define MAX_SEEN 16

/* What the callbacks saw. */
struct seen {
    size_t npairs;
    char *prompt[MAX_SEEN], *chosen[MAX_SEEN], *rejected[MAX_SEEN];
    size_t nerr;
    size_t err_line[MAX_SEEN];
    int stop_after; /* return 7 after this many pairs when > 0 */
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = test_malloc(n);
    memcpy(d, s, n);
    return d;
}

static int on_pair(void *cls, const struct dataset_pair *p)
{
    struct seen *s = cls;
    if (s->npairs < MAX_SEEN) {
        s->prompt[s->npairs] = dup_str(p->prompt);
        s->chosen[s->npairs] = dup_str(p->chosen);
        s->rejected[s->npairs] = dup_str(p->rejected);
    }
    s->npairs++;
    return (s->stop_after > 0 && s->npairs == (size_t)s->stop_after) ? 7 : 0;
}

static void on_error(void *cls, size_t line_no, const char *msg)
{
    struct seen *s = cls;
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    if (s->nerr < MAX_SEEN)
        s->err_line[s->nerr] = line_no;
    s->nerr++;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->npairs && i < MAX_SEEN; i++) {
        test_free(s->prompt[i]);
        test_free(s->chosen[i]);
        test_free(s->rejected[i]);
    }
}

static FILE *file_with(const char *text)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    rewind(f);
    return f;
}

static int read_text(const char *text, enum dataset_format fmt, struct seen *s,
                     struct dataset_stats *st)
{
    FILE *f = file_with(text);
    int rc = dataset_read(f, fmt, on_pair, on_error, s, st);
    fclose(f);
    return rc;
}

/* Keeps a step verdict in the pair slots: context, step, "yes" or "no". */
static int on_step(void *cls, const struct dataset_step *st)
{
    struct seen *s = cls;
    assert_non_null(st->prompt);
    assert_int_equal(strncmp(st->context, st->prompt, strlen(st->prompt)), 0);
    if (s->npairs < MAX_SEEN) {
        s->prompt[s->npairs] = dup_str(st->context);
        s->chosen[s->npairs] = dup_str(st->step);
        s->rejected[s->npairs] = dup_str(st->good ? "yes" : "no");
    }
    s->npairs++;
    return 0;
}

static int read_steps(const char *text, enum dataset_format fmt, struct seen *s,
                      struct dataset_stats *st)
{
    FILE *f = file_with(text);
    int rc = dataset_read_steps(f, fmt, on_step, on_error, s, st);
    fclose(f);
    return rc;
}

static void assert_step(const struct seen *s, size_t i, const char *ctx, const char *step,
                        const char *verdict)
{
    assert_string_equal(s->prompt[i], ctx);
    assert_string_equal(s->chosen[i], step);
    assert_string_equal(s->rejected[i], verdict);
}

/* rung's step JSONL: spans into the response; "unsure" gives no verdict but
 * stays in the context; bad spans reject the whole line. */
static void test_steps(void **state)
{
    (void)state;
    const char *text =
        "{\"prompt\": \"Q\", \"response\": \"a=1\\nb=2\\nA: 3\", \"steps\": ["
        "{\"span\": [0, 3], \"answer\": \"yes\"}, {\"span\": [4, 7], \"answer\": \"unsure\"},"
        "{\"span\": [8, 12], \"answer\": \"no\"}], \"source\": \"human\"}\n"
        "{\"prompt\": \"Q\", \"response\": \"abc\", \"steps\": [{\"span\": [0, 4], "
        "\"answer\": \"yes\"}]}\n"
        "{\"prompt\": \"Q\", \"response\": \"abcdef\", \"steps\": [{\"span\": [2, 4], "
        "\"answer\": \"yes\"}, {\"span\": [3, 6], \"answer\": \"no\"}]}\n"
        "{\"prompt\": \"Q\", \"response\": \"abc\", \"steps\": [{\"span\": [0, 3], "
        "\"answer\": \"maybe\"}]}\n"
        "{\"prompt\": \"Q\", \"response\": \"abc\", \"steps\": {}}\n";
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_steps(text, DATASET_STEPS, &s, &st), 0);
    assert_int_equal(st.steps, 2);
    assert_int_equal(st.pairs, 0);
    assert_int_equal(s.npairs, 2);
    assert_step(&s, 0, "Q", "a=1", "yes");
    assert_step(&s, 1, "Q\na=1\nb=2", "A: 3", "no");
    assert_int_equal(s.nerr, 4); /* past the end, overlapping, unknown answer, not an array */
    assert_int_equal(s.err_line[0], 2);
    assert_int_equal(s.err_line[3], 5);
    seen_free(&s);
}

/* PRM800K's documented shape: every rated, unflagged completion is a
 * verdict (-1 wrong; 0 and 1 right); the chosen completion continues the
 * context, a human completion too; a step without either ends it. */
static void test_prm800k(void **state)
{
    (void)state;
    const char *text =
        "{\"labeler\": \"x\", \"question\": {\"problem\": \"P\", \"ground_truth_answer\": \"4\"},"
        " \"label\": {\"steps\": ["
        "{\"completions\": [{\"text\": \"s1\", \"rating\": 0, \"flagged\": null}],"
        " \"human_completion\": null, \"chosen_completion\": 0},"
        "{\"completions\": [{\"text\": \"bad\", \"rating\": -1, \"flagged\": null},"
        " {\"text\": \"s2\", \"rating\": 1, \"flagged\": false},"
        " {\"text\": \"odd\", \"rating\": 1, \"flagged\": true}],"
        " \"human_completion\": null, \"chosen_completion\": 1},"
        "{\"completions\": [{\"text\": \"no\", \"rating\": -1}],"
        " \"human_completion\": {\"text\": \"h3\"}, \"chosen_completion\": null},"
        "{\"completions\": [{\"text\": \"s4\", \"rating\": null}],"
        " \"human_completion\": null, \"chosen_completion\": null},"
        "{\"completions\": [{\"text\": \"never\", \"rating\": 1}], \"chosen_completion\": 0}"
        "], \"finish_reason\": \"give_up\"}}\n"
        "{\"question\": {}, \"label\": {\"steps\": []}}\n";
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_steps(text, DATASET_PRM800K, &s, &st), 0);
    assert_int_equal(s.npairs, 4);
    assert_step(&s, 0, "P", "s1", "yes");
    assert_step(&s, 1, "P\ns1", "bad", "no");
    assert_step(&s, 2, "P\ns1", "s2", "yes");
    assert_step(&s, 3, "P\ns1\ns2", "no", "no");
    assert_int_equal(s.nerr, 1);
    assert_int_equal(s.err_line[0], 2);
    seen_free(&s);
    /* Pair readers and step readers refuse each other's formats. */
    FILE *f = file_with("{}\n");
    assert_int_equal(dataset_read(f, DATASET_STEPS, on_pair, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(dataset_read_steps(f, DATASET_HH, on_step, NULL, NULL, NULL), -EINVAL);
    fclose(f);
    enum dataset_format fmt;
    assert_int_equal(dataset_format_parse("prm800k", &fmt), 0);
    assert_true(dataset_format_is_steps(fmt));
    assert_int_equal(dataset_format_parse("steps", &fmt), 0);
    assert_true(dataset_format_is_steps(fmt));
    assert_false(dataset_format_is_steps(DATASET_GSM8K));
}

static void test_format_parse(void **state)
{
    (void)state;
    enum dataset_format f;
    assert_int_equal(dataset_format_parse("hh", &f), 0);
    assert_int_equal(f, DATASET_HH);
    assert_int_equal(dataset_format_parse("trl", &f), 0);
    assert_int_equal(f, DATASET_TRL);
    assert_int_equal(dataset_format_parse("gsm8k", &f), 0);
    assert_int_equal(f, DATASET_GSM8K);
    assert_int_equal(dataset_format_parse("HH", &f), -EINVAL);
    assert_int_equal(dataset_format_parse("", &f), -EINVAL);
    assert_int_equal(dataset_format_parse(NULL, &f), -EINVAL);
}

static void test_hh(void **state)
{
    (void)state;
    const char *text =
        /* 1: ordinary */
        "{\"chosen\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: bye\\n\\nAssistant:  "
        "see you\", \"rejected\": \"\\n\\nHuman: hi\\n\\nAssistant: hello\\n\\nHuman: "
        "bye\\n\\nAssistant: go away\"}\n"
        /* 2: empty, skipped silently */
        "\n"
        /* 3: last turns differ: fall back to the last shared marker */
        "{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\\n\\nHuman: c\\n\\nAssistant: d\", "
        "\"rejected\": \"\\n\\nHuman: a\\n\\nAssistant: x\"}\n"
        /* 4: no marker at all */
        "{\"chosen\": \"hello\", \"rejected\": \"world\"}\n"
        /* 5: not JSON */
        "{\"chosen\": \n"
        /* 6: missing field */
        "{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\"}\n"
        /* 7: not an object */
        "[1, 2]\n"
        /* 8: nothing shared */
        "{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\", \"rejected\": \"\\n\\nHuman: "
        "z\\n\\nAssistant: "
        "b\"}\n"
        /* 9: last line without newline */
        "{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: yes\", \"rejected\": \"\\n\\nHuman: "
        "q\\n\\nAssistant: no\"}";
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_text(text, DATASET_HH, &s, &st), 0);
    assert_int_equal(st.lines, 9);
    assert_int_equal(st.pairs, 3);
    assert_int_equal(st.rejected_lines, 5);
    assert_int_equal(s.npairs, 3);
    assert_string_equal(s.prompt[0],
                        "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant:");
    assert_string_equal(s.chosen[0], "see you");
    assert_string_equal(s.rejected[0], "go away");
    assert_string_equal(s.prompt[1], "\n\nHuman: a\n\nAssistant:");
    assert_string_equal(s.chosen[1], "b\n\nHuman: c\n\nAssistant: d");
    assert_string_equal(s.rejected[1], "x");
    assert_string_equal(s.prompt[2], "\n\nHuman: q\n\nAssistant:");
    assert_string_equal(s.chosen[2], "yes");
    assert_int_equal(s.nerr, 5);
    size_t want[] = {4, 5, 6, 7, 8};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s.err_line[i], want[i]);
    seen_free(&s);
}

static void test_trl(void **state)
{
    (void)state;
    const char *text = "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"5\"}\n"
                       "{\"prompt\": \"x\", \"chosen\": 4, \"rejected\": \"5\"}\n"
                       "{\"prompt\": \"caf\\u00e9\", \"chosen\": \"\", \"rejected\": \"no\"}\n";
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_text(text, DATASET_TRL, &s, &st), 0);
    assert_int_equal(st.pairs, 2);
    assert_int_equal(s.npairs, 2);
    assert_string_equal(s.prompt[0], "2+2?");
    assert_string_equal(s.chosen[0], "4");
    assert_string_equal(s.rejected[0], "5");
    assert_string_equal(s.prompt[1], "caf\xc3\xa9");
    assert_string_equal(s.chosen[1], "");
    assert_int_equal(s.nerr, 1);
    assert_int_equal(s.err_line[0], 2);
    seen_free(&s);
}

static void test_gsm8k(void **state)
{
    (void)state;
    const char *text =
        /* 2 correct x 2 incorrect = 4 pairs; ground_truth and junk keys ignored */
        "{\"question\": \"Q1\", \"ground_truth\": \"A: 1\", \"m1\": {\"is_correct\": true, "
        "\"solution\": \"c1\"}, \"m2\": {\"is_correct\": false, \"solution\": \"w1\"}, \"m3\": "
        "{\"is_correct\": true, \"solution\": \"c2\"}, \"m4\": {\"is_correct\": false, "
        "\"solution\": \"w2\"}, \"m5\": {\"is_correct\": 1, \"solution\": \"bad\"}}\n"
        /* all correct: no pair, not an error */
        "{\"question\": \"Q2\", \"m1\": {\"is_correct\": true, \"solution\": \"c\"}}\n"
        /* no question */
        "{\"m1\": {\"is_correct\": true, \"solution\": \"c\"}}\n"
        /* 1 x 3 = 3 pairs */
        "{\"question\": \"Q4\", \"a\": {\"is_correct\": false, \"solution\": \"w1\"}, \"b\": "
        "{\"is_correct\": false, \"solution\": \"w2\"}, \"c\": {\"is_correct\": true, "
        "\"solution\": \"c\"}, \"d\": {\"is_correct\": false, \"solution\": \"w3\"}}\n";
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_text(text, DATASET_GSM8K, &s, &st), 0);
    assert_int_equal(st.pairs, 7);
    assert_int_equal(s.npairs, 7);
    assert_int_equal(st.rejected_lines, 1);
    assert_int_equal(s.err_line[0], 3);
    /* File order: correct side outer, incorrect inner. */
    assert_string_equal(s.prompt[0], "Q1");
    assert_string_equal(s.chosen[0], "c1");
    assert_string_equal(s.rejected[0], "w1");
    assert_string_equal(s.chosen[1], "c1");
    assert_string_equal(s.rejected[1], "w2");
    assert_string_equal(s.chosen[2], "c2");
    assert_string_equal(s.rejected[3], "w2");
    assert_string_equal(s.prompt[4], "Q4");
    assert_string_equal(s.chosen[6], "c");
    assert_string_equal(s.rejected[6], "w3");
    seen_free(&s);
}

static void test_stop(void **state)
{
    (void)state;
    const char *text = "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                       "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                       "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n";
    struct seen s = {0};
    s.stop_after = 2;
    struct dataset_stats st;
    assert_int_equal(read_text(text, DATASET_TRL, &s, &st), 7);
    assert_int_equal(s.npairs, 2);
    assert_int_equal(st.lines, 2);
    seen_free(&s);
    assert_int_equal(dataset_read(NULL, DATASET_TRL, on_pair, on_error, &s, &st), -EINVAL);
}

/* A line far longer than any stdio buffer. */
static void test_long_line(void **state)
{
    (void)state;
    size_t big = 3u << 20;
    const char *head = "{\"prompt\": \"p\", \"chosen\": \"";
    const char *tail = "\", \"rejected\": \"b\"}\n";
    char *text = test_malloc(strlen(head) + big + strlen(tail) + 1);
    memcpy(text, head, strlen(head));
    memset(text + strlen(head), 'x', big);
    memcpy(text + strlen(head) + big, tail, strlen(tail) + 1);
    struct seen s = {0};
    struct dataset_stats st;
    assert_int_equal(read_text(text, DATASET_TRL, &s, &st), 0);
    assert_int_equal(s.npairs, 1);
    assert_int_equal(strlen(s.chosen[0]), big);
    seen_free(&s);
    test_free(text);
}

static int count_only(void *cls, const struct dataset_pair *p)
{
    size_t *n = cls;
    assert_non_null(p->prompt);
    assert_non_null(p->chosen);
    assert_non_null(p->rejected);
    (*n)++;
    return 0;
}

/* The fixtures cut from the public data (tests/data/README.md). */
static void test_real_files(void **state)
{
    (void)state;
    struct dataset_stats st;
    size_t n = 0;
    FILE *f = fopen(RUNG_DATA_DIR "/hh-rlhf-harmless/pairs.jsonl", "r");
    assert_non_null(f);
    assert_int_equal(dataset_read(f, DATASET_HH, count_only, NULL, &n, &st), 0);
    fclose(f);
    assert_int_equal(st.lines, 289);
    assert_int_equal(st.pairs, 289);
    assert_int_equal(st.rejected_lines, 0);
    assert_int_equal(n, 289);

    n = 0;
    f = fopen(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl", "r");
    assert_non_null(f);
    assert_int_equal(dataset_read(f, DATASET_GSM8K, count_only, NULL, &n, &st), 0);
    fclose(f);
    assert_int_equal(st.lines, 165);
    assert_int_equal(st.rejected_lines, 0);
    assert_int_equal(st.pairs, 306); /* sum over questions of correct x incorrect */
    assert_int_equal(n, 306);

    /* train.jsonl has no model entries: every line parses, no pairs. */
    f = fopen(RUNG_DATA_DIR "/gsm8k/train.jsonl", "r");
    assert_non_null(f);
    assert_int_equal(dataset_read(f, DATASET_GSM8K, count_only, NULL, &n, &st), 0);
    fclose(f);
    assert_int_equal(st.lines, 20);
    assert_int_equal(st.pairs, 0);
}

static void test_split(void **state)
{
    (void)state;
    size_t test = 0;
    char buf[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(buf, sizeof(buf), "prompt %d", i);
        test += (size_t)dataset_split_is_test(buf);
    }
    assert_in_range(test, 1800, 2200); /* about 20% */
    assert_int_equal(dataset_split_is_test("same"), dataset_split_is_test("same"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse), cmocka_unit_test(test_hh),
        cmocka_unit_test(test_trl),          cmocka_unit_test(test_gsm8k),
        cmocka_unit_test(test_stop),         cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_real_files),   cmocka_unit_test(test_split),
        cmocka_unit_test(test_steps),        cmocka_unit_test(test_prm800k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
