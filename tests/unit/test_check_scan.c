/* test_check_scan.c - check_run_all's one pass for the numbers and the form
 * (check_scan.h) against the checkers run one by one, each with its own
 * pass: the same features, bit for bit, and the same findings in the same
 * order. Texts: every string of the GSM8K and HH fixtures (each line a
 * group, its first string the prompt), texts made to hit the edges (numbers
 * that run on past a word, '.' starting a number, annotations, refusals
 * past the findings cap) and texts made of random pieces (a fixed seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "check_group.h"
#include "sample_assert.h"

#define OTHERS_MAX 8

static struct check_result fused, apart;

/* The checkers one by one, in check_run_all's order, with the numbers
 * read in their own pass (check_arith_numbers) and the form in its own. */
static void one_by_one(const struct check_input *in, struct check_result *r)
{
    struct check_prompt p;
    struct check_answer self;
    check_result_init(r);
    assert_int_equal(check_answer(in->resp, in->resp_len, &self, r), 0);
    assert_int_equal(check_agree(&self, in->others, in->n_others, 0, r, NULL), 0);
    assert_int_equal(check_prompt_init(&p, in->prompt, in->prompt_len), 0);
    assert_int_equal(check_arith_numbers(&p, in->resp, in->resp_len, r), 0);
    assert_int_equal(check_form(in->resp, in->resp_len, r), 0);
}

static void assert_same(const struct check_result *a, const struct check_result *b)
{
    assert_memory_equal(a->v, b->v, sizeof(a->v));
    assert_int_equal(a->nf, b->nf);
    assert_int_equal(a->dropped, b->dropped);
    for (size_t i = 0; i < a->nf; i++) {
        assert_string_equal(a->f[i].checker, b->f[i].checker);
        assert_string_equal(a->f[i].code, b->f[i].code);
        assert_int_equal(a->f[i].verdict, b->f[i].verdict);
        assert_int_equal(a->f[i].start, b->f[i].start);
        assert_int_equal(a->f[i].len, b->f[i].len);
        assert_string_equal(a->f[i].text, b->f[i].text);
    }
}

/* check_sample_run: the checkers and the sample in one read give what
 * check_run_all and check_sample_read_prompt give apart, with the prompt
 * read by the checkers (the sample then reads no prompt numbers) and
 * prepared (both use it). */
static void check_sample_one_read(struct check_input in)
{
    struct check_prompt p;
    struct check_sample want, got;
    assert_int_equal(check_prompt_init(&p, in.prompt, in.prompt_len), 0);
    for (int prepared = 0; prepared < 2; prepared++) {
        in.prepared = prepared ? &p : NULL;
        assert_int_equal(check_run_all(&in, &apart, NULL), 0);
        assert_int_equal(check_sample_read_prompt(in.resp, in.resp_len, in.prepared, &want), 0);
        assert_int_equal(check_sample_run(&in, &fused, &got), 0);
        assert_same(&fused, &apart);
        assert_same_sample(&got, &want);
    }
}

/* Checks resp against prompt, with others as the group's other answers. */
static void check_text(const char *prompt, size_t plen, const char *resp, size_t len,
                       const struct check_answer *others, size_t n)
{
    struct check_input in = {.prompt = prompt,
                             .prompt_len = plen,
                             .resp = resp,
                             .resp_len = len,
                             .others = others,
                             .n_others = n};
    assert_int_equal(check_run_all(&in, &fused, NULL), 0);
    one_by_one(&in, &apart);
    assert_same(&fused, &apart);
    /* The layer's run (no_text): the same features and findings, with
     * their sentences left empty. */
    in.no_text = true;
    assert_int_equal(check_run_all(&in, &apart, NULL), 0);
    assert_memory_equal(fused.v, apart.v, sizeof fused.v);
    assert_int_equal(fused.nf, apart.nf);
    assert_int_equal(fused.dropped, apart.dropped);
    for (size_t i = 0; i < fused.nf; i++) {
        assert_string_equal(fused.f[i].code, apart.f[i].code);
        assert_int_equal(fused.f[i].verdict, apart.f[i].verdict);
        assert_int_equal(fused.f[i].start, apart.f[i].start);
        assert_string_equal(apart.f[i].text, "");
    }
    check_sample_one_read(in);
}

/* Every string of every line of path; returns the texts checked. */
static size_t check_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, texts = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL), *v;
        const char *key, *prompt = NULL;
        struct check_answer others[OTHERS_MAX];
        size_t n = 0;
        assert_non_null(o);
        json_object_foreach(o, key, v)
        {
            json_t *s = json_is_object(v) ? json_object_get(v, "solution") : v;
            const char *t = json_string_value(s);
            if (!t)
                continue;
            prompt = prompt ? prompt : t;
            check_text(prompt, strlen(prompt), t, strlen(t), others, n);
            if (n < OTHERS_MAX)
                assert_int_equal(check_answer(t, strlen(t), &others[n++], NULL), 0);
            texts++;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return texts;
}

static void test_fixtures(void **state)
{
    (void)state;
    assert_true(check_fixture(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl") > 100);
    assert_true(check_fixture(RUNG_DATA_DIR "/hh-rlhf-harmless/pairs.jsonl") > 100);
}

static void test_edges(void **state)
{
    (void)state;
    static const char *const prompt = "She has 1,200 eggs and three dozen hens; 0.5 of them, 12%.";
    static const char *const texts[] = {
        "1,200abc 3.5x .5 .x 1.2.3 a1b2 1,20 17 500 twelve 3rd",
        "She sold 48/2 = <<48/2=24>>24 and 3*20=<<3*20=60>>60; 1,200 + 5 = 1,205.",
        "<<1+1=2>> <<< <<2*3=6 >> << 4 = 4>>\n<<5-1=4>>4 x 12 = 48.",
        "\xc3\xa9t\xc3\xa9 12\xe2\x80\x99s 3\xc3\x97 4 = 12 \xff 7.",
        "I can't. I cannot help. As an AI, I won't be able to. ```\ncode (1) [2] {3",
        "",
        ".",
        "9",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_text(prompt, strlen(prompt), texts[i], strlen(texts[i]), NULL, 0);
    /* Refusals past the findings cap, numbers between them. */
    size_t n = 80, u = 17;
    char *s = test_malloc(n * u);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, "I can't say 17.  ", u);
    check_text(prompt, strlen(prompt), s, n * u, NULL, 0);
    test_free(s);
}

static const char *const PIECE[] = {"0",
                                    "12",
                                    "1,200",
                                    "3.5",
                                    ".5",
                                    "1,20",
                                    " ",
                                    " ",
                                    "\n",
                                    "+",
                                    "-",
                                    "*",
                                    "/",
                                    "x",
                                    "=",
                                    "<<",
                                    ">>",
                                    "(",
                                    ")",
                                    "$",
                                    "```",
                                    "A: ",
                                    "The answer is ",
                                    "I can't",
                                    "three",
                                    "half",
                                    "dozen",
                                    "the",
                                    "eggs",
                                    ",",
                                    ".",
                                    "'",
                                    "\xe2\x80\x99",
                                    "\xff",
                                    "\xc3\xa9",
                                    "1)",
                                    "%",
                                    "a"};

static void test_random(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char buf[512];
    for (int k = 0; k < 3000; k++) {
        size_t len = 0, want;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        want = x % 400;
        while (len < want) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *p = PIECE[x % (sizeof(PIECE) / sizeof(PIECE[0]))];
            size_t pl = strlen(p);
            if (len + pl > sizeof(buf))
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        check_text(buf, len / 3, buf, len, NULL, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
