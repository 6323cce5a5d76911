/* group.c - sample groups (see group.h). */
#include "group.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reward.h"

void group_default_name(const char *prompt, char out[GROUP_DEFAULT_LEN])
{
    snprintf(out, GROUP_DEFAULT_LEN, "prompt:%016" PRIx64, reward_group_of(prompt));
}

void group_view_init(struct group_view *v)
{
    v->n = 0;
    v->full = false;
}

int group_view_has(const struct group_view *v, const char *text)
{
    for (size_t i = 0; text && i < v->n; i++)
        if (v->s[i] == text || !strcmp(v->s[i], text))
            return 1;
    return 0;
}

int group_view_add(struct group_view *v, const char *text)
{
    if (!text || group_view_has(v, text))
        return 0;
    if (v->n == GROUP_SAMPLES_MAX) {
        v->full = true;
        return 0;
    }
    v->s[v->n++] = text;
    return 1;
}

size_t group_view_others(const struct group_view *v, const char *a, const char *b)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++)
        n += !(a && !strcmp(v->s[i], a)) && !(b && !strcmp(v->s[i], b));
    return n;
}

int group_check(const char *prompt, const struct group_view *v, const char *text,
                struct check_result *r)
{
    if (!prompt || !v || !text || !r)
        return -EINVAL;
    struct check_answer *others = malloc(GROUP_SAMPLES_MAX * sizeof *others);
    if (!others)
        return -ENOMEM;
    size_t no = 0;
    int rc = 0;
    for (size_t i = 0; i < v->n && !rc; i++)
        if (strcmp(v->s[i], text))
            rc = check_answer(v->s[i], strlen(v->s[i]), &others[no++], NULL);
    struct check_input in = {.prompt = prompt,
                             .prompt_len = strlen(prompt),
                             .resp = text,
                             .resp_len = strlen(text),
                             .others = others,
                             .n_others = no,
                             .max_samples = GROUP_SAMPLES_MAX};
    if (!rc)
        rc = check_run_all(&in, r, NULL);
    free(others);
    return rc;
}
