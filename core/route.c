#include "route.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static json_t *threshold_json(double tau)
{
    return isfinite(tau) ? json_real(tau) : json_null();
}

int route_item(const struct reward_layer *l, int64_t layer_id, const char *prompt, const char *a,
               const char *b, struct route_decision *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return 0;
    out->scored = true;
    if (b) {
        struct reward_pair p;
        int rc = reward_score_pair(l, prompt, a, b, &p);
        if (rc)
            return rc;
        double tau = reward_threshold(l);
        out->confidence = p.confidence;
        out->verdict = p.p_a >= 0.5 ? "a" : "b";
        out->auto_route = isfinite(tau) && p.confidence >= tau;
        out->scores =
            json_pack("{s:I,s:{s:f,s:f},s:{s:f,s:f},s:f,s:f,s:f,s:o,s:s}", "layer",
                      (json_int_t)layer_id, "a", "mean", p.ra, "sd", p.ra_sd, "b", "mean", p.rb,
                      "sd", p.rb_sd, "p_a", p.p_a, "p_sd", p.p_sd, "confidence", p.confidence,
                      "threshold", threshold_json(tau), "preference", out->verdict);
    } else {
        struct reward_single s;
        int rc = reward_score_single(l, prompt, a, &s);
        if (rc)
            return rc;
        double tau = reward_point_threshold(l);
        out->scores = json_pack("{s:I,s:f,s:f,s:o}", "layer", (json_int_t)layer_id, "mean", s.r,
                                "sd", s.r_sd, "threshold", threshold_json(tau));
        if (s.has_point) {
            out->confidence = s.confidence;
            out->verdict = s.p_good >= 0.5 ? "good" : "bad";
            out->auto_route = isfinite(tau) && s.confidence >= tau;
            json_object_set_new(out->scores, "p_good", json_real(s.p_good));
            json_object_set_new(out->scores, "confidence", json_real(s.confidence));
            json_object_set_new(out->scores, "preference", json_string(out->verdict));
        } else {
            /* Without a pointwise head the layer cannot judge a single
             * response on its own: a human does. */
            out->confidence = 0.5;
        }
    }
    if (!out->scores)
        return -ENOMEM;
    return 0;
}
