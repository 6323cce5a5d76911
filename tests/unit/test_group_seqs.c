/* test_group_seqs.c - the in-memory map from a sample group to its items'
 * seqs (issue 14): every seq given is found, once, in order, whatever the
 * order it came in, through the table's growth and the groups' own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "group_seqs.h"

static void test_hash_tells_keys_and_names_apart(void **state)
{
    (void)state;
    uint64_t a = group_seqs_hash(1, "prompt:00112233aabbccdd");
    assert_true(a == group_seqs_hash(1, "prompt:00112233aabbccdd"));
    assert_true(a != group_seqs_hash(2, "prompt:00112233aabbccdd"));
    assert_true(a != group_seqs_hash(1, "prompt:00112233aabbccde"));
    assert_true(group_seqs_hash(0, "") != 0);
    /* a name past the inline buffer is hashed whole: its last byte counts */
    char longer[600];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    uint64_t l1 = group_seqs_hash(1, longer);
    longer[sizeof longer - 2] = 'y';
    assert_true(l1 != group_seqs_hash(1, longer));
    assert_true(l1 != 0);
}

static void expect(const struct group_seqs *m, uint64_t h, int64_t below, const int64_t *want,
                   size_t nwant)
{
    int64_t *v;
    size_t n;
    assert_int_equal(group_seqs_get(m, h, below, &v, &n), 0);
    assert_int_equal(n, nwant);
    if (nwant)
        assert_memory_equal(v, want, nwant * sizeof *v);
    else
        assert_null(v);
    free(v);
}

static void test_one_group_in_order_once(void **state)
{
    (void)state;
    struct group_seqs *m = group_seqs_new();
    assert_non_null(m);
    expect(m, 7, INT64_MAX, NULL, 0);
    assert_int_equal(group_seqs_add(m, 7, 10), 0);
    expect(m, 7, INT64_MAX, (int64_t[]){10}, 1);
    /* out of order and repeated: kept sorted, each once */
    static const int64_t in[] = {30, 20, 10, 40, 30, 5, 40, 25};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
        assert_int_equal(group_seqs_add(m, 7, in[i]), 0);
    expect(m, 7, INT64_MAX, (int64_t[]){5, 10, 20, 25, 30, 40}, 6);
    expect(m, 7, 25, (int64_t[]){5, 10, 20}, 3);
    expect(m, 7, 5, NULL, 0);
    struct group_seqs_stats st;
    group_seqs_stats(m, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.seqs, 6);
    group_seqs_free(m);
}

/* Many groups (the table doubles several times) of different sizes,
 * interleaved: each group gets back exactly its own seqs. */
static void test_many_groups_through_growth(void **state)
{
    (void)state;
    enum { GROUPS = 5000, ROUNDS = 6 };
    struct group_seqs *m = group_seqs_new();
    assert_non_null(m);
    int64_t seq = 1;
    for (int r = 0; r < ROUNDS; r++)
        for (uint64_t g = 1; g <= GROUPS; g++)
            if (g % (uint64_t)(r + 1) == 0) /* group g gets an item in round r */
                assert_int_equal(group_seqs_add(m, g * 0x9e3779b97f4a7c15ull, seq++), 0);
    size_t total = 0;
    for (uint64_t g = 1; g <= GROUPS; g++) {
        int64_t *v;
        size_t n, want = 0;
        for (int r = 0; r < ROUNDS; r++)
            want += g % (uint64_t)(r + 1) == 0;
        assert_int_equal(group_seqs_get(m, g * 0x9e3779b97f4a7c15ull, INT64_MAX, &v, &n), 0);
        assert_int_equal(n, want);
        for (size_t k = 1; k < n; k++)
            assert_true(v[k - 1] < v[k]);
        total += n;
        free(v);
    }
    struct group_seqs_stats st;
    group_seqs_stats(m, &st);
    assert_int_equal(st.groups, GROUPS);
    assert_int_equal(st.seqs, total);
    assert_int_equal(total, (size_t)(seq - 1));
    assert_true(st.bytes > GROUPS * sizeof(uint64_t));
    expect(m, 0xdeadbeefull, INT64_MAX, NULL, 0); /* a group never seen */
    group_seqs_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_tells_keys_and_names_apart),
        cmocka_unit_test(test_one_group_in_order_once),
        cmocka_unit_test(test_many_groups_through_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
