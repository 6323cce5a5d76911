/* test_check_agree.c - agreement of an answer with its sample group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "check.h"

static struct check_answer ans(const char *s)
{
    struct check_answer a;
    assert_int_equal(check_answer(s, strlen(s), &a, NULL), 0);
    return a;
}

static void test_clusters(void **state)
{
    (void)state;
    /* Group of 5: answers 18, 18, 18.00 (same), 26, none. */
    struct check_answer self = ans("A: 18");
    struct check_answer others[] = {ans("#### 18"), ans("A: $18.00"), ans("A: 26"), ans("none")};
    struct check_result r;
    struct check_agree_stats st;
    check_result_init(&r);
    assert_int_equal(check_agree(&self, others, 4, 0, &r, &st), 0);
    assert_int_equal(st.used, 5);
    assert_int_equal(st.same, 2);
    assert_int_equal(st.largest, 3);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0.5);
    assert_true(r.v[CHECK_AGREE_TOP_SHARE] == 0.6);
    assert_true(r.v[CHECK_AGREE_IN_TOP] == 1);
    assert_int_equal(r.nf, 1);
    assert_string_equal(r.f[0].text,
                        "2 of 4 other samples give this answer; the largest cluster has 3");

    /* The minority answer: shares nothing, not in the top cluster. */
    check_result_init(&r);
    assert_int_equal(check_agree(&others[2], others, 2, 0, &r, &st), 0);
    assert_int_equal(st.same, 0);
    assert_int_equal(st.largest, 2);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0 && r.v[CHECK_AGREE_IN_TOP] == 0);

    /* No answer: no cluster of its own. */
    check_result_init(&r);
    assert_int_equal(check_agree(&others[3], others, 3, 0, &r, &st), 0);
    assert_int_equal(st.same, 0);
    assert_true(r.v[CHECK_AGREE_IN_TOP] == 0);
}

/* Sizes counted by the caller give what check_agree gives for them; sizes
 * that cannot be are refused. */
static void test_sizes(void **state)
{
    (void)state;
    struct check_answer self = ans("A: 18");
    struct check_answer others[] = {ans("#### 18"), ans("A: 26"), ans("A: 26"), ans("none")};
    struct check_result want, got;
    struct check_agree_stats ws, gs;
    check_result_init(&want);
    check_result_init(&got);
    assert_int_equal(check_agree(&self, others, 4, 0, &want, &ws), 0);
    assert_int_equal(check_agree_sizes(5, 2, 2, &got, &gs), 0);
    assert_memory_equal(want.v, got.v, sizeof want.v);
    assert_memory_equal(&ws, &gs, sizeof ws);
    assert_string_equal(got.f[0].text,
                        "1 of 4 other samples give this answer; the largest cluster has 2");
    assert_int_equal(check_agree_sizes(0, 0, 0, &got, NULL), -EINVAL);
    assert_int_equal(check_agree_sizes(3, 2, 1, &got, NULL), -EINVAL);
    assert_int_equal(check_agree_sizes(3, 1, 4, &got, NULL), -EINVAL);
    assert_int_equal(check_agree_sizes(3, 1, 1, NULL, NULL), -EINVAL);
}

/* The group is cut at max_samples, so a huge group costs no more. */
static void test_bounded(void **state)
{
    (void)state;
    static struct check_answer many[1000];
    struct check_answer self = ans("A: 7");
    for (size_t i = 0; i < 1000; i++)
        many[i] = ans(i < 10 ? "A: 7" : "A: 8");
    struct check_result r;
    struct check_agree_stats st;
    check_result_init(&r);
    assert_int_equal(check_agree(&self, many, 1000, 0, &r, &st), 0);
    assert_int_equal(st.used, CHECK_GROUP_DEFAULT);
    assert_int_equal(st.same, 10);
    assert_int_equal(st.largest, CHECK_GROUP_DEFAULT - 11);
    assert_int_equal(check_agree(&self, many, 1000, 5, &r, &st), 0);
    assert_int_equal(st.used, 5);
    assert_int_equal(st.largest, 5);
    assert_true(r.v[CHECK_AGREE_SHARE] == 1.0);
    /* Alone: share 0, its own cluster of one. */
    assert_int_equal(check_agree(&self, NULL, 0, 0, &r, &st), 0);
    assert_int_equal(st.used, 1);
    assert_int_equal(st.largest, 1);
    assert_true(r.v[CHECK_AGREE_SHARE] == 0);
    assert_int_equal(check_agree(&self, NULL, 2, 0, &r, NULL), -EINVAL);
    assert_int_equal(check_agree(NULL, many, 2, 0, &r, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
