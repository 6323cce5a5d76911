/* api_checks.h - the checkers' findings in a task, as raters see them. */
#ifndef RUNG_API_CHECKS_H
#define RUNG_API_CHECKS_H

#include <jansson.h>

#include "store.h"

/* A new JSON array of the findings of the checkers (core/check.h) that
 * the item's domain shows (its settings' "checkers", every one by
 * default) on
 * task t's responses, each checked against its item's sample group as
 * stored (group.h): [{"response": display index, "checker", "code",
 * "finding", "span": [start, end] (UTF-8 byte offsets into that response)
 * or null (the whole text), "verdict": "pass"|"fail"|"info"}], in display
 * order (a swapped pair's responses[0] is the item's b). An empty array
 * when the findings cannot be computed (logged). Never NULL unless out of
 * memory. */
json_t *api_task_checks(struct store *s, const struct store_task *t);

#endif
