/* check_agree.c - agreement of a sample's answer with its group (see check.h). */
#include "check.h"

#include <errno.h>

/* The i-th sample of the group: self first, then the others. */
static const struct check_answer *sample(const struct check_answer *self,
                                         const struct check_answer *others, size_t i)
{
    return i == 0 ? self : &others[i - 1];
}

int check_agree(const struct check_answer *self, const struct check_answer *others, size_t n,
                size_t max_samples, struct check_result *r, struct check_agree_stats *st)
{
    if (!self || !r || (!others && n))
        return -EINVAL;
    size_t cap = max_samples ? max_samples : CHECK_GROUP_DEFAULT;
    size_t used = n + 1 < cap ? n + 1 : cap, same = 0, largest = 0, own = 0;
    /* O(used^2) with used <= cap: the group is bounded, so a sample joining a
     * large group costs the same as one joining a small one. */
    for (size_t i = 0; i < used; i++) {
        const struct check_answer *a = sample(self, others, i);
        size_t size = 0;
        for (size_t j = 0; j < used; j++)
            size += check_answer_equal(a, sample(self, others, j));
        if (size > largest)
            largest = size;
        if (i == 0)
            own = size;
    }
    same = own ? own - 1 : 0;
    r->v[CHECK_AGREE_SHARE] = used > 1 ? (double)same / (double)(used - 1) : 0.0;
    r->v[CHECK_AGREE_TOP_SHARE] = (double)largest / (double)used;
    r->v[CHECK_AGREE_IN_TOP] = own > 0 && own == largest;
    check_add(r, "agreement", "agree", CHECK_INFO, 0, 0,
              "%zu of %zu other samples give this answer; the largest cluster has %zu", same,
              used - 1, largest);
    if (st)
        *st = (struct check_agree_stats){used, same, largest};
    return 0;
}
