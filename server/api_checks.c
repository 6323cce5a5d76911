/* api_checks.c - the checkers' findings in a task (see api_checks.h). The
 * findings are computed when the task is served: the checkers are pure
 * and cost microseconds, and the group may have grown since ingest. */
#include "api_checks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "log.h"
#include "route.h"
#include "store_subq.h"
#include "subq.h"

/* Appends the findings of r on the response shown at index shown, of the
 * checkers in mask. */
static int findings_json(json_t *arr, const struct check_result *r, int shown, unsigned mask)
{
    for (size_t i = 0; i < r->nf; i++) {
        const struct check_finding *f = &r->f[i];
        int k = check_kind_parse(f->checker);
        if (k < 0 || !(mask & (1u << k)))
            continue;
        json_t *span =
            f->len ? json_pack("[I,I]", (json_int_t)f->start, (json_int_t)(f->start + f->len))
                   : json_null();
        json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:o,s:s}", "response", shown, "checker", f->checker,
                              "code", f->code, "finding", f->text, "span", span, "verdict",
                              check_verdict_name(f->verdict));
        if (!o || json_array_append_new(arr, o))
            return -ENOMEM;
    }
    return 0;
}

/* Checks the task's responses against the group view g into arr (the
 * findings of the checkers in mask). */
static int check_sides(const struct store_task *t, const struct group_view *g, unsigned mask,
                       json_t *arr)
{
    struct check_result *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    const char *side[2] = {t->response_a, t->response_b};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        int item_side = t->swapped ? 1 - k : k;
        const char *text = side[item_side];
        if (!text)
            continue;
        rc = group_check(t->prompt, g, text, r);
        if (!rc)
            rc = findings_json(arr, r, k, mask);
    }
    free(r);
    return rc;
}

json_t *api_task_checks(struct store *s, const struct store_task *t)
{
    json_t *arr = json_array();
    if (!arr || !t->prompt || !t->response_a)
        return arr;
    int64_t key_id = 0;
    char *group = NULL, *domain = NULL;
    struct route_group g = {0};
    struct subq_domain d;
    subq_domain_default(NULL, &d);
    int rc = store_task_group(s, t->id, &key_id, &group, &domain);
    if (!rc && domain) /* which checkers the item's domain shows */
        rc = store_domain_get(s, domain, &d);
    if (!rc && group)
        rc = route_group_read(s, key_id, group, &g);
    else
        group_view_init(&g.view);
    if (!rc && d.checkers) {
        group_view_add(&g.view, t->response_a);
        group_view_add(&g.view, t->response_b);
        rc = check_sides(t, &g.view, d.checkers, arr);
    }
    if (rc) {
        log_json("warn", "cannot check the task's responses", "{s:I,s:i}", "task",
                 (json_int_t)t->id, "errno", -rc);
        json_array_clear(arr);
    }
    route_group_clear(&g);
    subq_domain_clear(&d);
    free(group);
    free(domain);
    return arr;
}
