/* Judging rules of human review; see aggregate.h. */
#include "aggregate.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "agree.h"
#include "limits.h"

bool aggregate_answer_fits(const char *kind, const char *answer)
{
    if (!strcmp(kind, "pair"))
        return !strcmp(answer, "a") || !strcmp(answer, "b") || !strcmp(answer, "tie");
    return !strcmp(answer, "good") || !strcmp(answer, "bad");
}

enum label_result label_admissible(const struct label_facts *f)
{
    if (!aggregate_answer_fits(f->kind, f->answer))
        return LABEL_BAD_ANSWER;
    /* Idempotent per task and rater; the undo rule lets the rater's
     * latest label change within the grace period. */
    if (f->previous) {
        if (!strcmp(f->previous, f->answer))
            return LABEL_REPEAT;
        bool in_grace = f->undo_ms > 0 && f->previous_age_ms <= f->undo_ms;
        return f->previous_last && in_grace ? LABEL_REPLACED : LABEL_CONFLICT;
    }
    /* The lease, live or expired, is the mark that the task was served to
     * this rater; a finished task no longer keeps one. */
    if (!f->served)
        return f->gold || f->open ? LABEL_NOT_SERVED : LABEL_TASK_COMPLETE;
    if (f->gold)
        return LABEL_RECORDED; /* gold is never full: it scores every rater */
    if (!f->open)
        return LABEL_TASK_COMPLETE;
    if (!f->lease_live && f->labels_done + f->leased >= f->overlap)
        return LABEL_LEASE_LOST;
    return LABEL_RECORDED;
}

bool aggregate_complete(int labels_done, int overlap)
{
    return labels_done >= overlap;
}

/* Answers in the order of the counts aggregate_labels keeps. */
static const char *const answers[] = {"a", "b", "tie", "good", "bad"};
enum { N_A, N_B, N_TIE, N_GOOD, N_BAD, N_ANSWERS };

/* Of the k answers idx[0..k), the index of the one with more labels than
 * every other, or -1 for a split; top receives the largest count. */
static int strict_majority(const int *count, const int *idx, size_t k, int *top)
{
    int best = -1, max = -1;
    bool shared = false;
    for (size_t i = 0; i < k; i++) {
        int c = count[idx[i]];
        if (c > max) {
            max = c;
            best = idx[i];
            shared = false;
        } else if (c == max) {
            shared = true;
        }
    }
    *top = max;
    return shared ? -1 : best;
}

int aggregate_labels(bool pair, const struct agg_label *labels, size_t n, bool split_extra,
                     bool extra_used, struct agg_outcome *out)
{
    int count[N_ANSWERS] = {0};
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < N_ANSWERS && strcmp(labels[i].answer, answers[k]))
            k++;
        if (k == N_ANSWERS)
            return -EINVAL;
        count[k]++;
    }
    static const int pair_idx[] = {N_A, N_B, N_TIE}, single_idx[] = {N_GOOD, N_BAD};
    int top;
    int won = pair ? strict_majority(count, pair_idx, 3, &top)
                   : strict_majority(count, single_idx, 2, &top);
    memset(out, 0, sizeof *out);
    if (won < 0 && split_extra && !extra_used) {
        out->action = AGG_EXTRA_LABEL;
        return 0;
    }
    out->action = AGG_RESOLVE;
    /* A split between a and b (or a tie majority) is a tie; a split on a
     * single response is unsure, and trains nothing. */
    out->verdict = won >= 0 ? answers[won] : pair ? "tie" : "unsure";
    out->agreement = (double)top / (double)n;
    out->comparison = strcmp(out->verdict, "unsure") != 0;
    out->b_won = won == N_B;
    out->tie = pair && won != N_A && won != N_B;
    return 0;
}

char *aggregate_provenance(const struct agg_label *labels, size_t n, double agreement,
                           const char *assistance)
{
    char *text = NULL;
    json_t *raters = json_array(), *said = json_array();
    json_t *assist = assistance ? json_loads(assistance, 0, NULL) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(raters, json_integer(labels[i].rater_id)) ||
            json_array_append_new(said, json_string(labels[i].answer)))
            goto out;
    }
    json_t *prov = json_pack("{s:O,s:O,s:f,s:O}", "raters", raters, "answers", said, "agreement",
                             agreement, "assistance", assist ? assist : json_null());
    text = prov ? json_dumps(prov, JSON_COMPACT) : NULL;
    json_decref(prov);
out:
    json_decref(raters);
    json_decref(said);
    json_decref(assist);
    return text;
}

void aggregate_gold(const char *answer, struct agg_outcome *out)
{
    *out = (struct agg_outcome){.action = AGG_RESOLVE, .verdict = answer, .agreement = 1.0};
}

bool aggregate_gold_right(const char *gold_answer, const char *answer)
{
    return gold_answer && !strcmp(gold_answer, answer);
}

bool aggregate_gold_turn(unsigned gold_rate_pct, uint32_t draw)
{
    return draw < gold_rate_pct;
}

const char *aggregate_answer_unswap(const char *answer, bool swapped)
{
    if (!swapped)
        return answer;
    if (!strcmp(answer, "a"))
        return "b";
    if (!strcmp(answer, "b"))
        return "a";
    return answer;
}

/* A number of the report, NAN when absent or null. */
static double report_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Fills out from a "calibration" object: its curve counts the items at or
 * above each confidence, so neighbouring points differ by one bin. */
static int calibration_bins(const json_t *cal, struct agg_calibration *out)
{
    const json_t *curve = json_object_get(cal, "curve");
    double items = report_num(cal, "items");
    size_t n = json_array_size(curve);
    if (!n || n > AGG_CAL_BINS || !(items >= 0))
        return -EINVAL;
    int64_t at[AGG_CAL_BINS], ok[AGG_CAL_BINS];
    for (size_t i = 0; i < n; i++) {
        const json_t *pt = json_array_get(curve, i);
        double lo = report_num(pt, "confidence"), cov = report_num(pt, "coverage");
        double acc = report_num(pt, "accuracy");
        if (!isfinite(lo) || (i && lo <= out->lo[i - 1]))
            return -EINVAL;
        out->lo[i] = lo;
        at[i] = isfinite(cov) ? llround(cov * items) : 0;
        ok[i] = isfinite(acc) ? llround(acc * (double)at[i]) : 0;
    }
    for (size_t i = 0; i < n; i++) {
        out->total[i] = at[i] - (i + 1 < n ? at[i + 1] : 0);
        out->right[i] = ok[i] - (i + 1 < n ? ok[i + 1] : 0);
        if (out->total[i] < 0 || out->right[i] < 0 || out->right[i] > out->total[i])
            return -EINVAL;
    }
    out->n = n;
    return 0;
}

int aggregate_calibration_read(const char *metrics, bool pair, struct agg_calibration *out)
{
    memset(out, 0, sizeof *out);
    json_t *rep = metrics ? json_loads(metrics, 0, NULL) : NULL;
    const json_t *cal = pair ? json_object_get(rep, "calibration")
                             : json_object_get(json_object_get(rep, "pointwise"), "calibration");
    int rc = json_is_object(cal) ? calibration_bins(cal, out) : -EINVAL;
    if (rc)
        memset(out, 0, sizeof *out);
    json_decref(rep);
    return rc;
}

bool aggregate_assist_shown(const struct agg_calibration *cal, double confidence, double *share,
                            int64_t *n)
{
    if (!cal || !cal->n || !(confidence >= ASSIST_CONFIDENCE_MIN) || confidence < cal->lo[0])
        return false;
    size_t b = 0;
    while (b + 1 < cal->n && confidence >= cal->lo[b + 1])
        b++;
    double lo, hi;
    if (cal->total[b] <= 0)
        return false;
    agree_wilson((size_t)cal->right[b], (size_t)cal->total[b], &lo, &hi);
    if (!(lo > 0.5))
        return false;
    *share = (double)cal->right[b] / (double)cal->total[b];
    *n = cal->total[b];
    return true;
}
