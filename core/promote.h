/* promote.h - promoting a candidate layer: checked against what is settled
 * (consistency.h's rules) before it replaces the active one.
 *
 * Scoring the settled set may call an external model: run it off the HTTP
 * threads (the daemon does it on the layer worker). */
#ifndef RUNG_PROMOTE_H
#define RUNG_PROMOTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "consistency.h"

struct store;

#define PROMOTE_SETTLED_MAX 5000 /* settled pairs the check reads at most */
#define PROMOTE_TRIES 3          /* checks run when the active layer keeps changing under them */

struct promote_run {
    int64_t id;                       /* in: the candidate */
    const char *actor;                /* in: who asks (a key name), for the event; may be NULL */
    struct consistency_params params; /* in: the rules' settings */
    const atomic_bool *cancel;        /* in: may be NULL; once true the check gives up between
                                         pairs (-ECANCELED, nothing recorded) */
    struct consistency_report report; /* out */
    json_t *json;                     /* out: the report as stored (new reference; the caller
                                         decrefs), NULL on failure */
    size_t flagged;                   /* out: contradicted settled items flagged for people */
    bool promoted;                    /* out: it passed and is now the active layer */
    const char *stage;                /* out: the step that failed, for the message */
    int discarded;                    /* out: checks thrown away because another layer became
                                         active while they ran (each one an event) */
};

/* Loads candidate run->id and the active layer, scores the settled set
 * with both, applies the consistency rules, and records the outcome: the
 * candidate becomes active (passed) or rejected with flags on the items it
 * confidently contradicts (failed); the report is kept on the layer and an
 * event written either way. The outcome is written only if the layer the
 * check compared against is still the active one when it is recorded
 * (store_layer_checked's compare-and-set): when a rollback or another
 * promotion changed it meanwhile, the result is discarded, an event
 * (layer_check_discarded, detail {"compared_against", "active"}) says so,
 * and the check runs again against the layer now active, PROMOTE_TRIES
 * times in all. Returns 0 (see run->promoted), -ENOENT (no such layer),
 * -EALREADY (it is the active layer), -EINVAL (its parameters do not load,
 * or it is not a candidate), -ESTALE (the active layer changed under every
 * try: nothing recorded), -ECANCELED (run->cancel: nothing recorded), a
 * scoring error (an external model unreachable: nothing was recorded),
 * -ENOMEM, -EIO. */
int promote_layer(struct store *s, struct promote_run *run);

#endif
