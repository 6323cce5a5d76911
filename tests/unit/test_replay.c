/* The pure part of rungd replay: the GSM8K step rule, the oracle's
 * shuffles, lookups and answers, seeded rater errors, and the figures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dataset.h"
#include "replay.h"

static const char *const JANET_Q =
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day?";
static const char *const JANET_REF = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
                                     "She makes 9 * 2 = $<<9*2=18>>18 every day.\nA: 18";

static void wrong_step_is_the_first_departing_result(void **state)
{
    (void)state;
    const char *wrong = "She has 16 - 3 = <<16-3=13>>13 eggs left\n"
                        "She makes 13 * 2 = $<<13*2=26>>26\nA: 26";
    assert_int_equal(replay_wrong_step(wrong, JANET_REF, JANET_Q), 0);
    /* The first step agrees with the reference, the second departs. */
    const char *later = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs\n\n"
                        "She makes 9 * 3 = $<<9*3=27>>27\nA: 27";
    assert_int_equal(replay_wrong_step(later, JANET_REF, JANET_Q), 1);
}

static void wrong_step_without_departure_is_the_last(void **state)
{
    (void)state;
    /* Every result is a number of the reference or the question; a step
     * without a number departs from nothing. */
    const char *s = "She sells 9 eggs\nShe thinks hard\nShe makes $<<9*2=18>>18\nA: 16";
    assert_int_equal(replay_wrong_step(s, JANET_REF, JANET_Q), 3);
    assert_int_equal(replay_wrong_step("", JANET_REF, JANET_Q), 0);
    assert_int_equal(replay_wrong_step("\n  \n", JANET_REF, JANET_Q), 0);
}

static void wrong_step_reads_numbers_as_documented(void **state)
{
    (void)state;
    /* Commas are dropped; the annotation's value after its last '=' wins
     * over the last number of the line; a minus sign sticks to a digit. */
    const char *ref = "It costs 1,250 dollars.\nA: 1250";
    assert_int_equal(replay_wrong_step("Total <<1000+250 = 1,250 >> so 7\nA: 9", ref, "q 9"), 1);
    assert_int_equal(replay_wrong_step("Total <<a=b=1250>>\nDrop -3 then\nA: 1250", ref, "q"), 1);
    assert_int_equal(replay_wrong_step("Drop 5-3\nA: 1250", "5 -3", "q"), 1);
    /* A broken annotation falls back to the last number. */
    assert_int_equal(replay_wrong_step("<<<1250>> then 4.5.\nA: 1250", ref, "4.5"), 1);
    assert_int_equal(replay_wrong_step("<<x=3>>\nA: 1250", ref, "q"), 0);
}

static void step_index_counts_non_blank_lines_before(void **state)
{
    (void)state;
    const char *t = "one\n\n  \ntwo\nthree";
    assert_int_equal(replay_step_index(t, 0), 0);
    assert_int_equal(replay_step_index(t, (size_t)(strstr(t, "two") - t)), 1);
    assert_int_equal(replay_step_index(t, (size_t)(strstr(t, "three") - t)), 2);
    assert_int_equal(replay_step_index(t, 1000), 3);
    /* A span starting inside a line counts that line's start. */
    assert_int_equal(replay_step_index("1. x 2. y", 5), 1);
}

static struct replay_oracle *oracle_of(size_t n, uint64_t seed)
{
    struct replay_oracle *o = replay_oracle_new(seed);
    char p[32], c[32], r[32];
    for (size_t i = 0; o && i < n; i++) {
        snprintf(p, sizeof p, "prompt %zu", i);
        snprintf(c, sizeof c, "good %zu", i);
        snprintf(r, sizeof r, "bad %zu", i);
        assert_int_equal(replay_oracle_add(o, p, c, r, NULL), 0);
    }
    return o;
}

static void sides_are_shuffled_by_the_seed(void **state)
{
    (void)state;
    struct replay_oracle *o = oracle_of(200, 7), *same = oracle_of(200, 7),
                         *other = oracle_of(200, 8);
    size_t swapped = 0, differ = 0;
    for (size_t i = 0; i < 200; i++) {
        const struct replay_item *it = replay_oracle_item(o, i);
        assert_memory_equal(it->correct == 'a' ? it->a : it->b, "good", 4);
        assert_memory_equal(it->correct == 'a' ? it->b : it->a, "bad", 3);
        assert_int_equal(it->correct, replay_oracle_item(same, i)->correct);
        swapped += it->correct == 'b';
        differ += it->correct != replay_oracle_item(other, i)->correct;
        assert_int_equal(it->wrong_step, REPLAY_NO_STEP_RULE);
    }
    assert_in_range(swapped, 70, 130);
    assert_in_range(differ, 70, 130);
    assert_null(replay_oracle_item(o, 200));
    replay_oracle_free(o);
    replay_oracle_free(same);
    replay_oracle_free(other);
    replay_oracle_free(NULL);
}

static void find_matches_prompt_and_sides_in_order(void **state)
{
    (void)state;
    struct replay_oracle *o = oracle_of(50, 3);
    for (size_t i = 0; i < 50; i++) {
        const struct replay_item *it = replay_oracle_item(o, i);
        assert_int_equal(replay_oracle_find(o, it->prompt, it->a, it->b), (long)i);
        assert_int_equal(replay_oracle_find(o, it->prompt, it->b, it->a), -ENOENT);
    }
    assert_int_equal(replay_oracle_find(o, "prompt 1", "x", "y"), -ENOENT);
    assert_int_equal(replay_oracle_find(o, NULL, "x", "y"), -ENOENT);
    /* Added after a lookup: the index follows; a twin finds the first. */
    const struct replay_item *first = replay_oracle_item(o, 0);
    char p[32], a[32], b[32];
    snprintf(p, sizeof p, "%s", first->prompt);
    snprintf(a, sizeof a, "%s", first->correct == 'a' ? first->a : first->b);
    snprintf(b, sizeof b, "%s", first->correct == 'a' ? first->b : first->a);
    for (int k = 0; k < 8; k++)
        assert_int_equal(replay_oracle_add(o, p, a, b, NULL), 0);
    for (size_t i = 50; i < 58; i++) {
        const struct replay_item *it = replay_oracle_item(o, i);
        long want = !strcmp(it->a, first->a) ? 0 : -ENOENT;
        long got = replay_oracle_find(o, it->prompt, it->a, it->b);
        assert_true(got == want || (want < 0 && got >= 50 && got <= (long)i));
    }
    assert_int_equal(replay_oracle_add(o, NULL, a, b, NULL), -EINVAL);
    replay_oracle_free(o);
}

static void pair_answers_follow_the_display_order_and_errors(void **state)
{
    (void)state;
    struct replay_oracle *o = oracle_of(10000, 5);
    size_t flips = 0;
    bool f;
    for (size_t i = 0; i < 10000; i++) {
        char c[2] = {replay_oracle_item(o, i)->correct, '\0'};
        char other[2] = {c[0] == 'a' ? 'b' : 'a', '\0'};
        assert_string_equal(replay_answer_pair(o, i, false, 0.0, &f), c);
        assert_false(f);
        assert_string_equal(replay_answer_pair(o, i, true, 0.0, &f), other);
        assert_string_equal(replay_answer_pair(o, i, false, 1.0, &f), other);
        assert_true(f);
        assert_string_equal(replay_answer_pair(o, i, true, 1.0, &f), c);
        const char *x = replay_answer_pair(o, i, false, 0.2, &f);
        flips += f;
        assert_string_equal(x, f ? other : c);
        bool again;
        assert_string_equal(replay_answer_pair(o, i, false, 0.2, &again), x);
        assert_int_equal(again, f);
    }
    assert_in_range(flips, 1850, 2150); /* 20% of 10,000, about 5 sd either way */
    replay_oracle_free(o);
}

static void step_answers_follow_the_rule(void **state)
{
    (void)state;
    struct replay_oracle *o = replay_oracle_new(1);
    const char *wrong = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs\n"
                        "She makes 9 * 3 = $<<9*3=27>>27\nA: 27";
    assert_int_equal(replay_oracle_add(o, JANET_Q, "She makes $18\nA: 18", wrong, JANET_REF), 0);
    assert_int_equal(replay_oracle_add(o, "hh prompt", "kind", "rude\nreally", NULL), 0);
    const struct replay_item *it = replay_oracle_item(o, 0);
    char good = it->correct, bad = good == 'a' ? 'b' : 'a';
    size_t second = (size_t)(strchr(wrong, '\n') - wrong) + 1;
    bool f;
    assert_int_equal(it->wrong_step, 1);
    assert_string_equal(replay_answer_step(o, 0, good, 0, 0.0, &f), "yes");
    assert_string_equal(replay_answer_step(o, 0, good, 10, 0.0, &f), "yes");
    assert_string_equal(replay_answer_step(o, 0, bad, 0, 0.0, &f), "yes");
    assert_string_equal(replay_answer_step(o, 0, bad, second, 0.0, &f), "no");
    assert_string_equal(replay_answer_step(o, 0, bad, strlen(wrong) - 5, 0.0, &f), "no");
    assert_string_equal(replay_answer_step(o, 0, bad, second, 1.0, &f), "yes");
    assert_true(f);
    /* Without a rule the rejected side's every step is wrong. */
    it = replay_oracle_item(o, 1);
    good = it->correct;
    bad = good == 'a' ? 'b' : 'a';
    assert_string_equal(replay_answer_step(o, 1, good, 0, 0.0, &f), "yes");
    assert_string_equal(replay_answer_step(o, 1, bad, 0, 0.0, &f), "no");
    assert_string_equal(replay_answer_step(o, 1, bad, 5, 0.0, &f), "no");
    replay_oracle_free(o);
}

static void items_count_by_status_and_verdict(void **state)
{
    (void)state;
    struct replay_item it = {.correct = 'b'};
    struct replay_row r = {.items = 6};
    replay_count_item(&r, &it, "resolved", "b", 2);
    replay_count_item(&r, &it, "auto", "a", 0);
    replay_count_item(&r, &it, "resolved", "b", 0); /* rolled up from the layer's answers */
    replay_count_item(&r, &it, "resolved", "tie", 1);
    replay_count_item(&r, &it, "awaiting_human", NULL, 1);
    replay_count_item(&r, &it, "decomposed", "b", 3);
    assert_int_equal(r.resolved, 4);
    assert_int_equal(r.auto_resolved, 2);
    assert_int_equal(r.agreeing, 2);
}

static void figures_are_shares_of_the_baseline(void **state)
{
    (void)state;
    struct replay_row rows[2] = {{.items = 10,
                                  .human_tasks = 30,
                                  .bytes_read = 500,
                                  .baseline_bytes = 1000,
                                  .resolved = 10,
                                  .auto_resolved = 0,
                                  .agreeing = 10,
                                  .flipped = 1},
                                 {.items = 10,
                                  .human_tasks = 2,
                                  .bytes_read = 100,
                                  .baseline_bytes = 1000,
                                  .resolved = 9,
                                  .auto_resolved = 8,
                                  .agreeing = 8,
                                  .flipped = 0,
                                  .layer_answers = 3}};
    struct replay_row sum = {0};
    struct replay_figures f;
    replay_rows_sum(rows, 2, &sum);
    assert_int_equal(sum.items, 20);
    assert_int_equal(sum.human_tasks, 32);
    assert_int_equal(sum.flipped, 1);
    assert_int_equal(sum.layer_answers, 3);
    replay_figures(&sum, 1, &f);
    assert_float_equal(f.judgements_ratio, 1.6, 1e-12);
    assert_float_equal(f.human_judgements_saved, 0.0, 0.0); /* more work than review: none saved */
    assert_float_equal(f.bytes_ratio, 0.3, 1e-12);
    assert_float_equal(f.bytes_read_saved, 0.7, 1e-12);
    assert_float_equal(f.agreement, 18.0 / 20.0, 1e-12);
    assert_float_equal(f.auto_share, 0.4, 1e-12);
    assert_float_equal(f.tasks_per_resolved, 32.0 / 19.0, 1e-12);
    replay_figures(&rows[1], 2, &f);
    assert_float_equal(f.judgements_ratio, 0.1, 1e-12);
    assert_float_equal(f.human_judgements_saved, 0.9, 1e-12);
    assert_float_equal(f.bytes_read_saved, 0.95, 1e-12);
    struct replay_row empty = {0};
    replay_figures(&empty, 1, &f);
    assert_float_equal(f.human_judgements_saved + f.bytes_read_saved + f.agreement, 0.0, 0.0);
    assert_float_equal(f.tasks_per_resolved + f.auto_share, 0.0, 0.0);
}

static int add_pair(void *cls, const struct dataset_pair *p)
{
    return replay_oracle_add(cls, p->prompt, p->chosen, p->rejected, p->reference);
}

static void gsm8k_fixture_gets_a_rule_for_every_pair(void **state)
{
    (void)state;
    FILE *f = fopen(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl", "r");
    assert_non_null(f);
    struct replay_oracle *o = replay_oracle_new(REPLAY_SEED_DEFAULT);
    struct dataset_stats st;
    assert_int_equal(dataset_read(f, DATASET_GSM8K, add_pair, NULL, o, &st), 0);
    fclose(f);
    assert_int_equal(replay_oracle_count(o), 306);
    size_t first = 0;
    for (size_t i = 0; i < replay_oracle_count(o); i++) {
        const struct replay_item *it = replay_oracle_item(o, i);
        const char *bad = it->correct == 'a' ? it->b : it->a;
        assert_in_range(it->wrong_step, 0, replay_step_index(bad, strlen(bad)) - 1);
        first += it->wrong_step == 0;
        assert_int_equal(replay_oracle_find(o, it->prompt, it->a, it->b) >= 0, 1);
    }
    /* Most incorrect solutions go wrong early, not all at the first step. */
    assert_in_range(first, 30, 276);
    replay_oracle_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrong_step_is_the_first_departing_result),
        cmocka_unit_test(wrong_step_without_departure_is_the_last),
        cmocka_unit_test(wrong_step_reads_numbers_as_documented),
        cmocka_unit_test(step_index_counts_non_blank_lines_before),
        cmocka_unit_test(sides_are_shuffled_by_the_seed),
        cmocka_unit_test(find_matches_prompt_and_sides_in_order),
        cmocka_unit_test(pair_answers_follow_the_display_order_and_errors),
        cmocka_unit_test(step_answers_follow_the_rule),
        cmocka_unit_test(items_count_by_status_and_verdict),
        cmocka_unit_test(figures_are_shares_of_the_baseline),
        cmocka_unit_test(gsm8k_fixture_gets_a_rule_for_every_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
