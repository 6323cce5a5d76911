/* group.h - sample groups: the samples of one prompt (best-of-n) that the
 * agreement checker compares a response with.
 *
 * An item's group is a name (the API's "group", per key); by default the
 * hash of its normalised prompt (group_default_name). The group's samples
 * are the distinct responses of its items in the order they were stored,
 * the first GROUP_SAMPLES_MAX: a pair's two responses are both samples.
 * Pure: the caller reads the stored items and owns every text. */
#ifndef RUNG_GROUP_H
#define RUNG_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "check.h"

#define GROUP_SAMPLES_MAX CHECK_GROUP_DEFAULT /* samples a group's signals use */
#define GROUP_NAME_MAX 128                    /* bytes of a group name, without the NUL */
#define GROUP_DEFAULT_LEN 24                  /* "prompt:" + 16 hex digits + NUL */

/* Writes the default group of prompt into out: "prompt:" and the 16 hex
 * digits of reward_group_of(prompt) (ASCII letters lowercased, whitespace
 * runs one space, none at either end), so the same question asked with
 * other spacing or case is one group. */
void group_default_name(const char *prompt, char out[GROUP_DEFAULT_LEN]);

/* A group's samples as the layer sees them: borrowed texts, distinct, in
 * order of first appearance. */
struct group_view {
    const char *s[GROUP_SAMPLES_MAX]; /* the first samples */
    size_t n;                         /* in use */
    bool full;                        /* a text was left out: the first max were taken */
};

/* Empties v. */
void group_view_init(struct group_view *v);

/* Adds text (borrowed; NULL is ignored) to v unless v holds it already or
 * is full (then v->full is set). Returns 1 when it was added, else 0. */
int group_view_add(struct group_view *v, const char *text);

/* 1 when v holds text (byte for byte), else 0. */
int group_view_has(const struct group_view *v, const char *text);

/* The group's samples other than a and b (either may be NULL): how many. */
size_t group_view_others(const struct group_view *v, const char *a, const char *b);

/* Runs every checker (check_run_all) on text against the group's other
 * samples: their answers are read from v (all but text itself). r gets
 * the features and findings. Returns 0, -EINVAL, or -ENOMEM. */
int group_check(const char *prompt, const struct group_view *v, const char *text,
                struct check_result *r);

#endif
