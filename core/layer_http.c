/* The "http" layer kind: a reward model behind an HTTP server.
 *
 * Parameters (the layer's blob, a JSON object; unknown keys are refused):
 *   "url"                 base URL, http:// or https:// (required)
 *   "protocol"            "vllm" | "tei" | "rung" (required)
 *   "model"               the served model's name (required for vllm)
 *   "timeout_ms"          one request, connect included (2000)
 *   "connect_timeout_ms"  connecting only (timeout_ms)
 *   "batch"               most inputs in one request (32)
 *   "retries"             tries after the first, on transport errors,
 *                         timeouts, 5xx and 429 only (2)
 *   "backoff_ms"          wait before the first retry, doubled each time (100)
 *   "breaker_failures"    consecutive failed tries that open the breaker (5)
 *   "breaker_cooldown_ms" how long it stays open before one probe (10000)
 *   "cache"               rewards kept, least recently used dropped; 0 = off (4096)
 *   "template"            text of one input for vllm (and tei when given):
 *                         "{prompt}" and "{response}" are replaced
 *                         (vllm default "Human: {prompt}\n\nAssistant: {response}")
 *   "label"               tei: read the prediction with this label (default:
 *                         each input must have exactly one prediction)
 *   "truncate"            tei: sent as "truncate" (absent: not sent)
 *   "api_key"             sent as "Authorization: Bearer KEY" (none)
 *   "api_key_env"         or: the environment variable holding the key, read
 *                         at load (keeps the secret out of the stored blob)
 *   "threshold"           the pair deferral threshold tau in [0.5, 1] once
 *                         calibrated (absent: INFINITY, nothing is automatic)
 *
 * One input is a (prompt, response); every request carries 1..batch inputs
 * and must be answered with exactly one finite reward per input, else the
 * call fails (-EBADMSG): no score is ever guessed.
 *
 * vllm (vLLM's pooling API, vllm/entrypoints/pooling/pooling/protocol.py):
 *   POST {url}/pooling  {"model": M, "input": [text, ...]}
 *   200 {"id", "object": "list", "created", "model",
 *        "data": [{"index": i, "object": "pooling", "data": D}, ...], "usage"}
 *   D is [reward] (a sequence-level head) or, for a model pooled per token,
 *   [[reward], ...], of which the last token's is read. Any other D fails.
 * tei (text-embeddings-inference, router/src/http/types.rs PredictRequest):
 *   POST {url}/predict  {"inputs": [[prompt, response], ...], "raw_scores": true}
 *   ("truncate" only when the parameters set it: else the server's
 *   --auto-truncate decides)
 *   (with a "template": [[text], ...]). The batch form (a list of lists) is
 *   always sent, even for one input, so that TEI answers the batch form:
 *   200 [[{"score": s, "label": L}, ...], ...], one list per input, sorted
 *   by score. raw_scores gives the logit, not its sigmoid or softmax.
 * rung (rung's own contract):
 *   POST {url}/score  {"inputs": [{"prompt": p, "response": r}, ...]}
 *   200 {"scores": [reward, ...]}  in input order, one per input.
 *
 * Rewards become rung's scores as a Bradley-Terry model reads them:
 * a pair's p_a = sigmoid(ra - rb), confidence = max(p_a, 1 - p_a), spreads
 * 0 (no ensemble). A single text or step has no pointwise head (has_point
 * false): a reward model's scalar has no fixed zero, so P(good) needs
 * calibration first. A step is scored as the response made of the steps
 * before it and the step, one per line.
 *
 * Cache keys are a 64-bit hash of the exact prompt and response (the
 * template is fixed per layer). Failing tries count towards the breaker
 * whatever the cause; a success closes it. */
#include "layer_http.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "feat.h"
#include "util.h"

#define NIL UINT32_MAX
#define DEFAULT_TEMPLATE "Human: {prompt}\n\nAssistant: {response}"
#define AUTH_PREFIX "Authorization: Bearer "

enum proto { PROTO_VLLM, PROTO_TEI, PROTO_RUNG };

struct http_cfg {
    enum proto proto;
    char *endpoint; /* the base URL with the protocol's path */
    char *model;    /* vllm's "model", NULL for the others */
    char *tmpl;     /* NULL: tei sends (prompt, response) pairs, rung fields */
    char *label;    /* tei: the label read, NULL for the only prediction */
    char *auth;     /* the whole Authorization header line, or NULL */
    int truncate;   /* tei: 0 or 1 as given, -1 to leave it to the server */
    long long timeout_ms, connect_timeout_ms, backoff_ms, cooldown_ms;
    long long batch, retries, breaker_failures, cache_cap;
    double threshold; /* INFINITY until calibrated */
};

/* A bounded LRU map from input hash to reward: entries in one array,
 * chained per bucket, and linked most recent first. */
struct cache_ent {
    uint64_t key;
    double r;
    uint32_t prev, next; /* recency list */
    uint32_t chain;      /* next in the same bucket */
};

struct cache {
    struct cache_ent *e;
    uint32_t *bucket; /* nbuckets heads, NIL for empty */
    uint32_t cap, used, mask, head, tail;
};

struct http_layer {
    struct http_cfg cfg;
    pthread_mutex_t mu; /* guards every field below, never held over I/O */
    struct cache cache;
    struct layer_http_health health;
    uint64_t open_until_us; /* breaker open until this monotonic time */
    bool probing;           /* half-open: the one probe is out */
};

/* A growable answer body, capped at LAYER_HTTP_RESPONSE_MAX. */
struct body {
    char *p;    /* NUL-terminated, NULL before the first byte */
    size_t len; /* bytes in p */
    bool over;  /* the answer passed the cap */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* libcurl's global init is not thread safe in every version: once per
 * process, never cleaned up (see layer_http.h). */
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int layer_http_curl_init(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_init_rc == CURLE_OK ? 0 : -EIO;
}

/* ---- the cache ---- */

static int cache_init(struct cache *c, uint32_t cap)
{
    *c = (struct cache){.head = NIL, .tail = NIL, .cap = cap};
    if (!cap)
        return 0;
    uint32_t nb = 1;
    while (nb < cap)
        nb <<= 1;
    c->e = calloc(cap, sizeof *c->e);
    c->bucket = malloc(nb * sizeof *c->bucket);
    if (!c->e || !c->bucket)
        return -ENOMEM;
    memset(c->bucket, 0xff, nb * sizeof *c->bucket); /* every head NIL */
    c->mask = nb - 1;
    return 0;
}

static void cache_unlink(struct cache *c, uint32_t i)
{
    struct cache_ent *x = &c->e[i];
    if (x->prev != NIL)
        c->e[x->prev].next = x->next;
    else
        c->head = x->next;
    if (x->next != NIL)
        c->e[x->next].prev = x->prev;
    else
        c->tail = x->prev;
}

static void cache_push_front(struct cache *c, uint32_t i)
{
    c->e[i].prev = NIL;
    c->e[i].next = c->head;
    if (c->head != NIL)
        c->e[c->head].prev = i;
    c->head = i;
    if (c->tail == NIL)
        c->tail = i;
}

static uint32_t cache_find(const struct cache *c, uint64_t key)
{
    if (!c->cap)
        return NIL;
    uint32_t i = c->bucket[key & c->mask];
    while (i != NIL && c->e[i].key != key)
        i = c->e[i].chain;
    return i;
}

/* True with *r set when key is cached; it becomes the most recent. */
static bool cache_get(struct cache *c, uint64_t key, double *r)
{
    uint32_t i = cache_find(c, key);
    if (i == NIL)
        return false;
    *r = c->e[i].r;
    cache_unlink(c, i);
    cache_push_front(c, i);
    return true;
}

/* Removes entry i from its bucket's chain. */
static void cache_unchain(struct cache *c, uint32_t i)
{
    uint32_t *at = &c->bucket[c->e[i].key & c->mask];
    while (*at != i)
        at = &c->e[*at].chain;
    *at = c->e[i].chain;
}

static void cache_put(struct cache *c, uint64_t key, double r)
{
    if (!c->cap)
        return;
    uint32_t i = cache_find(c, key);
    if (i != NIL) {
        cache_unlink(c, i);
    } else {
        if (c->used < c->cap) {
            i = c->used++;
        } else {
            i = c->tail; /* the least recently used makes room */
            cache_unlink(c, i);
            cache_unchain(c, i);
        }
        c->e[i].key = key;
        c->e[i].chain = c->bucket[key & c->mask];
        c->bucket[key & c->mask] = i;
    }
    c->e[i].r = r;
    cache_push_front(c, i);
}

static uint64_t input_key(const char *prompt, const char *response)
{
    uint64_t a = feat_fnv1a64(prompt, strlen(prompt));
    uint64_t b = feat_fnv1a64(response, strlen(response));
    /* Mixed so that (p, r) and (r, p) differ. */
    return (a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
}

/* ---- parameters ---- */

static const char *const param_keys[] = {
    "url",         "protocol",  "model",      "timeout_ms",       "connect_timeout_ms",
    "batch",       "retries",   "backoff_ms", "breaker_failures", "breaker_cooldown_ms",
    "cache",       "template",  "label",      "truncate",         "api_key",
    "api_key_env", "threshold",
};

static bool known_key(const char *key)
{
    for (size_t i = 0; i < sizeof param_keys / sizeof param_keys[0]; i++)
        if (!strcmp(param_keys[i], key))
            return true;
    return false;
}

/* *out = o[key] when an integer in [min, max], def when absent. */
static int get_int(const json_t *o, const char *key, long long def, long long min, long long max,
                   long long *out)
{
    const json_t *v = json_object_get(o, key);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return -EINVAL;
    *out = json_integer_value(v);
    return 0;
}

/* *out = a copy of o[key], a non-empty string under LAYER_HTTP_TEXT_MAX
 * bytes; NULL when absent and not required. */
static int get_str(const json_t *o, const char *key, bool required, char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return required ? -EINVAL : 0;
    if (!json_is_string(v) || !json_string_length(v) ||
        json_string_length(v) >= LAYER_HTTP_TEXT_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -EINVAL;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -ENOMEM;
}

/* Sets cfg->endpoint to url (an absolute http or https URL that libcurl
 * parses) without its trailing slashes, followed by path. */
static int set_endpoint(struct http_cfg *cfg, const char *url, const char *path)
{
    int rc = -EINVAL;
    char *scheme = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (!strcmp(scheme, "http") || !strcmp(scheme, "https")) && !strpbrk(url, " \t\r\n?#"))
        rc = 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    if (rc)
        return rc;
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    size_t cap = n + strlen(path) + 1;
    cfg->endpoint = malloc(cap);
    if (!cfg->endpoint)
        return -ENOMEM;
    memcpy(cfg->endpoint, url, n);
    memcpy(cfg->endpoint + n, path, cap - n);
    return 0;
}

static int parse_protocol(const json_t *o, struct http_cfg *cfg, const char **path)
{
    static const char *const names[] = {"vllm", "tei", "rung"}; /* in enum proto's order */
    static const char *const paths[] = {"/pooling", "/predict", "/score"};
    const char *p = json_string_value(json_object_get(o, "protocol"));
    for (size_t i = 0; p && i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(p, names[i]))
            continue;
        *cfg = (struct http_cfg){.proto = (enum proto)i};
        *path = paths[i];
        return 0;
    }
    return -EINVAL;
}

/* cfg->auth from "api_key", or from the environment variable that
 * "api_key_env" names (so that the secret stays out of the database). */
static int parse_key(const json_t *o, struct http_cfg *cfg)
{
    char *key = NULL, *env = NULL;
    int rc = get_str(o, "api_key", false, &key);
    rc = rc ? rc : get_str(o, "api_key_env", false, &env);
    const char *k = key;
    if (!rc && env)
        k = key ? NULL : getenv(env); /* both at once is refused */
    if (!rc && (key || env)) {
        size_t cap = k ? sizeof AUTH_PREFIX + strlen(k) : 0;
        if (!k || !*k || strpbrk(k, "\r\n"))
            rc = -EINVAL;
        else if (!(cfg->auth = malloc(cap)))
            rc = -ENOMEM;
        else
            snprintf(cfg->auth, cap, "%s%s", AUTH_PREFIX, k);
    }
    free(key);
    free(env);
    return rc;
}

/* The texts: model, template, label and key, each checked against its protocol. */
static int parse_texts(const json_t *o, struct http_cfg *cfg)
{
    int rc = get_str(o, "model", cfg->proto == PROTO_VLLM, &cfg->model);
    rc = rc ? rc : get_str(o, "template", false, &cfg->tmpl);
    rc = rc ? rc : get_str(o, "label", false, &cfg->label);
    rc = rc ? rc : parse_key(o, cfg);
    if (rc)
        return rc;
    if ((cfg->proto != PROTO_VLLM && cfg->model) || (cfg->proto == PROTO_RUNG && cfg->tmpl) ||
        (cfg->proto != PROTO_TEI && cfg->label) || (cfg->tmpl && !strstr(cfg->tmpl, "{response}")))
        return -EINVAL;
    if (cfg->proto == PROTO_VLLM && !cfg->tmpl && !(cfg->tmpl = strdup(DEFAULT_TEMPLATE)))
        return -ENOMEM;
    return 0;
}

static int parse_numbers(const json_t *o, struct http_cfg *cfg)
{
    int rc = get_int(o, "timeout_ms", LAYER_HTTP_TIMEOUT_MS_DEFAULT, 1, LAYER_HTTP_TIMEOUT_MS_MAX,
                     &cfg->timeout_ms);
    rc = rc ? rc
            : get_int(o, "connect_timeout_ms", cfg->timeout_ms, 1, cfg->timeout_ms,
                      &cfg->connect_timeout_ms);
    rc = rc ? rc
            : get_int(o, "batch", LAYER_HTTP_BATCH_DEFAULT, 1, LAYER_HTTP_BATCH_MAX, &cfg->batch);
    rc = rc ? rc
            : get_int(o, "retries", LAYER_HTTP_RETRIES_DEFAULT, 0, LAYER_HTTP_RETRIES_MAX,
                      &cfg->retries);
    rc = rc ? rc
            : get_int(o, "backoff_ms", LAYER_HTTP_BACKOFF_MS_DEFAULT, 0, LAYER_HTTP_BACKOFF_MS_MAX,
                      &cfg->backoff_ms);
    rc = rc ? rc
            : get_int(o, "breaker_failures", LAYER_HTTP_BREAKER_FAILURES_DEFAULT, 1, 1000000,
                      &cfg->breaker_failures);
    rc = rc ? rc
            : get_int(o, "breaker_cooldown_ms", LAYER_HTTP_BREAKER_COOLDOWN_MS_DEFAULT, 0,
                      LAYER_HTTP_TIMEOUT_MS_MAX, &cfg->cooldown_ms);
    rc = rc ? rc
            : get_int(o, "cache", LAYER_HTTP_CACHE_DEFAULT, 0, LAYER_HTTP_CACHE_MAX,
                      &cfg->cache_cap);
    if (rc)
        return rc;
    const json_t *t = json_object_get(o, "truncate"), *tau = json_object_get(o, "threshold");
    if (t && !json_is_boolean(t))
        return -EINVAL;
    if (t && cfg->proto != PROTO_TEI)
        return -EINVAL;
    cfg->truncate = t ? json_is_true(t) : -1;
    cfg->threshold = INFINITY;
    if (tau) {
        if (!json_is_number(tau) || !(json_number_value(tau) >= 0.5) ||
            json_number_value(tau) > 1.0)
            return -EINVAL;
        cfg->threshold = json_number_value(tau);
    }
    return 0;
}

static void cfg_clear(struct http_cfg *cfg)
{
    free(cfg->endpoint);
    free(cfg->model);
    free(cfg->tmpl);
    free(cfg->label);
    free(cfg->auth);
}

/* Fills *cfg from the blob. Returns 0 or -EINVAL / -ENOMEM (cfg cleared). */
static int cfg_parse(const void *blob, size_t len, struct http_cfg *cfg)
{
    const char *path = NULL, *key;
    json_t *v;
    *cfg = (struct http_cfg){0};
    json_t *o = blob ? json_loadb(blob, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    int rc = json_is_object(o) ? 0 : -EINVAL;
    json_object_foreach(o, key, v)
    {
        if (!known_key(key))
            rc = -EINVAL;
    }
    rc = rc ? rc : parse_protocol(o, cfg, &path);
    const char *url = json_string_value(json_object_get(o, "url"));
    rc = rc ? rc : url ? set_endpoint(cfg, url, path) : -EINVAL;
    rc = rc ? rc : parse_texts(o, cfg);
    rc = rc ? rc : parse_numbers(o, cfg);
    json_decref(o);
    if (rc) {
        cfg_clear(cfg);
        *cfg = (struct http_cfg){0};
    }
    return rc;
}

/* ---- the breaker and the health counters ---- */

/* Before a try: 0 to go ahead, or -EHOSTUNREACH while the breaker is open
 * (or half-open with its probe out). */
static int breaker_admit(struct http_layer *h)
{
    int rc = 0;
    uint64_t now = util_mono_us();
    pthread_mutex_lock(&h->mu);
    if (h->health.breaker == LAYER_HTTP_OPEN && now >= h->open_until_us) {
        h->health.breaker = LAYER_HTTP_HALF_OPEN;
        h->probing = false;
    }
    if (h->health.breaker == LAYER_HTTP_OPEN ||
        (h->health.breaker == LAYER_HTTP_HALF_OPEN && h->probing))
        rc = -EHOSTUNREACH;
    else if (h->health.breaker == LAYER_HTTP_HALF_OPEN)
        h->probing = true;
    if (!rc)
        h->health.requests++;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

/* After a try that took latency_us and ended in rc. A try that timed out
 * only because the caller's deadline cut it short (cut) says nothing about
 * the model: it is not counted as a failure, so ingest's --layer-timeout
 * never opens the breaker on a model that answers within its own
 * timeout_ms. */
static void breaker_record(struct http_layer *h, int rc, bool cut, uint64_t latency_us)
{
    pthread_mutex_lock(&h->mu);
    struct layer_http_health *s = &h->health;
    s->last_latency_us = latency_us;
    h->probing = false;
    if (rc == -ETIMEDOUT && cut) {
        /* neither a success nor a failure */
    } else if (!rc) {
        s->breaker = LAYER_HTTP_CLOSED;
        s->consecutive_failures = 0;
    } else {
        s->failures++;
        s->consecutive_failures++;
        s->last_error = rc;
        if (s->breaker == LAYER_HTTP_HALF_OPEN ||
            s->consecutive_failures >= (unsigned long long)h->cfg.breaker_failures) {
            s->breaker = LAYER_HTTP_OPEN;
            h->open_until_us = util_mono_us() + (uint64_t)h->cfg.cooldown_ms * 1000u;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

void layer_http_health(const void *impl, struct layer_http_health *out)
{
    struct http_layer *h = (struct http_layer *)impl; /* the mutex is not part of the value */
    pthread_mutex_lock(&h->mu);
    *out = h->health;
    if (out->breaker == LAYER_HTTP_OPEN && util_mono_us() >= h->open_until_us)
        out->breaker = LAYER_HTTP_HALF_OPEN; /* the next call will probe */
    pthread_mutex_unlock(&h->mu);
}

const char *layer_http_breaker_name(enum layer_http_breaker b)
{
    static const char *const names[] = {"closed", "open", "half_open"}; /* enum order */
    return (size_t)b < sizeof names / sizeof names[0] ? names[b] : "closed";
}

/* ---- one request ---- */

/* Appends n bytes of s to the string being built at *p (length *len). */
static int text_add(char **p, size_t *len, const char *s, size_t n)
{
    char *q = realloc(*p, *len + n + 1);
    if (!q)
        return -ENOMEM;
    memcpy(q + *len, s, n);
    *len += n;
    q[*len] = '\0';
    *p = q;
    return 0;
}

static size_t body_write(char *data, size_t size, size_t nmemb, void *cls)
{
    struct body *b = cls;
    size_t n = size * nmemb;
    if (n > LAYER_HTTP_RESPONSE_MAX - b->len) {
        b->over = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    /* libcurl hands over up to 16 KiB at a time: growing by each chunk
     * reallocates at most 64 times under the cap. */
    return text_add(&b->p, &b->len, data, n) ? 0 : n;
}

static int curl_error(CURLcode cc, const struct body *b)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return -EFBIG;
    case CURLE_WRITE_ERROR:
        return b->over ? -EFBIG : -ENOMEM;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

static int status_error(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    if (status == 429)
        return -EBUSY; /* overloaded: worth a retry, unlike other 4xx */
    return status >= 500 && status < 600 ? -EREMOTEIO : -EPROTO;
}

/* POSTs body (JSON) to the endpoint; on 0 *out holds a 2xx answer. */
static int http_post(const struct http_cfg *cfg, const char *body, long long timeout_ms,
                     struct body *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL, *h;
    int rc = c ? 0 : -ENOMEM;
    const char *lines[] = {"Content-Type: application/json", "Accept: application/json",
                           "Expect:", cfg->auth};
    for (size_t i = 0; !rc && i < sizeof lines / sizeof lines[0] && lines[i]; i++) {
        if (!(h = curl_slist_append(hdr, lines[i])))
            rc = -ENOMEM;
        else
            hdr = h;
    }
    /* Each setopt result is nonzero only on failure: OR them together. */
    CURLcode cc = CURLE_OK;
    if (!rc) {
        cc |= curl_easy_setopt(c, CURLOPT_URL, cfg->endpoint);
        cc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
        cc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        cc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        cc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        cc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        cc |= curl_easy_setopt(
            c, CURLOPT_CONNECTTIMEOUT_MS,
            (long)(cfg->connect_timeout_ms < timeout_ms ? cfg->connect_timeout_ms : timeout_ms));
        cc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LAYER_HTTP_RESPONSE_MAX);
        cc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
        cc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        cc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "rung");
        rc = cc == CURLE_OK ? 0 : -EIO;
    }
    if (!rc && (cc = curl_easy_perform(c)) != CURLE_OK)
        rc = curl_error(cc, out);
    long status = 0;
    if (!rc && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        rc = -EIO;
    rc = rc ? rc : status_error(status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return rc;
}

/* ---- request and answer shapes ---- */

/* The template with "{prompt}" and "{response}" replaced, as a JSON string
 * (NULL when out of memory or the texts are not UTF-8). */
static json_t *format_input(const char *tmpl, const char *prompt, const char *response)
{
    char *s = NULL;
    size_t len = 0;
    int rc = text_add(&s, &len, "", 0);
    while (!rc && *tmpl) {
        const char *brace = strchr(tmpl, '{');
        size_t lit = brace ? (size_t)(brace - tmpl) : strlen(tmpl);
        rc = text_add(&s, &len, tmpl, lit);
        tmpl += lit;
        if (rc || !brace)
            break;
        if (!strncmp(tmpl, "{prompt}", 8)) {
            rc = text_add(&s, &len, prompt, strlen(prompt));
            tmpl += 8;
        } else if (!strncmp(tmpl, "{response}", 10)) {
            rc = text_add(&s, &len, response, strlen(response));
            tmpl += 10;
        } else {
            rc = text_add(&s, &len, tmpl++, 1);
        }
    }
    json_t *j = rc ? NULL : json_stringn(s, len);
    free(s);
    return j;
}

/* One input of the request, in the protocol's form. */
static json_t *request_input(const struct http_cfg *cfg, const char *prompt, const char *response)
{
    json_t *in = NULL;
    if (cfg->proto == PROTO_VLLM)
        return format_input(cfg->tmpl, prompt, response);
    if (cfg->proto == PROTO_RUNG)
        in = json_pack("{s:s,s:s}", "prompt", prompt, "response", response);
    else if (cfg->tmpl)
        in = json_pack("[o]", format_input(cfg->tmpl, prompt, response));
    else
        in = json_pack("[s,s]", prompt, response);
    return in;
}

/* The request body (malloc'd JSON text) for n inputs, or NULL when out of
 * memory or a text is not UTF-8. */
static char *request_body(const struct http_cfg *cfg, size_t n, const char *const *prompts,
                          const char *const *responses)
{
    json_t *list = json_array(), *o = NULL;
    for (size_t i = 0; list && i < n; i++) {
        if (json_array_append_new(list, request_input(cfg, prompts[i], responses[i]))) {
            json_decref(list);
            list = NULL;
        }
    }
    if (!list)
        return NULL;
    if (cfg->proto == PROTO_VLLM)
        o = json_pack("{s:s,s:o}", "model", cfg->model, "input", list);
    else if (cfg->proto == PROTO_TEI)
        o = json_pack("{s:o,s:b}", "inputs", list, "raw_scores", 1);
    else
        o = json_pack("{s:o}", "inputs", list);
    if (o && cfg->truncate >= 0 && json_object_set_new(o, "truncate", json_boolean(cfg->truncate)))
        o = (json_decref(o), NULL);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* A finite number, or -EBADMSG. */
static int finite_number(const json_t *v, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return -EBADMSG;
    *out = json_number_value(v);
    return 0;
}

/* vLLM's "data" of one input: [reward], or [[reward], ...] per token, of
 * which the last is read. */
static int vllm_reward(const json_t *d, double *out)
{
    size_t n = json_array_size(d);
    if (!json_is_array(d) || !n)
        return -EBADMSG;
    if (n == 1 && !json_is_array(json_array_get(d, 0)))
        return finite_number(json_array_get(d, 0), out);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(d, i);
        if (!json_is_array(row) || json_array_size(row) != 1 ||
            finite_number(json_array_get(row, 0), out))
            return -EBADMSG;
    }
    return 0; /* *out holds the last token's */
}

static int parse_vllm(const json_t *root, size_t n, double *r)
{
    const json_t *data = json_object_get(root, "data");
    if (!json_is_array(data) || json_array_size(data) != n)
        return -EBADMSG;
    for (size_t i = 0; i < n; i++)
        r[i] = NAN; /* not yet seen */
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(data, i), *idx = json_object_get(e, "index");
        double v;
        if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
            (size_t)json_integer_value(idx) >= n || !isnan(r[json_integer_value(idx)]) ||
            vllm_reward(json_object_get(e, "data"), &v))
            return -EBADMSG;
        r[json_integer_value(idx)] = v;
    }
    return 0;
}

/* TEI's predictions of one input: the one with cfg->label, else the only. */
static int tei_reward(const struct http_cfg *cfg, const json_t *preds, double *out)
{
    size_t n = json_array_size(preds);
    double got = NAN, v;
    if (!json_is_array(preds) || !n || (!cfg->label && n != 1))
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(preds, i);
        const char *label = json_string_value(json_object_get(p, "label"));
        if (!label || finite_number(json_object_get(p, "score"), &v))
            return -EBADMSG;
        if (cfg->label && strcmp(label, cfg->label))
            continue;
        if (!isnan(got))
            return -EBADMSG; /* the label twice */
        got = v;
    }
    if (isnan(got))
        return -EBADMSG;
    *out = got;
    return 0;
}

static int parse_answer(const struct http_cfg *cfg, const struct body *b, size_t n, double *r)
{
    int rc = 0;
    json_t *root = b->p ? json_loadb(b->p, b->len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!root)
        return -EBADMSG; /* also NaN and Infinity, which JSON does not have */
    if (cfg->proto == PROTO_VLLM) {
        rc = parse_vllm(root, n, r);
    } else if (cfg->proto == PROTO_TEI) {
        rc = json_is_array(root) && json_array_size(root) == n ? 0 : -EBADMSG;
        for (size_t i = 0; !rc && i < n; i++)
            rc = tei_reward(cfg, json_array_get(root, i), &r[i]);
    } else {
        const json_t *scores = json_object_get(root, "scores");
        rc = json_is_array(scores) && json_array_size(scores) == n ? 0 : -EBADMSG;
        for (size_t i = 0; !rc && i < n; i++)
            rc = finite_number(json_array_get(scores, i), &r[i]);
    }
    json_decref(root);
    return rc;
}

/* ---- calls: tries, backoff, batches ---- */

static bool retryable(int rc)
{
    return rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EREMOTEIO || rc == -EBUSY ||
           rc == -EIO;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Asks for the rewards of n inputs in one request, trying again on
 * transient failures. Returns 0 or a negative errno (layer_http.h). */
static int ask(struct http_layer *h, size_t n, const char *const *prompts,
               const char *const *responses, double *r)
{
    char *body = request_body(&h->cfg, n, prompts, responses);
    if (!body)
        return -EINVAL; /* jansson refuses only text that is not UTF-8, or no memory */
    int rc = 0;
    long long wait_ms = h->cfg.backoff_ms;
    for (long long t = 0;; t++) {
        /* The caller's deadline (layer_deadline_set) bounds every try. */
        long long left = layer_deadline_left_ms(), timeout_ms = h->cfg.timeout_ms;
        if (left == 0) {
            rc = t ? rc : -ETIMEDOUT;
            break;
        }
        if (left > 0 && left < timeout_ms)
            timeout_ms = left;
        int admit = breaker_admit(h);
        if (admit) {
            rc = t ? rc : admit; /* opened by our own tries: keep their error */
            break;
        }
        struct body ans = {0};
        uint64_t t0 = util_mono_us();
        rc = http_post(&h->cfg, body, timeout_ms, &ans);
        rc = rc ? rc : parse_answer(&h->cfg, &ans, n, r);
        free(ans.p);
        breaker_record(h, rc, timeout_ms < h->cfg.timeout_ms, util_mono_us() - t0);
        left = layer_deadline_left_ms();
        if (!rc || t >= h->cfg.retries || !retryable(rc) || (left >= 0 && left <= wait_ms))
            break;
        sleep_ms(wait_ms);
        wait_ms = wait_ms * 2 > LAYER_HTTP_BACKOFF_MS_MAX ? LAYER_HTTP_BACKOFF_MS_MAX : wait_ms * 2;
    }
    free(body);
    return rc;
}

/* Looks up each input in the cache; the indices of the missing ones go to
 * miss[0..*nmiss). */
static void cache_lookup(struct http_layer *h, size_t n, const uint64_t *keys, double *r,
                         size_t *miss, size_t *nmiss)
{
    *nmiss = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        if (cache_get(&h->cache, keys[i], &r[i]))
            h->health.cache_hits++;
        else
            miss[(*nmiss)++] = i;
    }
    h->health.cache_misses += *nmiss;
    pthread_mutex_unlock(&h->mu);
}

/* Asks for the inputs miss[0..nmiss) in requests of at most batch inputs. */
static int ask_missing(struct http_layer *h, const char *const *prompts,
                       const char *const *responses, const uint64_t *keys, const size_t *miss,
                       size_t nmiss, double *r)
{
    size_t chunk = nmiss < (size_t)h->cfg.batch ? nmiss : (size_t)h->cfg.batch;
    const char **p = malloc((chunk ? chunk : 1) * sizeof *p);
    const char **q = malloc((chunk ? chunk : 1) * sizeof *q);
    double *got = malloc((chunk ? chunk : 1) * sizeof *got);
    int rc = p && q && got ? 0 : -ENOMEM;
    for (size_t at = 0; !rc && at < nmiss; at += chunk) {
        size_t m = nmiss - at < chunk ? nmiss - at : chunk;
        for (size_t j = 0; j < m; j++) {
            p[j] = prompts[miss[at + j]];
            q[j] = responses[miss[at + j]];
        }
        rc = ask(h, m, p, q, got);
        pthread_mutex_lock(&h->mu);
        for (size_t j = 0; !rc && j < m; j++) {
            r[miss[at + j]] = got[j];
            cache_put(&h->cache, keys[miss[at + j]], got[j]);
        }
        pthread_mutex_unlock(&h->mu);
    }
    free(p);
    free(q);
    free(got);
    return rc;
}

int layer_http_score_batch(const void *impl, size_t n, const char *const *prompts,
                           const char *const *responses, double *r)
{
    struct http_layer *h = (struct http_layer *)impl; /* only its mutex-guarded parts change */
    if (n && (!prompts || !responses || !r))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!prompts[i] || !responses[i])
            return -EINVAL;
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    size_t *miss = malloc((n ? n : 1) * sizeof *miss), nmiss = 0;
    int rc = keys && miss ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        keys[i] = input_key(prompts[i], responses[i]);
    if (!rc)
        cache_lookup(h, n, keys, r, miss, &nmiss);
    if (!rc && nmiss)
        rc = ask_missing(h, prompts, responses, keys, miss, nmiss, r);
    if (rc) {
        pthread_mutex_lock(&h->mu);
        h->health.errors++;
        h->health.fast_fails += rc == -EHOSTUNREACH;
        pthread_mutex_unlock(&h->mu);
    }
    free(keys);
    free(miss);
    return rc;
}

/* ---- the ops ---- */

static void http_free(void *impl)
{
    struct http_layer *h = impl;
    if (!h)
        return;
    cfg_clear(&h->cfg);
    free(h->cache.e);
    free(h->cache.bucket);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static void *http_load(const void *blob, size_t len)
{
    if (layer_http_curl_init())
        return NULL;
    struct http_layer *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    if (cfg_parse(blob, len, &h->cfg) || cache_init(&h->cache, (uint32_t)h->cfg.cache_cap)) {
        http_free(h);
        return NULL;
    }
    return h;
}

static int http_score_pair(const void *impl, const char *prompt, const char *a, const char *b,
                           struct layer_pair *out)
{
    const char *prompts[] = {prompt, prompt}, *responses[] = {a, b};
    double r[2];
    int rc = layer_http_score_batch(impl, 2, prompts, responses, r);
    if (rc)
        return rc;
    double p = 1.0 / (1.0 + exp(r[1] - r[0]));
    *out =
        (struct layer_pair){.ra = r[0], .rb = r[1], .p_a = p, .confidence = p > 0.5 ? p : 1.0 - p};
    return 0;
}

static int http_score_single(const void *impl, const char *prompt, const char *text,
                             struct layer_single *out)
{
    double r;
    int rc = layer_http_score_batch(impl, 1, &prompt, &text, &r);
    if (rc)
        return rc;
    *out = (struct layer_single){.r = r, .has_point = false, .p_good = 0.5, .confidence = 0.5};
    return 0;
}

/* The response so far: the earlier steps and the step, one per line. */
static int http_score_step(const void *impl, const char *prompt, const char *const *prior,
                           size_t nprior, const char *step, struct layer_single *out)
{
    if (!prompt || !step || (nprior && !prior))
        return -EINVAL;
    char *text = NULL;
    size_t len = 0;
    int rc = text_add(&text, &len, "", 0);
    for (size_t i = 0; !rc && i < nprior; i++) {
        rc = prior[i] ? text_add(&text, &len, prior[i], strlen(prior[i])) : -EINVAL;
        rc = rc ? rc : text_add(&text, &len, "\n", 1);
    }
    rc = rc ? rc : text_add(&text, &len, step, strlen(step));
    rc = rc ? rc : http_score_single(impl, prompt, text, out);
    free(text);
    return rc;
}

static void http_describe(const void *impl, struct layer_info *out)
{
    const struct http_layer *h = impl;
    *out = (struct layer_info){.kind = LAYER_KIND_HTTP,
                               .threshold = h->cfg.threshold,
                               .point_threshold = INFINITY,
                               .members = 1};
}

const struct layer_ops layer_http_ops = {
    .kind = LAYER_KIND_HTTP,
    .may_block = true,
    .load = http_load,
    .score_pair = http_score_pair,
    .score_single = http_score_single,
    .score_step = http_score_step,
    .describe = http_describe,
    .evaluate = NULL, /* would call out: calibration is later work */
    .free = http_free,
};
