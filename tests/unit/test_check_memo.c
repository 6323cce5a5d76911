/* test_check_memo.c - the per-thread memo of read samples: what it gives is
 * what check_sample_read_prompt gives, a hit needs the same prompt and text
 * byte for byte, a slot's text is replaced when another lands on it, and
 * each thread has its own memo (freed when the thread ends: the ASan run
 * checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_group.h"
#include "check_memo.h"
#include "feat.h"
#include "reward_check.h"
#include "sample_assert.h"

/* The question the solutions answer, and its numbers. */
static const char *const question = "Tom has 3 apples and buys 4 more. How many now?";
static struct check_prompt qnums;

static int setup(void **state)
{
    (void)state;
    return check_prompt_init(&qnums, question, strlen(question));
}

/* check_sample_memo with the question. */
static int memo(const char *t, struct check_sample *s)
{
    return check_sample_memo(question, &qnums, t, t ? strlen(t) : 3, s);
}

/* check_sample_read_prompt with the question. */
static int read_q(const char *t, struct check_sample *s)
{
    return check_sample_read_prompt(t, strlen(t), &qnums, s);
}

static void counts(unsigned long long *hits, unsigned long long *misses)
{
    check_memo_counts(hits, misses);
}

/* A solution text of its own for i: equations, a final answer. */
static void solution(char *buf, size_t size, unsigned i)
{
    snprintf(buf, size, "%u + %u = <<%u+%u=%u>>%u apples.\n%u * 2 = %u\nA: %u", i, i + 3, i, i + 3,
             2 * i + 3, 2 * i + 3, 2 * i + 3, 4 * i + 6, 4 * i + 6);
}

/* Cold and warm, the memo gives check_sample_read_prompt's sample; the second
 * look is a hit, a failed read is not kept. */
static void test_same_as_read(void **state)
{
    (void)state;
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    for (unsigned i = 0; i < 200; i++) {
        char t[256];
        solution(t, sizeof t, i);
        struct check_sample want, cold, warm;
        assert_int_equal(read_q(t, &want), 0);
        assert_int_equal(memo(t, &cold), 0);
        assert_int_equal(memo(t, &warm), 0);
        assert_same_sample(&want, &cold);
        assert_same_sample(&want, &warm);
    }
    counts(&h1, &m1);
    assert_true(m1 - m0 == 200 && h1 - h0 >= 190); /* a later text may evict an earlier */
    struct check_sample s;
    assert_int_equal(memo(NULL, &s), -EINVAL);
    assert_int_equal(memo("A: 1", NULL), -EINVAL);
}

/* Texts of one set: CHECK_MEMO_WAYS of them all stay; one more each time
 * replaces the one used least lately, so cycling through WAYS + 1 of them
 * finds none; each look gives its own text's sample; a text that differs
 * in one byte is no hit. */
static void test_slot_shared(void **state)
{
    (void)state;
    enum { N = CHECK_MEMO_WAYS + 1 };
    char t[N][256];
    struct check_sample want[N], got;
    solution(t[0], sizeof t[0], 5000); /* texts no other test reads */
    size_t set = check_memo_slot(question, t[0], strlen(t[0]));
    for (unsigned i = 1, j = 5001; i < N; j++) {
        solution(t[i], sizeof t[i], j);
        if (check_memo_slot(question, t[i], strlen(t[i])) == set)
            i++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(read_q(t[i], &want[i]), 0);
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < N - 1; i++) {
            assert_int_equal(memo(t[i], &got), 0);
            assert_same_sample(&want[i], &got);
        }
    counts(&h1, &m1);
    assert_int_equal(m1 - m0, N - 1); /* each read once, then found */
    assert_int_equal(h1 - h0, 2 * (N - 1));
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < N; i++) {
            assert_int_equal(memo(t[(i + N - 1) % N], &got), 0); /* the one not kept first */
            assert_same_sample(&want[(i + N - 1) % N], &got);
        }
    counts(&h0, &m0);
    assert_int_equal(m0 - m1, 3 * N); /* each replaced the one used least lately */
    assert_int_equal(h0 - h1, 0);
    /* The same length, one byte changed: read, not taken from the slot. */
    char c[256];
    memcpy(c, t[1], sizeof c);
    c[strlen(c) - 1] = c[strlen(c) - 1] == '9' ? '8' : '9';
    struct check_sample wc;
    assert_int_equal(read_q(c, &wc), 0);
    assert_int_equal(memo(c, &got), 0);
    assert_same_sample(&wc, &got);
    assert_string_not_equal(want[1].ans.canon, got.ans.canon);
}

/* A slot keeps a new text in the buffer of the one it replaces when it
 * fits, else in a larger one: texts of one set, short and long (past any
 * buffer kept before) in turn, replace each other and each look gives its
 * own text's sample; a short text kept where a longer one was is no hit
 * for that longer one. */
static void test_slot_buffer_reused(void **state)
{
    (void)state;
    enum { N = CHECK_MEMO_WAYS + 1, CAP = 3000 };
    static char t[N][CAP];
    struct check_sample want[N], got;
    size_t set = 0;
    for (unsigned i = 0, j = 7000; i < N; j++) {
        int n = snprintf(t[i], CAP, "%u apples.\n", j);
        size_t pad = i % 2 ? 2000 + 37 * i : 0; /* long ones past 512 bytes */
        memset(t[i] + n, 'y', pad);
        snprintf(t[i] + n + pad, CAP - (size_t)n - pad, "\n%u + 4 = <<%u+4=%u>>%u\nA: %u", j, j,
                 j + 4, j + 4, j + 4);
        size_t k = check_memo_slot(question, t[i], strlen(t[i]));
        if (i == 0)
            set = k;
        if (k == set) {
            assert_int_equal(read_q(t[i], &want[i]), 0);
            i++;
        }
    }
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < N; i++) {
            assert_int_equal(memo(t[i], &got), 0);
            assert_same_sample(&want[i], &got);
        }
    counts(&h1, &m1);
    assert_int_equal(m1 - m0, 3 * N); /* each replaced the one used least lately */
    assert_int_equal(h1 - h0, 0);
    for (int i = N - CHECK_MEMO_WAYS; i < N; i++) { /* the last ones are kept */
        assert_int_equal(memo(t[i], &got), 0);
        assert_same_sample(&want[i], &got);
    }
    counts(&h0, &m0);
    assert_int_equal(h0 - h1, CHECK_MEMO_WAYS);
    assert_int_equal(m0 - m1, 0);
}

/* Texts past CHECK_MEMO_TEXT_MAX are read every time and not counted. */
static void test_long_text_not_kept(void **state)
{
    (void)state;
    size_t n = CHECK_MEMO_TEXT_MAX + 100;
    char *t = malloc(n + 1);
    assert_non_null(t);
    memset(t, 'x', n);
    memcpy(t + n - 8, "\nA: 42\n", 7);
    t[n - 1] = '\0';
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    struct check_sample want, got;
    assert_int_equal(read_q(t, &want), 0);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(memo(t, &got), 0);
        assert_same_sample(&want, &got);
    }
    counts(&h1, &m1);
    assert_true(h1 == h0 && m1 == m0);
    assert_true(got.ans.numeric && got.ans.value == 42);
    free(t);
}

/* The same text read with another prompt, or with none, is another key:
 * each look gives what that prompt's read gives (here the derivation
 * reads every number of the question, so the sample is "full" only with
 * it: 3 + 4 = 7 uses 3 and 4, not 5). */
static void test_prompt_is_key(void **state)
{
    (void)state;
    const char *t = "3 + 4 = <<3+4=7>>7 apples.\nA: 7";
    const char *other = "Tom has 5 apples. How many now?";
    struct check_prompt onums;
    assert_int_equal(check_prompt_init(&onums, other, strlen(other)), 0);
    struct check_sample wq, wo, wn, got;
    assert_int_equal(read_q(t, &wq), 0);
    assert_int_equal(check_sample_read_prompt(t, strlen(t), &onums, &wo), 0);
    assert_int_equal(check_sample_read_prompt(t, strlen(t), NULL, &wn), 0);
    assert_true(wq.full && !wo.full);
    for (int r = 0; r < 2; r++) {
        assert_int_equal(memo(t, &got), 0);
        assert_same_sample(&wq, &got);
        assert_int_equal(check_sample_memo(other, &onums, t, strlen(t), &got), 0);
        assert_same_sample(&wo, &got);
        assert_int_equal(check_sample_memo(NULL, NULL, t, strlen(t), &got), 0);
        assert_same_sample(&wn, &got);
    }
}

static void *other_thread(void *arg)
{
    unsigned long long *c = arg;
    char t[256];
    solution(t, sizeof t, 3);
    struct check_sample s;
    check_memo_counts(&c[0], &c[1]);
    if (memo(t, &s) || memo(t, &s))
        c[0] = 99;
    check_memo_counts(&c[2], &c[3]);
    return NULL;
}

/* Another thread starts with a memo of its own: the text this thread read
 * is a miss there first. */
static void test_per_thread(void **state)
{
    (void)state;
    char t[256];
    solution(t, sizeof t, 3);
    struct check_sample s;
    assert_int_equal(memo(t, &s), 0);
    unsigned long long c[4];
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, c), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(c[0] == 0 && c[1] == 0); /* a new memo */
    assert_true(c[2] == 1 && c[3] == 1); /* one miss, then one hit */
}

/* Scoring a pair with its group gives the same features when the group's
 * samples come from the memo as when they are read. */
static void test_group_features_same(void **state)
{
    (void)state;
    char texts[8][256];
    const char *samples[8];
    for (unsigned i = 0; i < 8; i++) {
        solution(texts[i], sizeof texts[i], 1000 + i % 3);
        texts[i][0] = (char)('1' + i % 5); /* other first numbers, some answers shared */
        samples[i] = texts[i];
    }
    const char *pair[2] = {samples[0], samples[5]};
    float cold[2][REWARD_CHECK_NFEAT], warm[2][REWARD_CHECK_NFEAT];
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    assert_int_equal(reward_check_group("Add them.", samples, 8, pair, 2, cold), 0);
    assert_int_equal(reward_check_group("Add them.", samples, 8, pair, 2, warm), 0);
    counts(&h1, &m1);
    assert_memory_equal(cold, warm, sizeof cold);
    assert_int_equal(m1 - m0, 8); /* the first call read each text once */
    /* The scored texts are samples: both calls take them from the group's
     * read, and the second takes all eight samples from the memo. */
    assert_int_equal(h1 - h0, 8);
}

/* A scored text's block does not depend on where its group holds it (among
 * the samples read with their features, past them, given twice, or not
 * at all and then at the end), nor on the order of the others. */
static void test_group_order_free(void **state)
{
    (void)state;
    char texts[12][256];
    const char *g[12], *r[12], *d[13];
    for (unsigned i = 0; i < 12; i++) {
        solution(texts[i], sizeof texts[i], 1000 + i % 4);
        texts[i][0] = (char)('1' + i % 7);
        g[i] = texts[i];
        r[11 - i] = texts[i];
    }
    for (unsigned i = 0; i < 13; i++)
        d[i] = texts[i < 10 ? i : i - 1]; /* texts[9] twice */
    const char *pair[2] = {g[1], g[10]}, *dup[2] = {g[9], g[2]};
    float a[2][REWARD_CHECK_NFEAT], b[2][REWARD_CHECK_NFEAT], c[2][REWARD_CHECK_NFEAT];
    assert_int_equal(reward_check_group("Add them.", g, 12, pair, 2, a), 0);
    assert_int_equal(reward_check_group("Add them.", r, 12, pair, 2, b), 0);
    assert_memory_equal(a, b, sizeof a);
    /* Given twice, texts[9] is left out twice: its others are the rest. */
    assert_int_equal(reward_check_group("Add them.", d, 13, dup, 2, c), 0);
    assert_int_equal(reward_check_group("Add them.", g, 12, dup, 2, a), 0);
    assert_memory_equal(a[0], c[0], sizeof a[0]);
    /* Out of the group: the same as the group less it, then it appended. */
    const char *out[2] = {g[11], g[0]};
    assert_int_equal(reward_check_group("Add them.", g, 11, out, 2, a), 0);
    assert_int_equal(reward_check_group("Add them.", g, 12, out, 2, b), 0);
    assert_memory_equal(a[0], b[0], sizeof a[0]);
}

/* check_memo_run of t with the question: the sample and features. */
static int memo_run(const char *t, struct check_sample *s, double *v)
{
    struct check_memo_prompt mp = {question, strlen(question), 0, &qnums};
    assert_int_equal(check_memo_prompt(question, strlen(question), &mp), 0);
    mp.p = &qnums; /* the same numbers, read by setup */
    return check_memo_run(&mp, t, t ? strlen(t) : 3, s, v);
}

/* What check_memo_run must give for t: check_sample_run's, no others. */
static void run_q(const char *t, struct check_sample *s, double *v)
{
    static struct check_result r;
    struct check_input in = {.prompt = question,
                             .prompt_len = strlen(question),
                             .resp = t,
                             .resp_len = strlen(t),
                             .prepared = &qnums,
                             .no_text = true};
    assert_int_equal(check_sample_run(&in, &r, s), 0);
    memcpy(v, r.v, sizeof(r.v));
}

/* Cold and warm, check_memo_run gives check_sample_run's sample and
 * features; a slot that holds a text's sample only (check_sample_memo) is
 * read again for both, then a hit; a sample it kept serves
 * check_sample_memo too. */
static void test_run_same_as_read(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 100; i++) {
        char t[256];
        solution(t, sizeof t, 7000 + i);
        struct check_sample want, got, plain;
        double wv[CHECK_NFEAT], gv[CHECK_NFEAT];
        run_q(t, &want, wv);
        if (i % 2) /* the sample alone first */
            assert_int_equal(memo(t, &plain), 0);
        unsigned long long h0, m0, h1, m1;
        counts(&h0, &m0);
        for (int r = 0; r < 2; r++) {
            assert_int_equal(memo_run(t, &got, gv), 0);
            assert_same_sample(&want, &got);
            assert_memory_equal(wv, gv, sizeof wv);
        }
        counts(&h1, &m1);
        assert_true(m1 - m0 == 1 && h1 - h0 == 1);
        assert_int_equal(memo(t, &plain), 0);
        assert_same_sample(&want, &plain);
    }
    struct check_sample s;
    double v[CHECK_NFEAT];
    assert_int_equal(memo_run(NULL, &s, v), -EINVAL);
    assert_int_equal(memo_run("A: 1", NULL, v), -EINVAL);
    assert_int_equal(memo_run("A: 1", &s, NULL), -EINVAL);
}

/* check_memo_prompt gives check_prompt_init's numbers and the bytes'
 * hash, kept across other prompts; NULL numbers for a prompt it does not
 * keep; check_memo_run refuses a prompt without text. */
static void test_prompt_memo(void **state)
{
    (void)state;
    const char *ps[3] = {question, "Sue has 12 pens and 1,200 clips, half of them red.", ""};
    for (int r = 0; r < 6; r++) {
        const char *q = ps[r % 3];
        struct check_prompt want;
        struct check_memo_prompt mp, again;
        assert_int_equal(check_prompt_init(&want, q, strlen(q)), 0);
        assert_int_equal(check_memo_prompt(q, strlen(q), &mp), 0);
        assert_non_null(mp.p);
        assert_ptr_equal(mp.text, q);
        assert_int_equal(mp.len, strlen(q));
        assert_int_equal(mp.hash, feat_fx64_wide(q, strlen(q)));
        assert_int_equal(mp.p->n, want.n);
        assert_memory_equal(mp.p->v, want.v, want.n * sizeof want.v[0]);
        assert_memory_equal(mp.p->near, want.near, sizeof want.near);
        assert_memory_equal(mp.p->small, want.small, sizeof want.small);
        assert_int_equal(check_memo_prompt(q, strlen(q), &again), 0);
        assert_ptr_equal(again.p, mp.p); /* kept */
    }
    /* A prefix of a kept prompt is another prompt. */
    struct check_memo_prompt mp;
    assert_int_equal(check_memo_prompt(ps[1], 12, &mp), 0);
    assert_int_equal(mp.p->n, 1);
    assert_int_equal(check_memo_prompt(NULL, 0, &mp), -EINVAL);
    assert_int_equal(check_memo_prompt("x", 1, NULL), -EINVAL);
    char *big = calloc(CHECK_MEMO_TEXT_MAX + 2, 1);
    assert_non_null(big);
    memset(big, '7', CHECK_MEMO_TEXT_MAX + 1);
    assert_int_equal(check_memo_prompt(big, CHECK_MEMO_TEXT_MAX + 1, &mp), 0);
    assert_null(mp.p);
    free(big);
    struct check_sample s;
    double v[CHECK_NFEAT];
    mp = (struct check_memo_prompt){NULL, 0, 0, &qnums};
    assert_int_equal(check_memo_run(&mp, "A: 1", 4, &s, v), -EINVAL);
    assert_int_equal(check_memo_run(NULL, "A: 1", 4, &s, v), -EINVAL);
}

/* CHECK_MEMO_PROMPT_WAYS prompts of one set are all kept (each in its own
 * slot, found again), and one more takes the slot of the one used least
 * lately. */
static void test_prompt_set_ways(void **state)
{
    (void)state;
    enum { SETS = CHECK_MEMO_PROMPTS / CHECK_MEMO_PROMPT_WAYS, N = CHECK_MEMO_PROMPT_WAYS + 1 };
    char ps[N][64];
    size_t n = 0;
    for (unsigned i = 0; n < N; i++) { /* N prompts of set 0 */
        snprintf(ps[n], sizeof ps[n], "Ann has %u apples and 7 pears.", i);
        n += (feat_fx64_wide(ps[n], strlen(ps[n])) >> 32) % SETS == 0;
    }
    const struct check_prompt *kept[N];
    struct check_memo_prompt mp;
    for (size_t i = 0; i + 1 < N; i++) {
        assert_int_equal(check_memo_prompt(ps[i], strlen(ps[i]), &mp), 0);
        kept[i] = mp.p;
        for (size_t j = 0; j < i; j++)
            assert_ptr_not_equal(kept[j], kept[i]);
    }
    for (size_t i = 0; i + 1 < N; i++) { /* found again, ps[0] used first */
        assert_int_equal(check_memo_prompt(ps[i], strlen(ps[i]), &mp), 0);
        assert_ptr_equal(mp.p, kept[i]);
    }
    assert_int_equal(check_memo_prompt(ps[N - 1], strlen(ps[N - 1]), &mp), 0);
    assert_ptr_equal(mp.p, kept[0]);
    assert_int_equal(mp.p->n, 2); /* the new prompt's own numbers, its count and 7 */
    for (size_t i = 1; i + 1 < N; i++) {
        assert_int_equal(check_memo_prompt(ps[i], strlen(ps[i]), &mp), 0);
        assert_ptr_equal(mp.p, kept[i]);
    }
}

/* A prompt given without its numbers is read past the memo (its sample
 * would differ from the one with them, under the same key), and the
 * sample-only lookup through a check_memo_prompt refuses one; with the
 * numbers the text is then a miss, read with them, and a hit after. */
static void test_prompt_without_numbers_not_kept(void **state)
{
    (void)state;
    char t[256];
    solution(t, sizeof t, 8100);
    struct check_sample s, want;
    assert_int_equal(check_sample_read_prompt(t, strlen(t), &qnums, &want), 0);
    unsigned long long h0, m0, h1, m1;
    counts(&h0, &m0);
    assert_int_equal(check_sample_memo(question, NULL, t, strlen(t), &s), 0);
    counts(&h1, &m1);
    assert_true(h1 == h0 && m1 == m0); /* not looked up, not kept */
    struct check_memo_prompt mp = {question, strlen(question),
                                   feat_fx64_wide(question, strlen(question)), NULL};
    double v[CHECK_NFEAT];
    assert_int_equal(check_memo_sample(&mp, t, strlen(t), &s), -EINVAL);
    assert_int_equal(check_memo_run(&mp, t, strlen(t), &s, v), -EINVAL);
    mp.p = &qnums;
    for (int r = 0; r < 2; r++) {
        assert_int_equal(check_memo_sample(&mp, t, strlen(t), &s), 0);
        assert_same_sample(&want, &s);
    }
    counts(&h1, &m1);
    assert_true(m1 - m0 == 1 && h1 - h0 == 1);
    assert_int_equal(check_memo_sample(NULL, t, strlen(t), &s), -EINVAL);
    assert_int_equal(check_memo_sample(&mp, NULL, 0, &s), -EINVAL);
    assert_int_equal(check_memo_sample(&mp, t, strlen(t), NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_read),
        cmocka_unit_test(test_slot_shared),
        cmocka_unit_test(test_slot_buffer_reused),
        cmocka_unit_test(test_long_text_not_kept),
        cmocka_unit_test(test_prompt_is_key),
        cmocka_unit_test(test_per_thread),
        cmocka_unit_test(test_group_features_same),
        cmocka_unit_test(test_group_order_free),
        cmocka_unit_test(test_run_same_as_read),
        cmocka_unit_test(test_prompt_memo),
        cmocka_unit_test(test_prompt_set_ways),
        cmocka_unit_test(test_prompt_without_numbers_not_kept),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
