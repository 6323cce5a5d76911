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

/* The seqs of h below `below`, read whole in chunks of every size from
 * 1 to nwant + 1, are want. */
static void expect(const struct group_seqs *m, uint64_t h, int64_t below, const int64_t *want,
                   size_t nwant)
{
    int64_t v[64];
    assert_true(nwant < 64);
    for (size_t chunk = 1; chunk <= nwant + 1; chunk++) {
        size_t n = 0, k;
        int64_t after = INT64_MIN;
        while ((k = group_seqs_get(m, h, after, below, v + n, chunk)) > 0) {
            assert_true(k <= chunk);
            n += k;
            assert_true(n <= nwant);
            after = v[n - 1];
        }
        assert_int_equal(n, nwant);
        if (nwant)
            assert_memory_equal(v, want, nwant * sizeof *v);
    }
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
        int64_t v[ROUNDS + 1];
        size_t want = 0;
        for (int r = 0; r < ROUNDS; r++)
            want += g % (uint64_t)(r + 1) == 0;
        size_t n =
            group_seqs_get(m, g * 0x9e3779b97f4a7c15ull, INT64_MIN, INT64_MAX, v, ROUNDS + 1);
        assert_int_equal(n, want);
        for (size_t k = 1; k < n; k++)
            assert_true(v[k - 1] < v[k]);
        total += n;
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

/* One large group read in chunks from anywhere: `after` and `below`
 * between seqs, on them, before the first and past the last; a chunk
 * stops at max, at `below` and at the group's end. */
static void test_chunks_of_a_large_group(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct group_seqs *m = group_seqs_new();
    assert_non_null(m);
    for (int64_t i = N; i >= 1; i--) /* backwards: each one inserted first */
        assert_int_equal(group_seqs_add(m, 9, 3 * i), 0);
    assert_int_equal(group_seqs_add(m, 9, 300), 0); /* again: kept once */
    int64_t v[N + 1];
    assert_int_equal(group_seqs_get(m, 9, INT64_MIN, INT64_MAX, v, N + 1), N);
    for (size_t k = 0; k < N; k++)
        assert_int_equal(v[k], 3 * (int64_t)(k + 1));
    assert_int_equal(group_seqs_get(m, 9, INT64_MIN, INT64_MAX, v, 64), 64);
    assert_int_equal(v[63], 192);
    assert_int_equal(group_seqs_get(m, 9, 192, INT64_MAX, v, 2), 2); /* after on a seq */
    assert_int_equal(v[0], 195);
    assert_int_equal(v[1], 198);
    assert_int_equal(group_seqs_get(m, 9, 193, INT64_MAX, v, 1), 1); /* between two */
    assert_int_equal(v[0], 195);
    assert_int_equal(group_seqs_get(m, 9, 0, 10, v, 64), 3); /* stops at below */
    assert_int_equal(v[2], 9);
    assert_int_equal(group_seqs_get(m, 9, 0, 9, v, 64), 2); /* below itself is left out */
    assert_int_equal(group_seqs_get(m, 9, 2990, INT64_MAX, v, 64), 4); /* the group's end */
    assert_int_equal(v[0], 2991);
    assert_int_equal(v[3], 3000);
    assert_int_equal(group_seqs_get(m, 9, 3000, INT64_MAX, v, 64), 0);
    assert_int_equal(group_seqs_get(m, 9, INT64_MIN, 3, v, 64), 0);
    assert_int_equal(group_seqs_get(m, 9, 100, 100, v, 64), 0);
    assert_int_equal(group_seqs_get(m, 9, INT64_MIN, INT64_MAX, v, 0), 0);
    assert_int_equal(group_seqs_get(m, 10, INT64_MIN, INT64_MAX, v, 64), 0);
    /* one inserted inside the range read next: found, nothing twice */
    assert_int_equal(group_seqs_add(m, 9, 196), 0);
    assert_int_equal(group_seqs_get(m, 9, 192, INT64_MAX, v, 3), 3);
    assert_int_equal(v[0], 195);
    assert_int_equal(v[1], 196);
    assert_int_equal(v[2], 198);
    struct group_seqs_stats st;
    group_seqs_stats(m, &st);
    assert_int_equal(st.seqs, N + 1);
    group_seqs_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_tells_keys_and_names_apart),
        cmocka_unit_test(test_one_group_in_order_once),
        cmocka_unit_test(test_many_groups_through_growth),
        cmocka_unit_test(test_chunks_of_a_large_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
