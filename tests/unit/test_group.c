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

#define KEPT_MAX_TEST CHECK_GROUP_DEFAULT /* the samples reward_check_group keeps */

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

/* Each side of pairs[0..n) gets from reward_check_group with the stored
 * samples[0..ns) the block training gives it (reward_check_pairs). */
static void assert_blocks_as_training(const char *q, const struct reward_pair_ex *pairs, size_t n,
                                      const char *const *samples, size_t ns)
{
    struct reward_check_table t;
    assert_int_equal(reward_check_pairs(pairs, n, 0, 0, &t), 0);
    for (size_t i = 0; i < n; i++) {
        float got[2][REWARD_CHECK_NFEAT];
        const char *texts[2] = {pairs[i].a, pairs[i].b};
        assert_int_equal(reward_check_group(q, samples, ns, texts, 2, got), 0);
        assert_memory_equal(got[0], t.v[t.side[2 * i]], sizeof got[0]);
        assert_memory_equal(got[1], t.v[t.side[2 * i + 1]], sizeof got[1]);
    }
    reward_check_table_free(&t);
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
    /* Stored in the order the pairs first hold them. */
    const char *samples[] = {sol[0], sol[1], sol[3], sol[2]};
    assert_blocks_as_training(q, pairs, 4, samples, 4);
    struct reward_check_table t;
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

/* Sample i of a large group: answers the same within 1e-6, written
 * otherwise, of text, and absent (no number at all). */
static void large_sample(char *buf, size_t size, size_t i)
{
    const char *answer[] = {"18", "18.0000001", "$18", "26", "26.5", "eighteen", NULL, "18"};
    if (!answer[i % 8])
        snprintf(buf, size, "I cannot say (%c%c).", 'a' + (int)(i % 26), 'a' + (int)(i / 26));
    else
        snprintf(buf, size, "Line %zu: 3 * 6 = %d\nA: %s", i, i % 3 ? 18 : 16, answer[i % 8]);
}

/* So too in a group of 40 (the scored texts' clusters counted once for
 * the group). */
static void test_large_group_same_as_training(void **state)
{
    (void)state;
    const char *q = "Sam has 3 boxes of 6 pens. How many pens?";
    static char text[40][96];
    const char *samples[40];
    struct reward_pair_ex pairs[20];
    for (size_t i = 0; i < 40; i++) {
        large_sample(text[i], sizeof text[i], i);
        samples[i] = text[i];
    }
    for (size_t i = 0; i < 20; i++)
        pairs[i] = (struct reward_pair_ex){q, samples[2 * i], samples[2 * i + 1], 1, 1, 0};
    assert_blocks_as_training(q, pairs, 20, samples, 40);
}

/* The block reward_check_group gives text x against group g[0..n) (x not
 * in it, n <= 16) is the one it gives x when the group holds x twice more
 * (both left out, x's clusters counted by check_agree). */
static void assert_outside_as_twice(const char *q, const char *const *g, size_t n, const char *x)
{
    const char *twice[18];
    float a[2][REWARD_CHECK_NFEAT], b[2][REWARD_CHECK_NFEAT];
    const char *texts[2] = {x, g[0]};
    memcpy(twice, g, n * sizeof *g);
    twice[n] = twice[n + 1] = x;
    assert_int_equal(reward_check_group(q, g, n, texts, 2, a), 0);
    assert_int_equal(reward_check_group(q, twice, n + 2, texts, 2, b), 0);
    assert_memory_equal(a[0], b[0], sizeof a[0]);
}

/* A scored text outside its group (its clusters counted from the group's)
 * gets the block it gets by check_agree's count: with others of each size,
 * with and without answers, when no sample has an answer, and when it
 * equals a sample that equals more than it does (1e6 and 1e6 + 1.8 are
 * both the same as 1e6 + 0.9, not as each other). The group's own texts
 * get check_agree's count too, when none has an answer. */
static void test_text_outside_the_group(void **state)
{
    (void)state;
    const char *q = "Sam has 3 boxes of 6 pens. How many pens?";
    static char text[48][96];
    const char *g[48], *none[5];
    size_t nn = 0;
    for (size_t i = 0; i < 48; i++) {
        large_sample(text[i], sizeof text[i], i);
        g[i] = text[i];
        if (i % 8 == 6 && nn < 5)
            none[nn++] = text[i];
    }
    for (size_t n = 1; n <= 46; n += 9) {
        const char *rest[16];
        for (size_t k = 0; k < 16 && n > 16; k++)
            rest[k] = g[k * n / 16]; /* 16 of a larger group's first n */
        assert_outside_as_twice(q, n > 16 ? rest : g, n > 16 ? 16 : n, g[n]);
        assert_outside_as_twice(q, n > 16 ? rest : g, n > 16 ? 16 : n, g[n + 1]);
    }
    assert_outside_as_twice(q, none, 5, text[0]);
    assert_outside_as_twice(q, none, 5, text[46]); /* no answer either */
    const char *chain[4] = {"A: 1000000.9", "A: 1000001.8", "So 1000001.8\nA: 1000001.8",
                            "#### 1000001.8"};
    assert_outside_as_twice(q, chain, 4, "A: 1000000");
    /* In the group: its own clusters, when no sample has an answer. */
    float a[2][REWARD_CHECK_NFEAT], b[2][REWARD_CHECK_NFEAT];
    const char *twice[6] = {none[0], none[1], none[2], none[3], none[4], none[0]};
    assert_int_equal(reward_check_group(q, none, 5, none, 2, a), 0);
    assert_int_equal(reward_check_group(q, twice, 6, none, 2, b), 0);
    assert_memory_equal(a[0], b[0], sizeof a[0]);
}

/* A text outside a full group (KEPT_MAX samples) is compared, as
 * check_agree does, with the first KEPT_MAX - 1 only: the last sample,
 * the only one with its answer, is not counted, so its agreement is that
 * of the group less the last sample. */
static void test_text_outside_a_full_group(void **state)
{
    (void)state;
    const char *q = "Sam has 3 boxes of 6 pens. How many pens?";
    static char text[KEPT_MAX_TEST][64];
    const char *g[KEPT_MAX_TEST];
    for (size_t i = 0; i < KEPT_MAX_TEST; i++) {
        snprintf(text[i], sizeof text[i], "Line %zu: 3 * 6 = 18\nA: %zu", i,
                 i + 1 < KEPT_MAX_TEST ? 100 + i : 7);
        g[i] = text[i];
    }
    const char *texts[2] = {"So it is 7.\nA: 7", g[0]};
    float full[2][REWARD_CHECK_NFEAT], less[2][REWARD_CHECK_NFEAT];
    assert_int_equal(reward_check_group(q, g, KEPT_MAX_TEST, texts, 2, full), 0);
    assert_int_equal(reward_check_group(q, g, KEPT_MAX_TEST - 1, texts, 2, less), 0);
    assert_true(full[0][CHECK_AGREE_SHARE] == 0);
    assert_true(full[0][CHECK_AGREE_SHARE] == less[0][CHECK_AGREE_SHARE]);
    assert_true(full[0][CHECK_AGREE_TOP_SHARE] == less[0][CHECK_AGREE_TOP_SHARE]);
    assert_true(full[0][CHECK_AGREE_IN_TOP] == less[0][CHECK_AGREE_IN_TOP]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_name_normalises_the_prompt),
        cmocka_unit_test(test_view_dedupes_and_caps),
        cmocka_unit_test(test_check_against_the_group),
        cmocka_unit_test(test_same_block_as_training),
        cmocka_unit_test(test_large_group_same_as_training),
        cmocka_unit_test(test_text_outside_the_group),
        cmocka_unit_test(test_text_outside_a_full_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
