/* Drift between consecutive layers (see drift.h). */
#include "drift.h"

#include <errno.h>
#include <stdlib.h>

#include "audit.h"
#include "store.h"

/* Scores the pairs of one set (recent or the probe set) with both layers
 * into *d. 0, -ENOMEM, -EIO. */
static int drift_set(struct store *s, const struct layer *old, const struct layer *cur, bool recent,
                     size_t max, struct audit_drift *d)
{
    struct store_settled *v = NULL;
    size_t n = 0;
    int rc = store_drift_items(s, recent, max, &v, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        struct layer_pair po, pn;
        if (layer_score_pair(old, v[i].prompt, v[i].a, v[i].b, &po) ||
            layer_score_pair(cur, v[i].prompt, v[i].a, v[i].b, &pn))
            continue; /* unscored by one of them: not compared */
        audit_drift_add(d, po.p_a, pn.p_a);
    }
    store_settled_free(v, n);
    return rc;
}

int drift_measure(struct store *s, const struct layer *cur, size_t max)
{
    int64_t parent = 0;
    int rc = store_layer_parent(s, layer_id(cur), &parent);
    if (rc || !parent)
        return rc;
    struct layer *old = NULL;
    rc = layer_open(s, parent, &old);
    if (rc)
        return rc;
    struct audit_drift probe = {0}, recent = {0};
    rc = drift_set(s, old, cur, false, max, &probe);
    rc = rc ? rc : drift_set(s, old, cur, true, max, &recent);
    layer_free(old);
    json_t *o = rc ? NULL
                   : json_pack("{s:I,s:o,s:o}", "parent", (json_int_t)parent, "probe",
                               audit_drift_json(&probe), "recent", audit_drift_json(&recent));
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(o);
    if (!rc && !text)
        rc = -ENOMEM;
    rc = rc ? rc : store_drift_save(s, layer_id(cur), parent, text);
    free(text);
    return rc;
}
