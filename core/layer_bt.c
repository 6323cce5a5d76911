/* The built-in kind "hashed-bt": reward.h's ensemble behind layer_ops.
 * Scoring is CPU only (about 10 us a text, plus the checkers), so it runs
 * inline.
 *
 * Sample groups: a layer with checker features wants each response's
 * group (the other samples of its prompt) for the agreement checker. A
 * pair scored with its group (score_pair_group: the items of its group in
 * the store, group.h) is routed on the threshold calibrated with groups
 * (reward_group_threshold) when the group holds samples besides the
 * pair's own; a pair alone is its own group {a, b} and routed on the
 * threshold calibrated for exactly that view (reward_threshold); a single
 * text or a step is a group of one. Evaluation (bt_evaluate) reports both
 * views: each pair alone, and with the groups the evaluated pairs form. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "util.h"
#include "reward.h"

static void *bt_load(const void *blob, size_t len)
{
    return reward_load(blob, len);
}

static int bt_score_pair_group(const void *impl, const char *prompt, const char *a, const char *b,
                               const char *const *samples, size_t n, struct layer_pair *out)
{
    struct reward_pair p;
    int rc = reward_score_pair_group(impl, prompt, a, b, samples, n, &p);
    if (rc)
        return rc;
    *out = (struct layer_pair){.ra = p.ra,
                               .ra_sd = p.ra_sd,
                               .rb = p.rb,
                               .rb_sd = p.rb_sd,
                               .p_a = p.p_a,
                               .p_sd = p.p_sd,
                               .confidence = p.confidence};
    return 0;
}

static int bt_score_pair(const void *impl, const char *prompt, const char *a, const char *b,
                         struct layer_pair *out)
{
    return bt_score_pair_group(impl, prompt, a, b, NULL, 0, out);
}

static int bt_score_single(const void *impl, const char *prompt, const char *text,
                           struct layer_single *out)
{
    struct reward_single s;
    int rc = reward_score_single(impl, prompt, text, &s);
    if (rc)
        return rc;
    *out = (struct layer_single){.r = s.r,
                                 .r_sd = s.r_sd,
                                 .has_point = s.has_point != 0,
                                 .p_good = s.p_good,
                                 .confidence = s.confidence};
    return 0;
}

/* A step is scored pointwise as a text whose context is the prompt and the
 * steps before it, one per line: the features then see which words the step
 * shares with what came before (feat.h's prompt-overlap family). */
static int bt_score_step(const void *impl, const char *prompt, const char *const *prior,
                         size_t nprior, const char *step, struct layer_single *out)
{
    if (!prompt || !step || (nprior && !prior))
        return -EINVAL;
    for (size_t i = 0; i < nprior; i++)
        if (!prior[i])
            return -EINVAL;
    char *ctx = util_step_context(prompt, prior, NULL, nprior);
    if (!ctx)
        return -ENOMEM;
    int rc = bt_score_single(impl, ctx, step, out);
    free(ctx);
    return rc;
}

static void bt_describe(const void *impl, struct layer_info *out)
{
    *out = (struct layer_info){.kind = LAYER_KIND_HASHED_BT,
                               .uses_groups = reward_checks(impl) > 0,
                               .group_threshold = reward_group_threshold(impl),
                               .threshold = reward_threshold(impl),
                               .point_threshold = reward_point_threshold(impl),
                               .members = reward_members(impl)};
}

static json_t *bt_evaluate(const void *impl, const struct reward_pair_ex *pairs, size_t n)
{
    return reward_evaluate(impl, pairs, n);
}

static void bt_free(void *impl)
{
    reward_free(impl);
}

const struct layer_ops layer_bt_ops = {
    .kind = LAYER_KIND_HASHED_BT,
    .may_block = false,
    .load = bt_load,
    .score_pair = bt_score_pair,
    .score_pair_group = bt_score_pair_group,
    .score_single = bt_score_single,
    .score_step = bt_score_step,
    .describe = bt_describe,
    .evaluate = bt_evaluate,
    .free = bt_free,
};
