/* Drift between consecutive layers (see drift.h). */
#include "drift.h"

#include <errno.h>
#include <stdlib.h>

#include "audit.h"
#include "store.h"
#include "util.h"

/* Scores the pairs of one set (recent or the probe set) with both layers
 * into *d until deadline_ms (0: none). 0, -ECANCELED, -ENOMEM, -EIO. */
static int drift_set(struct store *s, const struct layer *old, const struct layer *cur, bool recent,
                     size_t max, int64_t deadline_ms, struct drift_run *run, struct audit_drift *d)
{
    struct store_settled *v = NULL;
    size_t n = 0;
    int rc = store_drift_items(s, recent, max, &v, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (run->stop && run->stop(run->cls)) {
            run->stopped = true;
            rc = -ECANCELED;
            break;
        }
        if (deadline_ms && util_now_ms() >= deadline_ms) {
            run->complete = false;
            break;
        }
        struct layer_pair po, pn;
        if (layer_score_pair(old, v[i].prompt, v[i].a, v[i].b, &po) ||
            layer_score_pair(cur, v[i].prompt, v[i].a, v[i].b, &pn))
            continue; /* unscored by one of them: not compared */
        audit_drift_add(d, po.p_a, pn.p_a);
    }
    store_settled_free(v, n);
    return rc;
}

/* Measures both sets within run's budget into *probe and *recent. */
static int drift_sets(struct store *s, const struct layer *old, const struct layer *cur, size_t max,
                      struct drift_run *run, struct audit_drift *probe, struct audit_drift *recent)
{
    int64_t start = util_now_ms();
    int64_t half = run->budget_ms > 0 ? start + (run->budget_ms + 1) / 2 : 0;
    int64_t end = run->budget_ms > 0 ? start + run->budget_ms : 0;
    int rc = drift_set(s, old, cur, false, max, half, run, probe);
    return rc ? rc : drift_set(s, old, cur, true, max, end, run, recent);
}

int drift_measure(struct store *s, const struct layer *cur, size_t max, struct drift_run *run)
{
    run->stopped = false;
    run->complete = true;
    int64_t parent = 0;
    int rc = store_layer_parent(s, layer_id(cur), &parent);
    if (rc || !parent)
        return rc;
    struct layer *old = NULL;
    rc = layer_open(s, parent, &old);
    if (rc)
        return rc;
    struct audit_drift probe = {0}, recent = {0};
    rc = drift_sets(s, old, cur, max, run, &probe, &recent);
    layer_free(old);
    json_t *o = rc ? NULL
                   : json_pack("{s:I,s:o,s:o,s:b}", "parent", (json_int_t)parent, "probe",
                               audit_drift_json(&probe), "recent", audit_drift_json(&recent),
                               "complete", run->complete);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    if (!rc && !text)
        rc = -ENOMEM;
    rc = rc ? rc : store_drift_save(s, layer_id(cur), parent, text);
    free(text);
    return rc;
}
