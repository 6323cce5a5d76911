/* webhook.h - the rules of webhook deliveries, with no store and no
 * network: which URLs a hook may have, the retry schedule, the body of a
 * delivery and its signature. The store keeps hooks and the outbox
 * (store_webhooks.h); the sender (webhook_send.h) posts.
 *
 * A delivery's body is one JSON object:
 *   {"delivery": 17, "hook_id": 3, "item_id": "3f0c…", "external_id": "e1"
 *    or null, "batch": "b1" or null, "verdict": "a", "source": "human",
 *    "confidence": 0.75 or null, "resolved_ms": 1795664926039}
 * signed with HMAC-SHA-256 over exactly those bytes, keyed with the hook's
 * secret (its 64 characters as given), sent as the header
 * "X-Rung-Signature: sha256=<64 lowercase hex>". */
#ifndef RUNG_WEBHOOK_H
#define RUNG_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_URL_MAX 2048              /* bytes of a hook's URL */
#define WEBHOOK_SECRET_BYTES 32           /* random bytes of a secret */
#define WEBHOOK_SECRET_LEN 64             /* its hex characters */
#define WEBHOOK_SIG_LEN 71                /* "sha256=" and 64 hex, without the NUL */
#define WEBHOOK_WHY_MAX 160               /* a sentence saying what is wrong with a URL */
#define WEBHOOKS_PER_KEY_MAX 16           /* hooks one key may have */
#define WEBHOOK_BACKOFF_MS_DEFAULT 1000u  /* the first retry's delay */
#define WEBHOOK_BACKOFF_CAP_MS 3600000u   /* no retry waits longer (1 h) */
#define WEBHOOK_TIMEOUT_MS_DEFAULT 10000u /* one attempt, connecting included */
#define WEBHOOK_TIMEOUT_MS_MAX 600000     /* largest --webhook-timeout-ms */
#define WEBHOOK_BACKOFF_MS_MAX 3600000    /* largest --webhook-backoff-ms */

/* Checks a hook's URL: 1 to WEBHOOK_URL_MAX bytes of printable ASCII
 * (no spaces or controls), an absolute http or https URL that libcurl
 * parses, with a host and no user name or password (they would be shown by
 * every listing). Returns 0, or -EINVAL with a sentence in why. */
int webhook_url_check(const char *url, char why[WEBHOOK_WHY_MAX]);

/* How long to wait before the next attempt after `failures` failed ones
 * (1 or more): base_ms doubled for each failure after the first, at most
 * cap_ms (base_ms, 2 base_ms, 4 base_ms, ...). No jitter: a hook is tried
 * by one sender, one delivery at a time. 0 failures gives 0. */
uint64_t webhook_backoff_ms(unsigned failures, uint64_t base_ms, uint64_t cap_ms);

/* Makes a new secret: WEBHOOK_SECRET_BYTES from libsodium as lowercase hex
 * into out (NUL-terminated). libsodium must be initialised. */
void webhook_secret_new(char out[WEBHOOK_SECRET_LEN + 1]);

/* Writes "sha256=<hex of HMAC-SHA-256(secret, body)>" into out
 * (NUL-terminated). */
void webhook_sign(const char *secret, const char *body, size_t len, char out[WEBHOOK_SIG_LEN + 1]);

/* One delivery: an outbox row with its item's names. Strings borrowed. */
struct webhook_delivery {
    int64_t id; /* the delivery id (outbox row), increasing */
    int64_t hook_id;
    const char *item_id;     /* the item's uuid */
    const char *external_id; /* NULL when none */
    const char *batch;       /* NULL when none */
    const char *verdict;
    const char *source; /* human | layer | aggregate | gold */
    bool has_confidence;
    double confidence;
    int64_t resolved_ms;
};

/* The delivery's body (see above), compact JSON with reals at 6
 * significant digits; malloc'd, the caller frees; *len its length. NULL
 * when memory is short or a text is not valid UTF-8. */
char *webhook_body(const struct webhook_delivery *d, size_t *len);

#endif
