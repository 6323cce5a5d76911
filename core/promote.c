/* promote.c - the promotion of a candidate layer (see promote.h). */
#include "promote.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"
#include "log.h"
#include "store.h"

/* P(the settled answer) by l for pair x into *p. 0 or negative errno. */
static int settled_p(const struct layer *l, const struct store_settled *x, double *p)
{
    struct layer_pair lp;
    int rc = layer_score_pair(l, x->prompt, x->a, x->b, &lp);
    if (!rc)
        *p = x->answer == 'a' ? lp.p_a : 1.0 - lp.p_a;
    return rc;
}

/* Scores the settled pairs with the candidate (and the active layer, when
 * there is one) into cases. 0 or the first scoring error. */
static int score_cases(const struct promote_run *run, const struct layer *cand,
                       const struct layer *act, const struct store_settled *v, size_t n,
                       struct consistency_case *cases)
{
    for (size_t i = 0; i < n; i++) {
        if (run->cancel && atomic_load(run->cancel))
            return -ECANCELED;
        cases[i].p_active = NAN;
        int rc = settled_p(cand, &v[i], &cases[i].p_candidate);
        if (!rc && act)
            rc = settled_p(act, &v[i], &cases[i].p_active);
        if (rc)
            return rc;
    }
    return 0;
}

static json_t *num_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *report_json(const struct promote_run *run, int64_t active_id)
{
    const struct consistency_report *r = &run->report;
    json_t *o = json_pack(
        "{s:I,s:I,s:b,s:b,s:o,s:o,s:o,s:[o,o],s:o,s:o,s:I,s:I,s:{s:b,s:b,s:b},s:f,s:f,s:f,s:f}",
        "settled", (json_int_t)r->cases, "against_layer", (json_int_t)active_id, "empty", r->empty,
        "passed", r->pass, "accuracy", num_or_null(r->acc_candidate), "active_accuracy",
        num_or_null(r->acc_active), "accuracy_loss", num_or_null(r->loss), "loss_interval",
        num_or_null(r->loss_lo), num_or_null(r->loss_hi), "ece", num_or_null(r->ece_candidate),
        "active_ece", num_or_null(r->ece_active), "contradictions", (json_int_t)r->contradictions,
        "flagged", (json_int_t)run->flagged, "rules", "accuracy", r->pass_accuracy, "ece",
        r->pass_ece, "contradictions", r->pass_contradictions, "margin", run->params.margin,
        "ece_floor", run->params.ece_floor, "contradict_p", run->params.contradict_p,
        "contradict_share", run->params.contradict_share);
    if (o && r->empty)
        json_object_set_new(o, "warning",
                            json_string("nothing is settled yet: the check had nothing to judge"));
    return o;
}

/* Applies the rules to the scored cases and records the outcome. */
static int decide(struct store *s, struct promote_run *run, const struct store_settled *v,
                  const struct consistency_case *cases, size_t n, int64_t active_id)
{
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    int64_t *flags = malloc((n ? n : 1) * sizeof *flags);
    int rc = idx && flags ? consistency_check(cases, n, &run->params, &run->report, idx) : -ENOMEM;
    for (size_t i = 0; !rc && !run->report.pass && i < run->report.contradictions; i++)
        if (v[idx[i]].item_seq)
            flags[run->flagged++] = v[idx[i]].item_seq;
    run->json = rc ? NULL : report_json(run, active_id);
    char *text = run->json ? json_dumps(run->json, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    char reason[96];
    snprintf(reason, sizeof reason, "layer %lld confidently contradicts the settled answer",
             (long long)run->id);
    rc = rc      ? rc
         : !text ? -ENOMEM
                 : store_layer_checked(s, run->id, text, run->report.pass, flags, run->flagged,
                                       reason, run->actor, active_id);
    run->promoted = !rc && run->report.pass;
    if (rc) { /* nothing was recorded: a next try starts afresh */
        json_decref(run->json);
        run->json = NULL;
        run->flagged = 0;
    }
    free(text);
    free(idx);
    free(flags);
    return rc;
}

/* One check against the layer active now. */
static int promote_once(struct store *s, struct promote_run *run, int64_t *against)
{
    struct layer *cand = NULL, *act = NULL;
    struct store_settled *v = NULL;
    struct consistency_case *cases = NULL;
    size_t n = 0;
    run->stage = "loading the candidate";
    int rc = layer_open(s, run->id, &cand);
    int64_t active_id = store_layer_active_id(s);
    *against = active_id;
    if (!rc && active_id == run->id)
        rc = -EALREADY;
    if (!rc && active_id < 0)
        rc = (int)active_id;
    if (!rc && active_id > 0) {
        run->stage = "loading the active layer";
        rc = layer_open(s, active_id, &act);
    }
    if (!rc) {
        run->stage = "reading the settled set";
        rc = store_settled_read(s, PROMOTE_SETTLED_MAX, &v, &n);
    }
    cases = rc ? NULL : calloc(n ? n : 1, sizeof *cases);
    rc = rc ? rc : !cases ? -ENOMEM : 0;
    if (!rc) {
        run->stage = "scoring the settled set";
        rc = score_cases(run, cand, act, v, n, cases);
    }
    if (!rc) {
        run->stage = "recording the check";
        rc = decide(s, run, v, cases, n, active_id);
    }
    free(cases);
    store_settled_free(v, n);
    layer_free(cand);
    layer_free(act);
    return rc;
}

/* The event of a check thrown away: it compared against layer against,
 * and another is active now. */
static void discarded_event(struct store *s, const struct promote_run *run, int64_t against)
{
    char subject[32];
    int64_t now = store_layer_active_id(s);
    snprintf(subject, sizeof subject, "layer:%lld", (long long)run->id);
    json_t *d = json_pack("{s:o,s:o}", "compared_against",
                          against > 0 ? json_integer(against) : json_null(), "active",
                          now > 0 ? json_integer(now) : json_null());
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    /* The next try's outcome is recorded (or fails) on its own. */
    if (!text || store_event_add(s, run->actor, "layer_check_discarded", subject, text))
        log_json("error", "cannot record a discarded check", "{s:I}", "layer", (json_int_t)run->id);
    free(text);
}

int promote_layer(struct store *s, struct promote_run *run)
{
    run->discarded = 0;
    for (int t = 0; t < PROMOTE_TRIES; t++) {
        int64_t against = 0;
        int rc = promote_once(s, run, &against);
        if (rc != -ESTALE)
            return rc;
        run->discarded++;
        discarded_event(s, run, against);
    }
    run->stage = "recording the check: the active layer kept changing";
    return -ESTALE;
}
