/* Measured trust in a layer's JSON (api_audit.c): what hidden audits
 * found of its verdicts, whether it was demoted, and its drift. */
#ifndef RUNG_API_AUDIT_H
#define RUNG_API_AUDIT_H

#include <jansson.h>
#include <stdint.h>

struct app;

/* Adds to out (a layer's JSON object) "audit": {"audited",
 * "disagreements", "inconclusive", "open", "error_rate", "interval",
 * "promise", "demoted", "demoted_ms", "assistance_effect": {"blind":
 * {"labels", "same_as_layer", "share"}, "shown": {...}}} and "drift":
 * null or {"parent", "probe": {"items", "agreement", "mean_abs_diff"},
 * "recent": {...}, "computed_ms"} for layer layer_id. Returns 0,
 * -ENOENT (no such layer), -ENOMEM, -EIO (out is then unchanged). */
int api_layer_trust_json(struct app *app, int64_t layer_id, json_t *out);

struct req;

/* POST /v1/layers/{id}/reinstate (admin): clears the layer's demotion,
 * with an event; 200 {"id", "demoted": false}, 404 not_found, 409
 * not_demoted. */
void api_layer_reinstate(struct req *r, const char *param);

#endif
