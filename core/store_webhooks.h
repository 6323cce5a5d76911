/* store_webhooks.h - webhooks in the store: the hooks a key registered
 * and the outbox of deliveries (schema/010_webhooks.sql). The outbox is
 * filled by triggers in the same transaction as each verdict; this
 * interface registers, lists and deletes hooks, and hands the sender the
 * deliveries that are due and records how each attempt went. */
#ifndef RUNG_STORE_WEBHOOKS_H
#define RUNG_STORE_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "webhook.h"

/* One hook as its key sees it (never its secret). */
struct store_webhook {
    int64_t id;
    char *url; /* owned */
    int64_t created_ms;
    int64_t pending;         /* deliveries in its outbox */
    int64_t delivered;       /* acknowledged so far */
    int64_t failures;        /* attempts that failed so far */
    int64_t last_status;     /* HTTP status of the last attempt, 0 when none or no answer */
    char *last_error;        /* owned; NULL after a success or before any attempt */
    int64_t last_attempt_ms; /* 0 before any attempt */
};

/* Registers url (checked by the caller with webhook_url_check) with
 * secret for the key. Writes the new hook's id and creation time. Returns
 * 0, -EMLINK when the key has WEBHOOKS_PER_KEY_MAX hooks already, -EIO. */
int store_webhook_create(struct store *s, int64_t key_id, const char *url, const char *secret,
                         int64_t *id, int64_t *created_ms);

/* Reads the key's hooks (at most WEBHOOKS_PER_KEY_MAX) by id into a
 * malloc'd array *v of *n (free with store_webhooks_free; NULL when none).
 * Returns 0, -ENOMEM, -EIO. */
int store_webhook_list(struct store *s, int64_t key_id, struct store_webhook **v, size_t *n);

/* Frees n hooks and the array. NULL is a no-op. */
void store_webhooks_free(struct store_webhook *v, size_t n);

/* Deletes the key's hook id with its pending deliveries (their count into
 * *dropped). Returns 0, -ENOENT when the key has no such hook, -EIO. */
int store_webhook_delete(struct store *s, int64_t key_id, int64_t id, int64_t *dropped);

/* A delivery that is due, with what the sender needs to post it. */
struct store_webhook_due {
    int64_t id, hook_id;
    unsigned attempts;  /* failed attempts so far */
    char *url, *secret; /* the hook's; owned */
    char *item_id;      /* owned */
    char *external_id;  /* owned, NULL when none */
    char *batch;        /* owned, NULL when none */
    char verdict[16];
    char source[16];
    bool has_confidence;
    double confidence;
    int64_t resolved_ms;
};

/* Reads, for each hook of a live key not in busy (nbusy hook ids), its
 * oldest pending delivery when that is due at now_ms: at most max, in
 * delivery order, into a malloc'd *v of *n (free with
 * store_webhook_due_free). A hook whose oldest delivery is not due yet
 * yields nothing, so each hook's deliveries go out in order. *next_ms
 * receives when the earliest head not due yet will be (INT64_MAX when
 * none; due heads left out for want of room do not count). Returns 0,
 * -ENOMEM, -EIO. */
int store_webhook_due(struct store *s, int64_t now_ms, const int64_t *busy, size_t nbusy,
                      size_t max, struct store_webhook_due **v, size_t *n, int64_t *next_ms);

/* Frees n due deliveries and the array. NULL is a no-op. */
void store_webhook_due_free(struct store_webhook_due *v, size_t n);

/* How one attempt went. */
struct store_webhook_attempt {
    int64_t delivery_id, hook_id;
    bool acked;        /* answered 2xx: the delivery is done */
    int64_t status;    /* HTTP status, 0 when there was no answer */
    const char *error; /* why it failed (borrowed), NULL when acked */
    int64_t at_ms;     /* when it was made */
    int64_t next_ms;   /* not acked: when to try again */
};

/* Records n attempts in one transaction: an acknowledged delivery leaves
 * the outbox, a failed one counts a failure and waits until next_ms.
 * Either way the hook's counters and last outcome follow. A hook or
 * delivery deleted meanwhile is no error. Returns 0 or -EIO. */
int store_webhook_record(struct store *s, const struct store_webhook_attempt *a, size_t n);

#endif
