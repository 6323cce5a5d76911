/* promote.h - promoting a candidate layer: checked against what is settled
 * (consistency.h's rules) before it replaces the active one.
 *
 * Scoring the settled set may call an external model: run it off the HTTP
 * threads (the daemon does it on the layer worker). */
#ifndef RUNG_PROMOTE_H
#define RUNG_PROMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "consistency.h"

struct store;

#define PROMOTE_SETTLED_MAX 5000 /* settled pairs the check reads at most */

struct promote_run {
    int64_t id;                       /* in: the candidate */
    const char *actor;                /* in: who asks (a key name), for the event; may be NULL */
    struct consistency_params params; /* in: the rules' settings */
    struct consistency_report report; /* out */
    json_t *json;                     /* out: the report as stored (new reference; the caller
                                         decrefs), NULL on failure */
    size_t flagged;                   /* out: contradicted settled items flagged for people */
    bool promoted;                    /* out: it passed and is now the active layer */
    const char *stage;                /* out: the step that failed, for the message */
};

/* Loads candidate run->id and the active layer, scores the settled set
 * with both, applies the consistency rules, and records the outcome: the
 * candidate becomes active (passed) or rejected with flags on the items it
 * confidently contradicts (failed); the report is kept on the layer and an
 * event written either way. Returns 0 (see run->promoted), -ENOENT (no such
 * layer), -EALREADY (it is the active layer), -EINVAL (its parameters do
 * not load, or it is not a candidate), a scoring error (an external model
 * unreachable: nothing was recorded), -ENOMEM, -EIO. */
int promote_layer(struct store *s, struct promote_run *run);

#endif
