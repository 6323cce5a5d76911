/* test_check_rules.c - the checkers on the GSM8K fixture: rule-based
 * baselines that a trained layer with checker features must beat.
 *
 * For every question of tests/data/gsm8k/model_solutions.jsonl the group is
 * its four model solutions; every (correct, incorrect) pair of a group is
 * judged by
 *   agree:  prefer the solution whose final answer more of the group's other
 *           samples share (a tie counts half: a coin);
 *   rules:  the same, ties broken by "uses more of the question's numbers",
 *           then by "has no arithmetic error", then half;
 *   longer: the longer solution (the baseline test_reward.c also uses).
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

#define GROUP_MAX 8 /* solutions per question in the fixture: 4 */

struct sol {
    size_t len;            /* bytes of the solution */
    int correct;           /* the data set's is_correct */
    struct check_answer a; /* its final answer */
    double used;           /* numbers_used_share */
    double wrong;          /* arith_wrong */
};

struct tally {
    size_t questions, pairs, decisive;
    double agree, numbers, rules, longer, decisive_right;
    size_t graded, graded_same; /* answers vs ground truth, against is_correct */
};

static void solution(const char *q, const char *text, int correct, struct sol *s)
{
    struct check_result r;
    size_t n = strlen(text);
    check_result_init(&r);
    s->len = n;
    s->correct = correct;
    assert_int_equal(check_answer(text, n, &s->a, &r), 0);
    assert_int_equal(check_numbers(q, strlen(q), text, n, &r), 0);
    assert_int_equal(check_arith(text, n, &r), 0);
    s->used = r.v[CHECK_NUMBERS_USED_SHARE];
    s->wrong = r.v[CHECK_ARITH_WRONG];
}

/* Share of the other samples of the group with the answer of g[i]. */
static double share(const struct sol *g, size_t n, size_t i)
{
    struct check_answer others[GROUP_MAX];
    struct check_result r;
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (j != i)
            others[k++] = g[j].a;
    check_result_init(&r);
    assert_int_equal(check_agree(&g[i].a, others, k, 0, &r, NULL), 0);
    return r.v[CHECK_AGREE_SHARE];
}

/* 1 when x > y, 0 when x < y, -1 on a tie. */
static int cmp(double x, double y)
{
    return x > y ? 1 : x < y ? 0 : -1;
}

static void judge(const struct sol *g, size_t n, size_t c, size_t w, struct tally *t)
{
    int d = cmp(share(g, n, c), share(g, n, w));
    t->pairs++;
    t->agree += d < 0 ? 0.5 : d;
    if (d >= 0) {
        t->decisive++;
        t->decisive_right += d;
    }
    if (d < 0)
        d = cmp(g[c].used, g[w].used);
    t->numbers += d < 0 ? 0.5 : d;
    if (d < 0)
        d = cmp(g[c].wrong == 0, g[w].wrong == 0);
    t->rules += d < 0 ? 0.5 : d;
    d = cmp((double)g[c].len, (double)g[w].len);
    t->longer += d < 0 ? 0.5 : d;
}

/* Reads one question: its solutions into g, the pairs into t. */
static void question(json_t *o, struct tally *t)
{
    const char *q = json_string_value(json_object_get(o, "question"));
    const char *gt = json_string_value(json_object_get(o, "ground_truth"));
    assert_true(q && gt);
    struct check_answer truth;
    assert_int_equal(check_answer(gt, strlen(gt), &truth, NULL), 0);
    struct sol g[GROUP_MAX];
    size_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        const char *text = json_string_value(json_object_get(v, "solution"));
        if (!json_is_object(v) || !text)
            continue;
        assert_true(n < GROUP_MAX);
        solution(q, text, json_is_true(json_object_get(v, "is_correct")), &g[n]);
        t->graded++;
        t->graded_same += check_answer_equal(&g[n].a, &truth) == g[n].correct;
        n++;
    }
    t->questions++;
    for (size_t c = 0; c < n; c++)
        for (size_t w = 0; w < n; w++)
            if (g[c].correct && !g[w].correct)
                judge(g, n, c, w, t);
}

static void read_fixture(const char *path, struct tally *t)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        assert_non_null(o);
        question(o, t);
        json_decref(o);
    }
    free(line);
    fclose(f);
}

/* Floors three points under what the fixture gives, so that a checker that
 * gets worse fails here. Measured: agree 0.7124 (decisive on 0.5686 of the
 * pairs, right on 0.8736 of those), with the tie-breakers 0.7908, longer
 * 0.5458; the final answer decides is_correct right on 660 of 660. (On the
 * full public half the issue reports about 0.75 and 0.79.) */
#define AGREE_MIN 0.68
#define RULES_MIN 0.76
#define GRADED_MIN 0.97

static void test_gsm8k_rules(void **state)
{
    (void)state;
    struct tally t = {0};
    read_fixture(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl", &t);
    assert_int_equal(t.questions, 165);
    assert_int_equal(t.pairs, 306);
    double n = (double)t.pairs;
    double agree = t.agree / n, rules = t.rules / n, longer = t.longer / n, num = t.numbers / n;
    double dec = (double)t.decisive / n;
    double dec_acc = t.decisive ? t.decisive_right / (double)t.decisive : 0.0;
    double graded = (double)t.graded_same / (double)t.graded;
    printf("gsm8k rules: %zu questions, %zu pairs: agree %.4f (decisive on %.4f, right on "
           "%.4f of those), agree+numbers %.4f, agree+numbers+arith %.4f, longer %.4f; final "
           "answer matches "
           "is_correct on %.4f of %zu solutions\n",
           t.questions, t.pairs, agree, dec, dec_acc, num, rules, longer, graded, t.graded);
    assert_true(agree >= AGREE_MIN);
    assert_true(rules >= RULES_MIN);
    assert_true(rules >= agree);
    assert_true(agree >= longer + 0.05);
    assert_true(graded >= GRADED_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsm8k_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
