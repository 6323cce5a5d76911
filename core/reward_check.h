/* reward_check.h - the checkers of check.h as a block of named dense
 * features of the built-in layer, with the sample groups they need.
 *
 * Internal to reward.c. A response's block is check_run_all's features,
 * counts squashed to [0, 1) by x / (1 + x), all scaled by 4 (against the
 * L2-normalised n-gram families: the L2 penalty then restrains them less),
 * in enum check_feat order (so check_feat_name names them), then the group
 * features of check_group.h (values shared with the other samples, steps
 * and lines against theirs, a fractional answer, an answer another sample
 * computes on the way; from blob version 5 an answer that is its last
 * equation's result, and answers where it or another sample stopped while
 * the other went on; from version 6 the results its equations compute
 * that no later equation reads; from version 7 its steps off its answer's
 * derivation and the agreement of samples whose derivation reads every
 * number of the prompt; reward_check_feat_name names them all).
 * Layers of blob versions 2 and 3 use the first REWARD_CHECK_NFEAT_V3 only,
 * layers of version 4 the first REWARD_CHECK_NFEAT_V4, of version 5 the
 * first REWARD_CHECK_NFEAT_V5, of version 6 the first REWARD_CHECK_NFEAT_V6,
 * which are computed as they were. The agreement checker needs the
 * response's group: the other samples of the same prompt. For labelled pairs the group is every
 * distinct response that the given pairs hold for that prompt (reward_group_of), in order of first
 * appearance, the first max_samples of them; so GSM8K's four solutions of a question are one group
 * however many pairs they make, and a lone pair's group is its two responses. Each group's answers
 * are read once, each distinct response is checked once.
 */
#ifndef RUNG_REWARD_CHECK_H
#define RUNG_REWARD_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "reward.h"

#include "check_group.h"

#define REWARD_CHECK_NFEAT (CHECK_NFEAT + CHECK_GROUP_NFEAT) /* features in the block */
#define REWARD_CHECK_NFEAT_V3 CHECK_NFEAT /* the block of layers before blob version 4 */
/* the block of layers of blob version 4: the checkers' own and the first
 * group features */
#define REWARD_CHECK_NFEAT_V4 (CHECK_NFEAT + CHECK_GROUP_NFEAT_V4)
/* the block of layers of blob version 5: all but the group features of
 * version 6 */
#define REWARD_CHECK_NFEAT_V5 (CHECK_NFEAT + CHECK_GROUP_NFEAT_V5)
/* the block of layers of blob version 6: all but the group features of
 * version 7 */
#define REWARD_CHECK_NFEAT_V6 (CHECK_NFEAT + CHECK_GROUP_NFEAT_V6)

/* The checker block of every side of n pairs. */
struct reward_check_table {
    float (*v)[REWARD_CHECK_NFEAT]; /* one block per distinct (prompt, response) */
    uint32_t *side;                 /* 2n entries: block of pair i's a (2i) and b (2i + 1) */
    size_t nv;                      /* blocks in v */
};

/* Fills *t for pairs[0..n) (texts NUL-terminated, none NULL), groups by
 * prompt capped at max_samples (0, or more than CHECK_GROUP_DEFAULT:
 * CHECK_GROUP_DEFAULT); when lone, each
 * pair is its own group {a, b}, as the daemon scores a pair item while it
 * keeps no sample groups. Work is linear in
 * the texts' bytes plus O(n log n) plus O(max_samples^2) per distinct
 * response. Returns 0, -EINVAL, or -ENOMEM (t then owns nothing). The
 * caller frees t with reward_check_table_free. */
int reward_check_pairs(const struct reward_pair_ex *pairs, size_t n, size_t max_samples, int lone,
                       struct reward_check_table *t);

/* Frees what t owns and empties it; an empty table is a no-op. */
void reward_check_table_free(struct reward_check_table *t);

/* The blocks of ntexts texts (at most 2) of one prompt's group whose
 * samples are samples[0..n) (in order, distinct as stored; the first
 * CHECK_GROUP_DEFAULT are used): each text's others are those samples
 * less the text itself, as reward_check_pairs does for a group (a sample
 * given more than once that is the text is left out each time). Returns
 * 0, -EINVAL or -ENOMEM. */
int reward_check_group(const char *prompt, const char *const *samples, size_t n,
                       const char *const *texts, size_t ntexts, float (*out)[REWARD_CHECK_NFEAT]);

/* The block of one text alone (a group of one: no agreement) into out.
 * Returns 0, -EINVAL or -ENOMEM. */
int reward_check_single(const char *prompt, const char *text, float *out);

/* The name of block feature k < REWARD_CHECK_NFEAT. */
const char *reward_check_feat_name(unsigned k);

/* A 32-bit identifier of the block's definition (the feature names in
 * order and the squashing), recorded in a layer blob so that a layer
 * trained on another definition is refused rather than misread. Never 0. */
uint32_t reward_check_set_id(void);

/* The identifier of the block of layers before blob version 4: its first
 * REWARD_CHECK_NFEAT_V3 features, the checkers' own (reward_check_set_id
 * of those builds). Such a layer scores with those only, as it did. */
uint32_t reward_check_set_id_v3(void);

/* The identifier of the block of layers of blob version 4: its first
 * REWARD_CHECK_NFEAT_V4 features (reward_check_set_id of those builds). */
uint32_t reward_check_set_id_v4(void);

/* The identifier of the block of layers of blob version 5: its first
 * REWARD_CHECK_NFEAT_V5 features (reward_check_set_id of those builds). */
uint32_t reward_check_set_id_v5(void);

/* The identifier of the block of layers of blob version 6: its first
 * REWARD_CHECK_NFEAT_V6 features (reward_check_set_id of those builds). */
uint32_t reward_check_set_id_v6(void);

#endif
