/* Measured trust over REST: the "audit" and "drift" objects of a layer
 * (see api_audit.h), built from the store's counts with audit.h's rules. */
#include "api_audit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "store.h"

static json_t *real_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* {"labels", "same_as_layer", "share"} of one kind of label. */
static json_t *effect_json(int64_t labels, int64_t same)
{
    return json_pack("{s:I,s:I,s:o}", "labels", (json_int_t)labels, "same_as_layer",
                     (json_int_t)same, "share",
                     labels ? json_real((double)same / (double)labels) : json_null());
}

static json_t *audit_json(const struct store_layer_trust *t)
{
    struct audit_rate r;
    audit_error_rate(t->agree + t->disagree, t->disagree, &r);
    json_t *interval = isnan(r.lo) ? json_null() : json_pack("[f,f]", r.lo, r.hi);
    return json_pack("{s:I,s:I,s:I,s:I,s:o,s:o,s:f,s:b,s:o,s:{s:o,s:o}}", "audited",
                     (json_int_t)r.audited, "disagreements", (json_int_t)r.errors, "inconclusive",
                     (json_int_t)t->inconclusive, "open", (json_int_t)t->open, "error_rate",
                     real_or_null(r.rate), "interval", interval, "promise", t->promise, "demoted",
                     t->demoted, "demoted_ms",
                     t->demoted ? json_integer(t->demoted_ms) : json_null(), "assistance_effect",
                     "blind", effect_json(t->blind_labels, t->blind_same), "shown",
                     effect_json(t->shown_labels, t->shown_same));
}

/* The drift object: what drift_measure kept, with when; null when never
 * measured. */
static json_t *drift_json(const struct store_layer_trust *t)
{
    json_t *d = t->drift ? json_loads(t->drift, 0, NULL) : NULL;
    if (!json_is_object(d)) {
        json_decref(d);
        return json_null();
    }
    json_object_set_new(d, "computed_ms", json_integer(t->drift_ms));
    return d;
}

int api_layer_trust_json(struct app *app, int64_t layer_id, json_t *out)
{
    struct store_layer_trust t;
    int rc = store_layer_trust(app->store, layer_id, &t);
    if (rc)
        return rc;
    json_t *audit = audit_json(&t);
    json_t *drift = drift_json(&t);
    store_layer_trust_clear(&t);
    if (!audit || !drift) {
        json_decref(audit);
        json_decref(drift);
        return -ENOMEM;
    }
    json_object_set_new(out, "audit", audit);
    json_object_set_new(out, "drift", drift);
    return 0;
}

/* POST /v1/layers/{id}/reinstate: an admin clears a demotion (the store
 * writes the event); from then on only audits decided after it count
 * towards another. */
void api_layer_reinstate(struct req *r, const char *param)
{
    int64_t id;
    int rc = util_parse_i64(param, 1, INT64_MAX, &id)
                 ? -ENOENT
                 : store_layer_reinstate(r->app->store, id, r->key.name);
    if (rc == -ENOENT)
        http_error(r, 404, "not_found", "No such layer.");
    else if (rc == -EALREADY)
        http_error(r, 409, "not_demoted", "Layer %lld is not demoted.", (long long)id);
    else if (rc)
        api_store_error(r, rc, "reinstating the layer");
    else
        http_reply_json(r, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "demoted", 0));
}
