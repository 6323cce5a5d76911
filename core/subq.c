/* Domain settings and sub-question plans; see subq.h. */
#include "subq.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util.h"

/* Frees n criteria and their array. */
static void criteria_free(struct subq_criterion *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++)
        free(c[i].text);
    free(c);
}

void subq_domain_clear(struct subq_domain *d)
{
    if (!d)
        return;
    criteria_free(d->criteria, d->ncriteria);
    memset(d, 0, sizeof *d);
}

void subq_domain_default(const char *name, struct subq_domain *out)
{
    memset(out, 0, sizeof *out);
    util_strlcpy(out->name, name ? name : "", sizeof out->name);
    out->decomposer = DECOMPOSE_NONE;
    if (name && !strcmp(name, "math"))
        out->decomposer = DECOMPOSE_STEPS;
    else if (name && !strcmp(name, "code"))
        out->decomposer = DECOMPOSE_CODE;
    out->order = ROLLUP_SEQUENTIAL;
    out->checkers = CHECK_KINDS_ALL;
}

/* Reads one criterion object into c. 0, -EINVAL, -ENOMEM. */
static int criterion_read(json_t *o, struct subq_criterion *c)
{
    json_t *text = json_object_get(o, "text"), *veto = json_object_get(o, "veto");
    size_t fields = 1 + (veto != NULL);
    if (!json_is_object(o) || json_object_size(o) != fields || !json_is_string(text) ||
        json_string_length(text) == 0 || json_string_length(text) > SUBQ_CRITERION_MAX ||
        (veto && !json_is_boolean(veto)))
        return -EINVAL;
    c->veto = !veto || json_is_true(veto);
    c->text = strdup(json_string_value(text));
    return c->text ? 0 : -ENOMEM;
}

int subq_domain_set_criteria(struct subq_domain *d, const char *json_text)
{
    json_t *arr = json_text ? json_loads(json_text, 0, NULL) : NULL;
    struct subq_criterion *c = NULL;
    size_t n = 0;
    int rc = 0;
    if (json_text && (!json_is_array(arr) || json_array_size(arr) > SUBQ_CRITERIA_MAX))
        rc = -EINVAL;
    size_t want = rc ? 0 : json_array_size(arr);
    if (want && !(c = calloc(want, sizeof *c)))
        rc = -ENOMEM;
    for (; n < want && !rc; n++)
        rc = criterion_read(json_array_get(arr, n), &c[n]);
    json_decref(arr);
    if (rc) {
        criteria_free(c, n);
        return rc;
    }
    criteria_free(d->criteria, d->ncriteria);
    d->criteria = c;
    d->ncriteria = n;
    return 0;
}

char *subq_domain_criteria_json(const struct subq_domain *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < d->ncriteria; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:b}", "text", d->criteria[i].text, "veto", d->criteria[i].veto));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

void subq_plan_free(struct subq_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->q[i].question);
    free(p->q);
    free(p);
}

/* Scores segment k of the response (its earlier segments as context) and
 * takes the layer's answer when it is sure. 0 or negative errno. */
static int score_segment(const struct layer *l, const char *prompt, const char *text,
                         const struct decompose_seg *seg, size_t k, struct subq_plan_q *q)
{
    char *parts[DECOMPOSE_MAX_SEGMENTS + 1] = {0};
    int rc = 0;
    for (size_t i = 0; i <= k && !rc; i++) {
        parts[i] = strndup(text + seg[i].start, seg[i].end - seg[i].start);
        rc = parts[i] ? 0 : -ENOMEM;
    }
    struct layer_single s;
    if (!rc)
        rc = layer_score_step(l, prompt, (const char *const *)parts, k, parts[k], &s);
    for (size_t i = 0; i <= k; i++)
        free(parts[i]);
    if (rc)
        return rc;
    struct layer_info info;
    layer_describe(l, &info);
    q->has_score = true;
    q->score = s.has_point ? s.p_good : s.r;
    q->has_confidence = s.has_point;
    q->confidence = s.confidence;
    if (s.has_point && isfinite(info.point_threshold) && s.confidence >= info.point_threshold)
        q->answer = s.p_good >= 0.5 ? "yes" : "no";
    return 0;
}

#define WRONG_MAX 64 /* wrong equations of one response kept for checker answers */

/* The spans of a response's wrong equations. */
struct wrong_eqs {
    size_t start[WRONG_MAX], end[WRONG_MAX];
    size_t n;
};

static int collect_wrong(void *cls, const struct check_equation *e)
{
    struct wrong_eqs *w = cls;
    if (e->status == 1 && w->n < WRONG_MAX) {
        w->start[w->n] = e->start;
        w->end[w->n++] = e->start + e->len;
    }
    return 0;
}

/* The checker's answer to step seg: no when a wrong equation lies inside
 * it. A checker answer replaces the layer's: it is recomputed, not
 * guessed. */
static void checker_answer(const struct wrong_eqs *w, const struct decompose_seg *seg,
                           struct subq_plan_q *q)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->start[i] >= seg->start && w->end[i] <= seg->end) {
            q->answer = "no";
            q->source = "checker";
            return;
        }
}

/* Appends the sub-questions of one response to p (whose q has room).
 * Criteria are not scored: the layer knows nothing of them. */
static int plan_side(const struct subq_domain *d, const struct layer *l, const char *prompt,
                     const char *text, char side, struct subq_plan *p)
{
    struct decompose_seg seg[DECOMPOSE_MAX_SEGMENTS];
    struct decompose_opts o = {.ncriteria = d->ncriteria};
    size_t n;
    int rc = decompose(d->decomposer, text, strlen(text), &o, seg, DECOMPOSE_MAX_SEGMENTS, &n);
    struct wrong_eqs wrong = {.n = 0};
    if (!rc && d->checker_answers && (d->checkers & (1u << CHECK_KIND_ARITHMETIC)))
        check_arith_scan(text, strlen(text), collect_wrong, &wrong);
    for (size_t k = 0; k < n && !rc; k++) {
        struct subq_plan_q *q = &p->q[p->n];
        bool crit = seg[k].kind == DECOMPOSE_SEG_CRITERION;
        *q = (struct subq_plan_q){.side = side,
                                  .ordinal = (int)k,
                                  .kind = seg[k].kind,
                                  .start = seg[k].start,
                                  .end = seg[k].end,
                                  .sinks = !crit || d->criteria[k].veto};
        q->question = decompose_question(seg[k].kind, crit ? d->criteria[k].text : NULL);
        if (!q->question)
            return -ENOMEM;
        p->n++;
        if (l && !crit)
            rc = score_segment(l, prompt, text, seg, k, q);
        if (!rc && wrong.n && seg[k].kind == DECOMPOSE_SEG_STEP)
            checker_answer(&wrong, &seg[k], q);
    }
    return rc;
}

static bool is_hard(const struct subq_domain *d, const char *a, const char *b)
{
    if (d->decomposer == DECOMPOSE_NONE ||
        (d->decomposer == DECOMPOSE_CRITERIA && d->ncriteria == 0))
        return false;
    size_t hard = (size_t)d->hard_tokens;
    return decompose_is_hard(a, strlen(a), hard) || (b && decompose_is_hard(b, strlen(b), hard));
}

int subq_plan(const struct subq_domain *d, const struct layer *l, const char *prompt, const char *a,
              const char *b, struct subq_plan **out)
{
    *out = NULL;
    if (!is_hard(d, a, b))
        return 0;
    struct subq_plan *p = calloc(1, sizeof *p);
    if (!p || !(p->q = calloc(2 * DECOMPOSE_MAX_SEGMENTS, sizeof *p->q))) {
        free(p);
        return -ENOMEM;
    }
    p->order = d->order;
    int rc = plan_side(d, l, prompt, a, 'a', p);
    if (!rc && b)
        rc = plan_side(d, l, prompt, b, 'b', p);
    if (rc) {
        subq_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void subq_checker_tally_add(struct subq_checker_tally *t, char side, const char *answer,
                            char settled, int64_t n)
{
    t->answered += n;
    if (settled != 'a' && settled != 'b')
        return;
    t->settled += n;
    bool yes = strcmp(answer, "yes") == 0;
    if ((settled == side) == yes)
        t->agreeing += n;
}
