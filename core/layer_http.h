/* layer_http.h - the "http" layer kind: a team's own reward model served by
 * vLLM (pooling API), Hugging Face text-embeddings-inference (/predict) or
 * any server speaking rung's own contract, behind struct layer_ops.
 *
 * The parameter blob and each protocol's exact requests and answers are
 * documented at the top of layer_http.c. Scoring blocks on the network
 * (may_block): the server runs it on a layer_worker, never on an HTTP
 * thread. Every call is bounded: timeout_ms x (retries + 1) plus the
 * backoff between tries.
 *
 * Thread safety: any number of threads may score with one loaded layer at
 * once. Each call uses its own libcurl easy handle; the cache, the circuit
 * breaker and the health counters sit behind one mutex per layer, never
 * held across network I/O. libcurl's global state is initialised once per
 * process (pthread_once) on the first load and never cleaned up: its
 * memory stays reachable until exit, and a later curl_global_cleanup would
 * race with other threads still using libcurl. Every other user of libcurl
 * in the process (the webhook sender) goes through layer_http_curl_init. */
#ifndef RUNG_LAYER_HTTP_H
#define RUNG_LAYER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"

#define LAYER_KIND_HTTP "http"

/* Defaults of the parameter blob's fields, and hard caps. */
#define LAYER_HTTP_TIMEOUT_MS_DEFAULT 2000           /* one request, connect included */
#define LAYER_HTTP_TIMEOUT_MS_MAX 600000             /* ten minutes */
#define LAYER_HTTP_BATCH_DEFAULT 32                  /* inputs per request */
#define LAYER_HTTP_BATCH_MAX 4096                    /* largest "batch" */
#define LAYER_HTTP_RETRIES_DEFAULT 2                 /* tries after the first */
#define LAYER_HTTP_RETRIES_MAX 10                    /* largest "retries" */
#define LAYER_HTTP_BACKOFF_MS_DEFAULT 100            /* wait before the first retry; doubles */
#define LAYER_HTTP_BACKOFF_MS_MAX 10000              /* largest single wait */
#define LAYER_HTTP_BREAKER_FAILURES_DEFAULT 5        /* consecutive failed tries that open it */
#define LAYER_HTTP_BREAKER_COOLDOWN_MS_DEFAULT 10000 /* open this long, then one probe */
#define LAYER_HTTP_CACHE_DEFAULT 4096                /* cached rewards, 0 turns the cache off */
#define LAYER_HTTP_CACHE_MAX (1u << 20)              /* largest "cache" */
#define LAYER_HTTP_RESPONSE_MAX (1u << 20)           /* answer body cap, bytes */
#define LAYER_HTTP_TEXT_MAX (8u << 20)               /* "template", "url", "model" caps, bytes */

/* The circuit breaker: closed (calls go out), open (calls fail fast with
 * -EHOSTUNREACH until the cool-down ends), half-open (one probe is out; a
 * success closes it, a failure opens it again). */
enum layer_http_breaker {
    LAYER_HTTP_CLOSED = 0,
    LAYER_HTTP_OPEN,
    LAYER_HTTP_HALF_OPEN,
};

/* A snapshot of one layer's client health, for /metrics and /v1/status. */
struct layer_http_health {
    uint64_t requests;     /* HTTP requests sent (every try) */
    uint64_t failures;     /* tries that failed: transport, timeout, non-2xx, bad answer */
    uint64_t errors;       /* score calls that returned an error */
    uint64_t fast_fails;   /* score calls refused by the open breaker */
    uint64_t cache_hits;   /* inputs answered from the cache */
    uint64_t cache_misses; /* inputs that had to be asked for */
    enum layer_http_breaker breaker;
    unsigned consecutive_failures; /* failed tries since the last success */
    uint64_t last_latency_us;      /* the last request's wall time, 0 before any */
    int last_error;                /* the last failed try's negative errno, 0 if none */
};

/* Initialises libcurl's global state once per process (pthread_once; safe
 * from any thread, any number of times); it is never cleaned up. Returns 0,
 * or -EIO when libcurl cannot start. */
int layer_http_curl_init(void);

/* The kind, for layer.c's table. impl is private to layer_http.c. */
extern const struct layer_ops layer_http_ops;

/* Fills *out with the health of impl, an "http" layer's state (as made by
 * layer_http_ops.load). Never blocks on the network. */
void layer_http_health(const void *impl, struct layer_http_health *out);

/* "closed", "open" or "half_open" (static text). */
const char *layer_http_breaker_name(enum layer_http_breaker b);

/* Rewards for n (prompt, response) inputs, asked for in requests of at most
 * the layer's "batch" inputs (cached ones are not asked for again). On 0,
 * r[i] is the model's reward for input i. Returns 0, -EINVAL on a NULL text,
 * -ENOMEM, -EHOSTUNREACH when the breaker is open, or the last try's error:
 * -ECONNREFUSED (cannot connect), -ETIMEDOUT, -EREMOTEIO (5xx), -EPROTO
 * (another non-2xx status), -EFBIG (answer over LAYER_HTTP_RESPONSE_MAX),
 * -EBADMSG (an answer that is not the protocol's shape, a wrong count, a
 * number that is not finite), -EIO (other transport failures), -EBUSY
 * (429 after the retries). On error r is unspecified: no reward is ever
 * guessed. Blocks at most ceil(misses / batch) x (timeout_ms x (retries + 1)
 * plus the backoff): a pair or a single text is one request. */
int layer_http_score_batch(const void *impl, size_t n, const char *const *prompts,
                           const char *const *responses, double *r);

#endif
