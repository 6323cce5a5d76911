/* test_check_group.c - the group signals: a sample's values, equations and
 * lines, and how a response compares with the other samples of its group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_group.h"
#include "reward_check.h"

static const char *const sol[] = {
    "16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n9 * 2 = $<<9*2=18>>18\nA: 18",
    "16 - 3 = <<16-3=13>>13\n13 * 2 = <<13*2=26>>26\nA: 26",
    "She sells 16 - 7 = 9 eggs\n\n   \nfor 9 * 2 = 18 dollars.\nA: 18",
    "16 * 2 = <<16*2=32>>32\nA: 32",
};

static void read_all(struct check_sample *s)
{
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(check_sample_read(sol[i], strlen(sol[i]), &s[i]), 0);
}

/* A sample: its answer, the distinct values its equations write (sorted,
 * each once however often written), its evaluated equations and its lines
 * with more than blanks. */
static void test_sample_read(void **state)
{
    (void)state;
    struct check_sample s[4];
    read_all(s);
    assert_int_equal(s[0].nval, 2);
    assert_true(s[0].val[0] == 9 && s[0].val[1] == 18);
    assert_true(s[0].eqs >= 2);
    assert_int_equal(s[0].lines, 3);
    assert_int_equal(s[2].lines, 3); /* the blank lines do not count */
    assert_true(s[2].nval == 2 && s[2].val[0] == 9 && s[2].val[1] == 18);
    assert_true(s[0].ans.numeric && s[0].ans.value == 18);
    /* A wrong equation's written value is what the sample computes. */
    struct check_sample w;
    assert_int_equal(check_sample_read("5 + 5 = 11\nA: 11", 16, &w), 0);
    assert_true(w.nval == 1 && w.val[0] == 11 && w.eqs == 1);
    /* Unevaluable equations are no step and give no value. */
    assert_int_equal(check_sample_read("5 / 0 = 3\nA: 3", 14, &w), 0);
    assert_true(w.nval == 0 && w.eqs == 0);
    assert_int_equal(check_sample_read(NULL, 0, &w), 0);
    assert_true(w.nval == 0 && w.eqs == 0 && w.lines == 0);
    assert_int_equal(check_sample_read(NULL, 3, &w), -EINVAL);
    assert_int_equal(check_sample_read("A: 1", 4, NULL), -EINVAL);
}

/* At most CHECK_SAMPLE_VALUES values are kept, the equations all counted. */
static void test_values_bounded(void **state)
{
    (void)state;
    static char text[8192];
    size_t n = 0;
    for (int i = 1; i <= 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d + 1 = %d\n", i, i + 1);
    struct check_sample s;
    assert_int_equal(check_sample_read(text, n, &s), 0);
    assert_int_equal(s.nval, CHECK_SAMPLE_VALUES);
    assert_int_equal(s.eqs, 100);
    assert_int_equal(s.lines, 100);
    for (size_t i = 1; i < s.nval; i++)
        assert_true(s.val[i - 1] < s.val[i]);
}

/* The response's features against the group's others (itself left out). */
static void test_features_against_others(void **state)
{
    (void)state;
    struct check_sample s[4], others[3];
    double f[CHECK_GROUP_NFEAT];
    read_all(s);
    /* sol[0] against the three others: sol[2] computes 9 and 18 too. */
    others[0] = s[1];
    others[1] = s[2];
    others[2] = s[3];
    check_group_features(&s[0], others, 3, f);
    assert_true(f[CHECK_GROUP_VALUES_SHARED] == 2);
    assert_true(f[CHECK_GROUP_ANSWER_SEEN] == 1);
    assert_true(f[CHECK_GROUP_ANSWER_FRAC] == 0);
    assert_true(f[CHECK_GROUP_STEPS_REL] == 1 && f[CHECK_GROUP_STEPS_MOST] == 1);
    assert_true(f[CHECK_GROUP_LINES_REL] == 1);
    /* sol[3]: one step, two lines, shares nothing, its 32 computed by none. */
    others[2] = s[0];
    check_group_features(&s[3], others, 3, f);
    assert_true(f[CHECK_GROUP_VALUES_SHARED] == 0 && f[CHECK_GROUP_ANSWER_SEEN] == 0);
    assert_true(f[CHECK_GROUP_STEPS_REL] == (double)s[3].eqs / s[0].eqs);
    assert_true(f[CHECK_GROUP_STEPS_REL] < 1 && f[CHECK_GROUP_STEPS_MOST] == 0);
    assert_true(f[CHECK_GROUP_LINES_REL] == 2.0 / 3.0);
    /* Alone: compared with itself. */
    check_group_features(&s[3], NULL, 0, f);
    assert_true(f[CHECK_GROUP_STEPS_REL] == 1 && f[CHECK_GROUP_STEPS_MOST] == 1);
    assert_true(f[CHECK_GROUP_LINES_REL] == 1 && f[CHECK_GROUP_VALUES_SHARED] == 0);
    /* Nothing to count: no steps, no lines. */
    struct check_sample empty;
    assert_int_equal(check_sample_read("", 0, &empty), 0);
    check_group_features(&empty, &empty, 1, f);
    assert_true(f[CHECK_GROUP_STEPS_REL] == 0 && f[CHECK_GROUP_LINES_REL] == 0);
}

/* Blob version 5's three: an answer that is the last equation's result;
 * and, between samples with different answers, the one whose answer the
 * other computes on the way (it stopped) and the one that computes the
 * other's answer on the way (it went on). */
static void test_stopped_and_went_on(void **state)
{
    (void)state;
    static const char *const t[] = {
        "3 + 4 = <<3+4=7>>7\n7 * 2 = <<7*2=14>>14\nA: 14", /* went on from 7 */
        "3 + 4 = <<3+4=7>>7 apples\nA: 7",                 /* stopped at 7 */
        "3 + 4 = <<3+4=7>>7\n7 * 2 = <<7*2=14>>14\nA: 28", /* 28 is no result of its */
        "3 * 4 = <<3*4=12>>12\nA: 12",                     /* shares nothing */
        "7 * 2 = <<7*2=14>>14\nA: 14",                     /* agrees with t[0] */
    };
    struct check_sample s[5];
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(check_sample_read(t[i], strlen(t[i]), &s[i]), 0);
    assert_true(s[0].has_last && s[0].last == 14 && s[1].last == 7);
    double f[CHECK_GROUP_NFEAT];
    struct check_sample o[4] = {s[1], s[2], s[3], s[4]};
    check_group_features(&s[0], o, 4, f);
    assert_true(f[CHECK_GROUP_ANSWER_LAST] == 1);
    /* s[2] computes 14 with another answer: 14 was passed once; s[4]
     * agrees, so its 14 does not count. s[0] computes s[1]'s 7. */
    assert_true(f[CHECK_GROUP_ANSWER_PASSED] == 1 && f[CHECK_GROUP_PASSES] == 1);
    struct check_sample o1[2] = {s[0], s[2]};
    check_group_features(&s[1], o1, 2, f);
    assert_true(f[CHECK_GROUP_ANSWER_LAST] == 1);
    assert_true(f[CHECK_GROUP_ANSWER_PASSED] == 1 && f[CHECK_GROUP_PASSES] == 0); /* twice */
    check_group_features(&s[2], o1, 1, f); /* against s[0]: computes its 14 */
    assert_true(f[CHECK_GROUP_ANSWER_LAST] == 0 && f[CHECK_GROUP_PASSES] == 1);
    check_group_features(&s[3], o, 4, f);
    assert_true(f[CHECK_GROUP_ANSWER_PASSED] == 0 && f[CHECK_GROUP_PASSES] == 0);
    /* No numeric answer, or no equation: none of the three. */
    struct check_sample w;
    assert_int_equal(check_sample_read("7 + 7 = 14\nA: blue", 19, &w), 0);
    check_group_features(&w, s, 5, f);
    assert_true(f[CHECK_GROUP_ANSWER_LAST] == 0 && f[CHECK_GROUP_ANSWER_PASSED] == 0 &&
                f[CHECK_GROUP_PASSES] == 0);
    assert_int_equal(check_sample_read("A: 14", 5, &w), 0);
    assert_false(w.has_last);
    check_group_features(&w, s, 1, f);
    assert_true(f[CHECK_GROUP_ANSWER_LAST] == 0 && f[CHECK_GROUP_PASSES] == 0);
    assert_string_equal(check_group_feat_name[CHECK_GROUP_PASSES], "passes");
    assert_int_equal(CHECK_GROUP_ANSWER_LAST, CHECK_GROUP_NFEAT_V4);
}

/* A numeric answer that is no whole number; a percent or text is not. */
static void test_answer_frac(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int frac;
    } cases[] = {{"A: 2.5", 1},   {"A: 3/4", 1},  {"A: 18", 0},    {"A: 1,200.00", 0},
                 {"A: 12.5%", 0}, {"A: blue", 0}, {"no answer", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct check_sample s;
        double f[CHECK_GROUP_NFEAT];
        assert_int_equal(check_sample_read(cases[i].text, strlen(cases[i].text), &s), 0);
        check_group_features(&s, NULL, 0, f);
        assert_true(f[CHECK_GROUP_ANSWER_FRAC] == cases[i].frac);
    }
    for (size_t k = 0; k < CHECK_GROUP_NFEAT; k++)
        assert_non_null(check_group_feat_name[k]);
    assert_string_equal(check_group_feat_name[CHECK_GROUP_VALUES_SHARED], "values_shared");
}

/* Blob version 6's count: the results of a sample's equations that no
 * later equation reads, but its last equation's and its answer (a step
 * whose result leads nowhere). */
static void test_unused_results(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned unused;
    } cases[] = {
        /* a chain: each result read by the next equation */
        {"16 - 3 = <<16-3=13>>13\n13 * 2 = <<13*2=26>>26\nA: 26", 0},
        /* 7 leads nowhere */
        {"3 + 4 = <<3+4=7>>7\n5 * 2 = <<5*2=10>>10\n10 + 1 = <<10+1=11>>11\nA: 11", 1},
        /* 4 and 6 lead nowhere; 25 is the last result */
        {"2 + 2 = <<2+2=4>>4\n3 + 3 = <<3+3=6>>6\n5 * 5 = <<5*5=25>>25\nA: 25", 2},
        /* the answer is a result read by none: not counted; 6 is the last */
        {"2 * 5 = <<2*5=10>>10\n3 + 3 = <<3+3=6>>6\nA: 10", 0},
        /* inline equations read as annotations do */
        {"She has 16 - 3 = 13 eggs, and 13 * 2 = 26 dollars.\nA: 26", 0},
        /* written with commas and '$' */
        {"1,000 + 200 = <<1000+200=1200>>1,200\n$1,200 * 2 = <<1200*2=2400>>2400\nA: 2400", 0},
        /* a negative result is read by its magnitude */
        {"1000 - 1200 = <<1000-1200=-200>>-200\n200 * 3 = <<200*3=600>>600\nA: 600", 0},
        /* a result computed twice is one result; read once is enough */
        {"2 + 3 = <<2+3=5>>5\n1 + 4 = <<1+4=5>>5\n5 * 2 = <<5*2=10>>10\nA: 10", 0},
        /* an earlier result read only by an unevaluable equation leads nowhere */
        {"2 + 3 = <<2+3=5>>5\n5 / 0 = 7\n4 * 2 = <<4*2=8>>8\nA: 8", 1},
        /* a number in prose is no reading: only equations read */
        {"2 + 3 = <<2+3=5>>5 apples, so 5 left\n4 * 2 = <<4*2=8>>8\nA: 8", 1},
        /* no equations, no answer */
        {"A: 3", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct check_sample s;
        double f[CHECK_GROUP_NFEAT];
        assert_int_equal(check_sample_read(cases[i].text, strlen(cases[i].text), &s), 0);
        if (s.unused != cases[i].unused)
            fail_msg("case %zu: unused %u, want %u", i, s.unused, cases[i].unused);
        check_group_features(&s, NULL, 0, f);
        assert_true(f[CHECK_GROUP_UNUSED] == cases[i].unused);
    }
    /* A long chain reads every result; a hundred unrelated steps count at
     * most the kept values. */
    static char text[8192];
    size_t n = 0;
    for (int i = 1; i <= 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d + 1 = %d\n", i, i + 1);
    struct check_sample s;
    assert_int_equal(check_sample_read(text, n, &s), 0);
    assert_int_equal(s.unused, 0);
    n = 0;
    for (int i = 1; i <= 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d * 3 = %d\n", 1000 + 7 * i,
                              3 * (1000 + 7 * i));
    assert_int_equal(check_sample_read(text, n, &s), 0);
    assert_int_equal(s.unused, CHECK_SAMPLE_VALUES);
    /* In the block: squashed to x / (1 + x) and scaled by 4. */
    float out[REWARD_CHECK_NFEAT];
    assert_int_equal(reward_check_single("?", cases[1].text, out), 0);
    assert_true(out[CHECK_NFEAT + CHECK_GROUP_UNUSED] == 2.0f);
    assert_string_equal(reward_check_feat_name(CHECK_NFEAT + CHECK_GROUP_UNUSED), "unused");
    assert_int_equal(CHECK_GROUP_UNUSED, CHECK_GROUP_NFEAT_V5);
    assert_int_equal(REWARD_CHECK_NFEAT_V6, REWARD_CHECK_NFEAT_V5 + 2);
}

/* Blob version 6's agreement of the careful: the share of the others that
 * share its answer and reach it as their own last equation's result. */
static void test_agree_last(void **state)
{
    (void)state;
    static const char *const t[] = {
        "3 + 4 = <<3+4=7>>7\n7 * 2 = <<7*2=14>>14\nA: 14",     /* 14, its last result */
        "7 * 2 = <<7*2=14>>14\nA: 14",                         /* 14, its last result */
        "2 * 7 = <<2*7=14>>14\n14 * 4 = <<14*4=56>>56\nA: 14", /* 14, not its last */
        "A: 14",                                               /* 14, no equation */
        "3 * 4 = <<3*4=12>>12\nA: 12",                         /* another answer */
    };
    struct check_sample s[5];
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(check_sample_read(t[i], strlen(t[i]), &s[i]), 0);
    double f[CHECK_GROUP_NFEAT];
    struct check_sample o0[4] = {s[1], s[2], s[3], s[4]};
    check_group_features(&s[0], o0, 4, f); /* only s[1] counts */
    assert_true(f[CHECK_GROUP_AGREE_LAST] == 0.25);
    struct check_sample o2[4] = {s[0], s[1], s[3], s[4]};
    check_group_features(&s[2], o2, 4, f); /* its own carelessness does not matter */
    assert_true(f[CHECK_GROUP_AGREE_LAST] == 0.5);
    struct check_sample o4[4] = {s[0], s[1], s[2], s[3]};
    check_group_features(&s[4], o4, 4, f); /* nobody shares 12 */
    assert_true(f[CHECK_GROUP_AGREE_LAST] == 0);
    check_group_features(&s[0], NULL, 0, f); /* alone */
    assert_true(f[CHECK_GROUP_AGREE_LAST] == 0);
    /* Text answers are no results. */
    struct check_sample w[2];
    assert_int_equal(check_sample_read("7 + 7 = 14\nA: blue", 19, &w[0]), 0);
    assert_int_equal(check_sample_read("7 + 7 = 14\nA: blue", 19, &w[1]), 0);
    check_group_features(&w[0], &w[1], 1, f);
    assert_true(f[CHECK_GROUP_AGREE_LAST] == 0);
    assert_string_equal(check_group_feat_name[CHECK_GROUP_AGREE_LAST], "agree_last");
}

/* Blob version 7's steps off the path: the equations whose result is
 * none of the results its answer's derivation rests on (the last equation
 * giving its answer, the earlier ones whose results that one reads, and
 * theirs), all of them when the answer is no equation's result. */
static void test_off_path(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        unsigned off, unused;
    } cases[] = {
        /* a chain */
        {"<<16-3=13>>13 left\n<<13*2=26>>26\nA: 26", 0, 0},
        /* 7 leads nowhere */
        {"<<3+4=7>>7\n<<5*2=10>>10\n<<10+1=11>>11\nA: 11", 1, 1},
        /* 10 reads 5, but the answer reads neither: both off, one unused */
        {"<<2+3=5>>5\n<<5*2=10>>10\n<<4*4=16>>16\n<<16+1=17>>17\nA: 17", 2, 1},
        /* the answer is no result: every step is off */
        {"<<2+3=5>>5\n<<5*2=10>>10\nA: 7", 2, 0},
        /* the answer is an earlier result: what follows it is off */
        {"<<2+3=5>>5\n<<5*2=10>>10\nA: 5", 1, 0},
        /* a result computed twice is on the path once read */
        {"<<2+3=5>>5\n<<1+4=5>>5\n<<5*2=10>>10\nA: 10", 0, 0},
        /* inline equations link as annotations do; the inline twin of an
         * annotation has the same result */
        {"She has 16 - 3 = <<16-3=13>>13 eggs, so 13 * 2 = <<13*2=26>>26.\nA: 26", 0, 0},
        /* a negative result is read by its magnitude */
        {"<<1000-1200=-200>>-200\n<<200*3=600>>600\nA: 600", 0, 0},
        /* no equations */
        {"A: 3", 0, 0},
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct check_sample s;
        double f[CHECK_GROUP_NFEAT];
        assert_int_equal(check_sample_read(cases[i].text, strlen(cases[i].text), &s), 0);
        if (s.off_path != cases[i].off || s.unused != cases[i].unused)
            fail_msg("case %zu: off_path %u unused %u, want %u %u", i, s.off_path, s.unused,
                     cases[i].off, cases[i].unused);
        check_group_features(&s, NULL, 0, f);
        assert_true(f[CHECK_GROUP_OFF_PATH] == cases[i].off);
    }
    /* Past CHECK_SAMPLE_VALUES equations the rest are not looked at. */
    static char text[8192];
    size_t n = 0;
    for (int i = 1; i <= 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "<<%d*3=%d>>\n", 1000 + 7 * i,
                              3 * (1000 + 7 * i));
    n += (size_t)snprintf(text + n, sizeof text - n, "A: 1");
    struct check_sample s;
    assert_int_equal(check_sample_read(text, n, &s), 0);
    assert_int_equal(s.eqs, 100);
    assert_int_equal(s.off_path, CHECK_SAMPLE_VALUES);
    /* In the block: squashed to x / (1 + x) and scaled by 4. */
    float out[REWARD_CHECK_NFEAT];
    assert_int_equal(reward_check_single("?", cases[2].text, out), 0);
    assert_true(fabsf(out[CHECK_NFEAT + CHECK_GROUP_OFF_PATH] - 8.0f / 3.0f) < 1e-6f);
    assert_string_equal(reward_check_feat_name(CHECK_NFEAT + CHECK_GROUP_OFF_PATH), "off_path");
    assert_int_equal(CHECK_GROUP_OFF_PATH, CHECK_GROUP_NFEAT_V6);
    assert_int_equal(REWARD_CHECK_NFEAT, REWARD_CHECK_NFEAT_V6 + 2);
}

/* A derivation that reads every number of the prompt (check_prompt_init's:
 * digits and number words), and the agreement of samples that have one. */
static void test_full_derivation(void **state)
{
    (void)state;
    static const char q[] = "Tom has three boxes of 4 apples and eats 5 of them.";
    struct check_prompt p;
    assert_int_equal(check_prompt_init(&p, q, strlen(q)), 0);
    static const struct {
        const char *text;
        int full, full_alone;
    } cases[] = {
        {"<<3*4=12>>12\n<<12-5=7>>7\nA: 7", 1, 1},               /* reads 3, 4 and 5 */
        {"<<3*4=12>>12\nA: 12", 0, 1},                           /* 5 unread */
        {"<<3*4=12>>12\n<<5+1=6>>6\nA: 12", 0, 1},               /* 5 read off the path */
        {"<<3*4=12>>12\n<<12-5=7>>7\nA: 8", 0, 0},               /* no derivation */
        {"<<4*3=12>>12 apples\n<<$12-$5=7>>7 left\nA: 7", 1, 1}, /* any order, '$' */
        {"A: 7", 0, 0},
    };
    struct check_sample s[6];
    for (size_t i = 0; i < 6; i++) {
        const char *t = cases[i].text;
        assert_int_equal(check_sample_read_prompt(t, strlen(t), &p, &s[i]), 0);
        if (s[i].full != cases[i].full)
            fail_msg("case %zu: full %d, want %d", i, s[i].full, cases[i].full);
        struct check_sample alone; /* without the prompt: a prompt without numbers */
        assert_int_equal(check_sample_read(t, strlen(t), &alone), 0);
        assert_int_equal(alone.full, cases[i].full_alone);
        assert_int_equal(alone.off_path, s[i].off_path);
    }
    /* Of s[0]'s others, s[4] answers 7 by a full derivation, s[3] and s[5]
     * answer otherwise or by none: 1 of 5. */
    double f[CHECK_GROUP_NFEAT];
    struct check_sample o0[5] = {s[1], s[2], s[3], s[4], s[5]};
    check_group_features(&s[0], o0, 5, f);
    assert_true(f[CHECK_GROUP_AGREE_FULL] == 0.2);
    struct check_sample o5[5] = {s[0], s[1], s[2], s[3], s[4]};
    check_group_features(&s[5], o5, 5, f); /* its own derivation does not matter */
    assert_true(f[CHECK_GROUP_AGREE_FULL] == 0.4);
    struct check_sample o1[2] = {s[0], s[2]}; /* s[2] shares 12, but not in full */
    check_group_features(&s[1], o1, 2, f);
    assert_true(f[CHECK_GROUP_AGREE_FULL] == 0);
    check_group_features(&s[0], NULL, 0, f); /* alone */
    assert_true(f[CHECK_GROUP_AGREE_FULL] == 0);
    assert_string_equal(check_group_feat_name[CHECK_GROUP_AGREE_FULL], "agree_full");
    assert_int_equal(check_sample_read_prompt(NULL, 1, &p, &s[0]), -EINVAL);
    assert_int_equal(check_sample_read_prompt("A: 1", 4, &p, NULL), -EINVAL);
}

/* One text scored alone gets the whole block: the group features of a
 * group of one, scaled like the rest (4), after the checkers' own. */
static void test_single_block(void **state)
{
    (void)state;
    float out[REWARD_CHECK_NFEAT];
    for (size_t k = 0; k < REWARD_CHECK_NFEAT; k++)
        out[k] = -99.0f;
    assert_int_equal(reward_check_single("16 eggs?", sol[0], out), 0);
    float *g = out + CHECK_NFEAT;
    assert_true(g[CHECK_GROUP_VALUES_SHARED] == 0 && g[CHECK_GROUP_ANSWER_SEEN] == 0);
    assert_true(g[CHECK_GROUP_STEPS_REL] == 4 && g[CHECK_GROUP_STEPS_MOST] == 4);
    assert_true(g[CHECK_GROUP_LINES_REL] == 4 && g[CHECK_GROUP_ANSWER_FRAC] == 0);
    for (size_t k = 0; k < REWARD_CHECK_NFEAT; k++)
        assert_true(out[k] != -99.0f);
    assert_string_equal(reward_check_feat_name(CHECK_NFEAT), "values_shared");
    assert_string_equal(reward_check_feat_name(0), check_feat_name[0]);
}

/* Two values are one within 1e-6 relative (of the larger, at least 1). */
static int near_same(double a, double b)
{
    double m = fmax(fmax(fabs(a), fabs(b)), 1.0);
    return fabs(a - b) <= 1e-6 * m;
}

/* A random sorted sample: values around a few bases, some within 1e-6
 * relative of each other and some just outside it (as add_value keeps
 * them: a value the same as one kept is dropped). */
static void random_sample(struct check_sample *s, uint64_t *seed)
{
    static const double base[] = {0.0, 1.0, 2.5, 12.0, -3.0, 1000.0, 65536.0, 1e9};
    static const double jitter[] = {0.0, 4e-7, -4e-7, 9e-7, -9e-7, 1.5e-6, -1.5e-6, 3e-6};
    memset(s, 0, sizeof(*s));
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t want = (*seed >> 33) % 12;
    for (size_t t = 0; t < want; t++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        double b = base[(*seed >> 40) % 8], v = b + jitter[(*seed >> 50) % 8] * fmax(fabs(b), 1.0);
        int dup = 0;
        for (size_t i = 0; i < s->nval; i++)
            dup |= near_same(s->val[i], v);
        if (dup || s->nval == CHECK_SAMPLE_VALUES)
            continue;
        size_t i = s->nval++;
        for (; i > 0 && s->val[i - 1] > v; i--)
            s->val[i] = s->val[i - 1];
        s->val[i] = v;
    }
    s->ans.numeric = s->nval > 0;
    s->ans.value = s->nval ? s->val[(*seed >> 20) % s->nval] * (1.0 + 5e-7) : 0.0;
}

/* values_shared and answer_seen as the values compared one by one give
 * them, on random samples with values at the 1e-6 edge. */
static void test_shared_values_edges(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    struct check_sample self, others[3];
    for (int round = 0; round < 20000; round++) {
        random_sample(&self, &seed);
        for (int j = 0; j < 3; j++)
            random_sample(&others[j], &seed);
        unsigned shared = 0;
        int seen = 0;
        for (size_t i = 0; i < self.nval; i++) {
            int any = 0;
            for (int j = 0; j < 3; j++)
                for (size_t k = 0; k < others[j].nval; k++)
                    any |= near_same(self.val[i], others[j].val[k]);
            shared += (unsigned)any;
        }
        for (int j = 0; j < 3 && self.ans.numeric; j++)
            for (size_t k = 0; k < others[j].nval; k++)
                seen |= near_same(self.ans.value, others[j].val[k]);
        double out[CHECK_GROUP_NFEAT];
        check_group_features(&self, others, 3, out);
        assert_true(out[CHECK_GROUP_VALUES_SHARED] == (double)shared);
        assert_true(out[CHECK_GROUP_ANSWER_SEEN] == (double)seen);
    }
}

/* Lines holding more than blanks, counted byte by byte. */
static unsigned lines_ref(const char *s, size_t len)
{
    unsigned n = 0;
    int filled = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n') {
            n += (unsigned)filled;
            filled = 0;
        } else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            filled = 1;
        }
    }
    return n + (unsigned)filled;
}

/* check_sample.lines on edge texts and random texts of blanks, newlines,
 * NULs and letters, each in a buffer of exactly its length. */
static void test_lines_edges(void **state)
{
    (void)state;
    static const char alphabet[] = {' ', '\t', '\r', '\n', 'a', '\0', '\n', ' '};
    static const char *const edge[] = {
        "", "\n", "a", " \t\r", "\n\n", " \t\r\n x", "a\n\n  \nb\r\n"};
    static const unsigned want[] = {0, 0, 1, 0, 0, 1, 2};
    struct check_sample smp;
    for (size_t k = 0; k < sizeof(edge) / sizeof(edge[0]); k++) {
        assert_int_equal(check_sample_read(edge[k], strlen(edge[k]), &smp), 0);
        assert_int_equal(smp.lines, want[k]);
    }
    uint64_t seed = 99;
    for (int round = 0; round < 5000; round++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t len = (seed >> 33) % 40;
        char *t = malloc(len ? len : 1);
        assert_non_null(t);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            t[i] = alphabet[(seed >> 40) % 8];
        }
        assert_int_equal(check_sample_read(t, len, &smp), 0);
        assert_int_equal(smp.lines, lines_ref(t, len));
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_read),
        cmocka_unit_test(test_values_bounded),
        cmocka_unit_test(test_features_against_others),
        cmocka_unit_test(test_answer_frac),
        cmocka_unit_test(test_stopped_and_went_on),
        cmocka_unit_test(test_unused_results),
        cmocka_unit_test(test_agree_last),
        cmocka_unit_test(test_off_path),
        cmocka_unit_test(test_full_derivation),
        cmocka_unit_test(test_single_block),
        cmocka_unit_test(test_shared_values_edges),
        cmocka_unit_test(test_lines_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
