/* sample_assert.h - assert_same_sample for the unit tests of the group
 * signals' samples (check_group.h): every field of two samples the same.
 * Header-only (static inline); include it after cmocka.h. */
#ifndef RUNG_TEST_SAMPLE_ASSERT_H
#define RUNG_TEST_SAMPLE_ASSERT_H

#include "check_group.h"

static inline void assert_same_sample(const struct check_sample *x, const struct check_sample *y)
{
    assert_int_equal(x->ans.kind, y->ans.kind);
    assert_int_equal(x->ans.start, y->ans.start);
    assert_int_equal(x->ans.len, y->ans.len);
    assert_int_equal(x->ans.numeric, y->ans.numeric);
    assert_int_equal(x->ans.percent, y->ans.percent);
    assert_memory_equal(&x->ans.value, &y->ans.value, sizeof x->ans.value);
    assert_string_equal(x->ans.canon, y->ans.canon);
    assert_int_equal(x->nval, y->nval);
    assert_memory_equal(x->val, y->val, x->nval * sizeof x->val[0]);
    assert_int_equal(x->eqs, y->eqs);
    assert_int_equal(x->lines, y->lines);
    assert_int_equal(x->has_last, y->has_last);
    assert_memory_equal(&x->last, &y->last, sizeof x->last);
    assert_int_equal(x->unused, y->unused);
    assert_int_equal(x->off_path, y->off_path);
    assert_int_equal(x->full, y->full);
}

#endif
