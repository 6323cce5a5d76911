/* webhook.h - the rules of webhook deliveries, with no store and no
 * network: which URLs a hook may have, the retry schedule, the body of a
 * delivery and its signature. The store keeps hooks and the outbox
 * (store_webhooks.h); the sender (webhook_send.h) posts.
 *
 * A delivery's body is one JSON object:
 *   {"delivery": "9f2c4e1a0b3d5f67-17", "hook_id": 3, "item_id": "3f0c…",
 *    "external_id": "e1" or null, "batch": "b1" or null, "verdict": "a",
 *    "source": "human", "confidence": 0.75 or null,
 *    "resolved_ms": 1795664926039}
 * The delivery id is "<nonce>-<n>": 16 random hex characters drawn when
 * the delivery was queued and its outbox row number, unique across
 * restores of a backup (see schema/010_webhooks.sql). Each attempt is
 * sent with "X-Rung-Timestamp: <ms since the epoch, decimal>" and
 * "X-Rung-Signature: sha256=<64 lowercase hex>", the HMAC-SHA-256 keyed
 * with the hook's secret (its 64 characters as given) over the
 * timestamp's digits, one ".", and the body's bytes. */
#ifndef RUNG_WEBHOOK_H
#define RUNG_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WEBHOOK_URL_MAX 2048              /* bytes of a hook's URL */
#define WEBHOOK_SECRET_BYTES 32           /* random bytes of a secret */
#define WEBHOOK_SECRET_LEN 64             /* its hex characters */
#define WEBHOOK_SIG_LEN 71                /* "sha256=" and 64 hex, without the NUL */
#define WEBHOOK_WHY_MAX 160               /* a sentence saying what is wrong with a URL */
#define WEBHOOK_NONCE_LEN 16              /* hex characters of a delivery's nonce */
#define WEBHOOK_DELIVERY_ID_MAX 40        /* "<nonce>-<n>" and its NUL */
#define WEBHOOK_CLASS_MAX 16              /* a failure's class and its NUL */
#define WEBHOOKS_PER_KEY_MAX 16           /* hooks one key may have */
#define WEBHOOK_BACKOFF_MS_DEFAULT 1000u  /* the first retry's delay */
#define WEBHOOK_BACKOFF_CAP_MS 3600000u   /* no retry waits longer (1 h) */
#define WEBHOOK_TIMEOUT_MS_DEFAULT 10000u /* one attempt, connecting included */
#define WEBHOOK_TIMEOUT_MS_MAX 600000     /* largest --webhook-timeout-ms */
#define WEBHOOK_BACKOFF_MS_MAX 3600000    /* largest --webhook-backoff-ms */

/* Checks a hook's URL: 1 to WEBHOOK_URL_MAX bytes of printable ASCII
 * (no spaces or controls), an absolute http or https URL that libcurl
 * parses, with a host and no user name or password (they would be shown by
 * every listing). Unless allow_private, a host written as an IP address
 * must not be one webhook_addr_blocked refuses (host names are checked
 * when the sender connects, against every address they resolve to).
 * Returns 0, or -EINVAL with a sentence in why. */
int webhook_url_check(const char *url, bool allow_private, char why[WEBHOOK_WHY_MAX]);

/* True when a delivery must not connect to sa (AF_INET or AF_INET6; any
 * other family is refused too): loopback, private (10/8, 172.16/12,
 * 192.168/16, fc00::/7), shared (100.64/10), link-local (169.254/16, where
 * cloud metadata services answer, fe80::/10), unspecified, IETF
 * (192.0.0/24), benchmarking (198.18/15), multicast, broadcast and
 * reserved ranges, site-local fec0::/10, Teredo 2001::/32, and IPv6 forms
 * carrying such an IPv4 address (mapped, compatible, NAT64 64:ff9b::/96,
 * 6to4). */
bool webhook_addr_blocked(const struct sockaddr *sa);

/* The coarse class of a failed attempt, as GET /v1/webhooks shows it: a
 * receiver's host and ports are not mapped through error texts. blocked:
 * the sender refused the address (webhook_addr_blocked); else from
 * curl_code (a CURLcode): "timeout", "dns", "refused", "closed" (the
 * connection dropped without an answer), "tls", "error" (anything else),
 * or when the transfer completed, "http <status>". */
void webhook_failure_class(int curl_code, long status, bool blocked, char out[WEBHOOK_CLASS_MAX]);

/* The delivery id of outbox row n with its nonce: "<nonce>-<n>". */
void webhook_delivery_id(const char *nonce, int64_t n, char out[WEBHOOK_DELIVERY_ID_MAX]);

/* How long to wait before the next attempt after `failures` failed ones
 * (1 or more): base_ms doubled for each failure after the first, at most
 * cap_ms (base_ms, 2 base_ms, 4 base_ms, ...). No jitter: a hook is tried
 * by one sender, one delivery at a time. 0 failures gives 0. */
uint64_t webhook_backoff_ms(unsigned failures, uint64_t base_ms, uint64_t cap_ms);

/* Makes a new secret: WEBHOOK_SECRET_BYTES from libsodium as lowercase hex
 * into out (NUL-terminated). libsodium must be initialised. */
void webhook_secret_new(char out[WEBHOOK_SECRET_LEN + 1]);

/* Writes "sha256=<hex of HMAC-SHA-256(secret, "<timestamp_ms>." body)>"
 * into out (NUL-terminated): the timestamp's decimal digits, a dot, then
 * the body's len bytes. */
void webhook_sign(const char *secret, int64_t timestamp_ms, const char *body, size_t len,
                  char out[WEBHOOK_SIG_LEN + 1]);

/* One delivery: an outbox row with its item's names. Strings borrowed. */
struct webhook_delivery {
    const char *delivery; /* the delivery id, "<nonce>-<n>" */
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
