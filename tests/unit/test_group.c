/* test_group.c - sample groups: names, views, the checkers against a group,
 * and the same checker block whether a group is given as stored samples
 * (reward_check_group, the daemon) or formed by labelled pairs
 * (reward_check_pairs, training and evaluation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "group.h"
#include "reward_check.h"

static void test_default_name_normalises_the_prompt(void **state)
{
    (void)state;
    char a[GROUP_DEFAULT_LEN], b[GROUP_DEFAULT_LEN], c[GROUP_DEFAULT_LEN];
    group_default_name("How many  eggs?", a);
    group_default_name("  how MANY\n\teggs? ", b);
    group_default_name("How many eggs now?", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), GROUP_DEFAULT_LEN - 1);
    assert_memory_equal(a, "prompt:", 7);
}

/* Distinct texts in order of first appearance, capped: a huge group costs
 * no more than its first GROUP_SAMPLES_MAX. */
static void test_view_dedupes_and_caps(void **state)
{
    (void)state;
    static char texts[100][16];
    struct group_view v;
    group_view_init(&v);
    assert_int_equal(group_view_add(&v, "A: 1"), 1);
    assert_int_equal(group_view_add(&v, "A: 1"), 0);
    assert_int_equal(group_view_add(&v, NULL), 0);
    assert_int_equal(group_view_add(&v, "A: 2"), 1);
    assert_int_equal(group_view_others(&v, "A: 1", NULL), 1);
    assert_int_equal(group_view_others(&v, "A: 1", "A: 2"), 0);
    assert_int_equal(group_view_others(&v, "A: 3", NULL), 2);
    for (int i = 0; i < 100; i++) {
        snprintf(texts[i], sizeof texts[i], "A: %d", i + 10);
        group_view_add(&v, texts[i]);
    }
    assert_int_equal(v.n, GROUP_SAMPLES_MAX);
    assert_true(v.full);
    assert_true(group_view_has(&v, texts[GROUP_SAMPLES_MAX - 3]));
    assert_false(group_view_has(&v, texts[GROUP_SAMPLES_MAX - 2]));
    assert_string_equal(v.s[0], "A: 1");
}

/* A response's agreement counts the group's other samples, never itself. */
static void test_check_against_the_group(void **state)
{
    (void)state;
    struct group_view v;
    struct check_result r;
    group_view_init(&v);
    const char *s[] = {"So 9 * 2 = 18.\nA: 18", "A: 18", "#### 18", "A: 26"};
    for (size_t i = 0; i < 4; i++)
        group_view_add(&v, s[i]);
    assert_int_equal(group_check("16 eggs, $2 each", &v, s[0], &r), 0);
    assert_true(r.v[CHECK_AGREE_SHARE] == 2.0 / 3.0);
    assert_true(r.v[CHECK_AGREE_IN_TOP] == 1);
    assert_int_equal(group_check("16 eggs, $2 each", &v, s[3], &r), 0);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0);
    /* A text outside the view: every sample is another. */
    assert_int_equal(group_check("16 eggs, $2 each", &v, "A: 18.00", &r), 0);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0.75);
    assert_int_equal(group_check(NULL, &v, s[0], &r), -EINVAL);
}

/* The daemon's view of a question (its stored samples) gives each side the
 * block that training gives it from the question's labelled pairs. */
static void test_same_block_as_training(void **state)
{
    (void)state;
    const char *q = "Janet has 16 eggs, eats 3, bakes with 4 and sells the rest at $2. How much?";
    const char *sol[] = {"16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n9 * 2 = $<<9*2=18>>18\nA: 18",
                         "16 - 3 = <<16-3=13>>13\n13 * 2 = <<13*2=26>>26\nA: 26",
                         "She sells 16 - 7 = 9 eggs for 9 * 2 = 18 dollars.\nA: 18",
                         "16 * 2 = <<16*2=32>>32\nA: 32"};
    /* Pairs right vs wrong, as the GSM8K reader makes them. */
    struct reward_pair_ex pairs[] = {{q, sol[0], sol[1], 1, 1, 0},
                                     {q, sol[0], sol[3], 1, 1, 0},
                                     {q, sol[2], sol[1], 1, 1, 0},
                                     {q, sol[2], sol[3], 1, 1, 0}};
    struct reward_check_table t;
    assert_int_equal(reward_check_pairs(pairs, 4, 0, 0, &t), 0);
    /* Stored in the order the pairs first hold them. */
    const char *samples[] = {sol[0], sol[1], sol[3], sol[2]};
    for (size_t i = 0; i < 4; i++) {
        float got[2][REWARD_CHECK_NFEAT];
        const char *texts[2] = {pairs[i].a, pairs[i].b};
        assert_int_equal(reward_check_group(q, samples, 4, texts, 2, got), 0);
        assert_memory_equal(got[0], t.v[t.side[2 * i]], sizeof got[0]);
        assert_memory_equal(got[1], t.v[t.side[2 * i + 1]], sizeof got[1]);
    }
    reward_check_table_free(&t);
    /* A lone pair: the table's lone view is the group {a, b}. */
    assert_int_equal(reward_check_pairs(pairs, 1, 0, 1, &t), 0);
    float lone[2][REWARD_CHECK_NFEAT];
    const char *ab[2] = {sol[0], sol[1]};
    assert_int_equal(reward_check_group(q, ab, 2, ab, 2, lone), 0);
    assert_memory_equal(lone[0], t.v[t.side[0]], sizeof lone[0]);
    assert_memory_equal(lone[1], t.v[t.side[1]], sizeof lone[1]);
    reward_check_table_free(&t);
    assert_int_equal(reward_check_group(q, ab, 2, ab, 3, lone), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_name_normalises_the_prompt),
        cmocka_unit_test(test_view_dedupes_and_caps),
        cmocka_unit_test(test_check_against_the_group),
        cmocka_unit_test(test_same_block_as_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
