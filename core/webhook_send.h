/* webhook_send.h - the sender: one thread that drains the webhook outbox
 * over HTTP (libcurl's multi interface), so no HTTP worker of the daemon
 * ever waits on a receiver.
 *
 * Each hook gets at most one delivery in flight, always its oldest
 * pending one, so a hook receives its deliveries in delivery-id order
 * (and an item's verdicts in the order they were made). An answer 2xx
 * acknowledges a delivery: it leaves the outbox. Anything else (another
 * status, a refused or dropped connection, no answer within the timeout)
 * is a failure: the delivery is tried again after webhook_backoff_ms, for
 * ever, until it is acknowledged or its hook deleted. Deliveries in flight
 * at shutdown were not recorded as acknowledged, so they are sent again
 * after the next start: at least once, never lost. Hooks are served
 * independently: one slow or failing receiver delays only its own. */
#ifndef RUNG_WEBHOOK_SEND_H
#define RUNG_WEBHOOK_SEND_H

#include <stdint.h>

#include "store.h"

#define WEBHOOK_POLL_MS 200     /* the outbox is looked at this often when idle */
#define WEBHOOK_INFLIGHT_MAX 64 /* deliveries (so hooks) in flight at once */

struct webhook_sender;

/* Options of the sender. */
struct webhook_send_opts {
    uint64_t timeout_ms; /* one attempt, connecting included */
    uint64_t backoff_ms; /* the first retry's delay (doubling, capped at WEBHOOK_BACKOFF_CAP_MS) */
};

/* Starts the sender thread on s (which must outlive it). libsodium must
 * be initialised. Returns NULL when it cannot start (memory, libcurl,
 * threads). */
struct webhook_sender *webhook_sender_start(struct store *s, const struct webhook_send_opts *o);

/* Stops the thread (it wakes at once; transfers in flight are abandoned,
 * to be sent again after a restart) and frees the sender. Call before the
 * store closes. NULL is a no-op. */
void webhook_sender_stop(struct webhook_sender *w);

#endif
