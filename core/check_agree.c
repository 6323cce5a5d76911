/* check_agree.c - agreement of a sample's answer with its group (see check.h). */
#include "check.h"

#include <errno.h>

/* The i-th sample of the group: self first, then the others. */
static const struct check_answer *sample(const struct check_answer *self,
                                         const struct check_answer *others, size_t i)
{
    return i == 0 ? self : &others[i - 1];
}

#define PAIRWISE_MAX 256 /* samples whose cluster sizes fit on the stack */

/* The size of self's cluster (*own) and of the largest (*largest) among
 * the first used samples: the answers each one equals, itself included
 * (an absent answer, or one whose value is not a number, equals nothing,
 * not even itself). Equality is symmetric (check_answer_equal), so up to
 * PAIRWISE_MAX samples each pair is compared once; past that, each sample
 * with every one. */
static void clusters(const struct check_answer *self, const struct check_answer *others,
                     size_t used, size_t *own, size_t *largest)
{
    size_t size[PAIRWISE_MAX], big = 0;
    for (size_t i = 0; i < used && used <= PAIRWISE_MAX; i++)
        size[i] = (size_t)check_answer_equal(sample(self, others, i), sample(self, others, i));
    for (size_t i = 0; i < used; i++) {
        const struct check_answer *a = sample(self, others, i);
        size_t n = 0;
        if (used <= PAIRWISE_MAX) {
            for (size_t j = i + 1; j < used; j++) {
                size_t e = (size_t)check_answer_equal(a, &others[j - 1]);
                size[i] += e;
                size[j] += e;
            }
            n = size[i]; /* pairs with every other sample are in */
        } else {
            for (size_t j = 0; j < used; j++)
                n += (size_t)check_answer_equal(a, sample(self, others, j));
        }
        big = n > big ? n : big;
        if (i == 0)
            *own = n;
    }
    *largest = big;
}

int check_agree_sizes(size_t used, size_t own, size_t largest, struct check_result *r,
                      struct check_agree_stats *st)
{
    if (!r || !used || own > largest || largest > used)
        return -EINVAL;
    size_t same = own ? own - 1 : 0;
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

int check_agree(const struct check_answer *self, const struct check_answer *others, size_t n,
                size_t max_samples, struct check_result *r, struct check_agree_stats *st)
{
    if (!self || !r || (!others && n))
        return -EINVAL;
    size_t cap = max_samples ? max_samples : CHECK_GROUP_DEFAULT;
    size_t used = n + 1 < cap ? n + 1 : cap, largest = 0, own = 0;
    /* O(used^2) with used <= cap: the group is bounded, so a sample joining a
     * large group costs the same as one joining a small one. */
    clusters(self, others, used, &own, &largest);
    return check_agree_sizes(used, own, largest, r, st);
}
