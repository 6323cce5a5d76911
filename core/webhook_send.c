/* The webhook sender thread. See webhook_send.h. */
#include "webhook_send.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_webhooks.h"
#include "util.h"
#include "webhook.h"

/* One delivery in flight. */
struct transfer {
    CURL *easy;
    struct curl_slist *hdr;
    char *body; /* posted as is; libcurl does not copy it */
    int64_t delivery_id, hook_id;
    unsigned attempts; /* failed ones before this */
    char err[CURL_ERROR_SIZE];
    char why[CURL_ERROR_SIZE + 16]; /* the failure as recorded */
};

struct webhook_sender {
    struct store *store;
    struct webhook_send_opts o;
    CURLM *multi;
    pthread_t thread;
    atomic_bool stop;
    struct transfer *x[WEBHOOK_INFLIGHT_MAX];
    size_t nx;
};

static void transfer_free(struct webhook_sender *w, struct transfer *t)
{
    if (!t)
        return;
    if (t->easy) {
        curl_multi_remove_handle(w->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    curl_slist_free_all(t->hdr);
    free(t->body);
    free(t);
}

/* The receiver's reply body is not read: it is dropped as it comes. */
static size_t discard(char *p, size_t size, size_t n, void *cls)
{
    (void)p;
    (void)cls;
    return size * n;
}

/* The request's headers: type, signature, delivery id, attempt. */
static int transfer_headers(struct transfer *t, const struct store_webhook_due *d)
{
    char sig[WEBHOOK_SIG_LEN + 1];
    webhook_sign(d->secret, t->body, strlen(t->body), sig);
    char lines[5][128];
    snprintf(lines[0], sizeof lines[0], "X-Rung-Signature: %s", sig);
    snprintf(lines[1], sizeof lines[1], "X-Rung-Delivery: %lld", (long long)d->id);
    snprintf(lines[2], sizeof lines[2], "X-Rung-Attempt: %u", d->attempts + 1);
    snprintf(lines[3], sizeof lines[3], "Content-Type: application/json");
    snprintf(lines[4], sizeof lines[4], "Expect:");
    for (size_t i = 0; i < 5; i++) {
        struct curl_slist *h = curl_slist_append(t->hdr, lines[i]);
        if (!h)
            return -ENOMEM;
        t->hdr = h;
    }
    return 0;
}

/* Sets up the easy handle of t for d. 0, -ENOMEM or -EIO. */
static int transfer_setup(struct webhook_sender *w, struct transfer *t,
                          const struct store_webhook_due *d)
{
    if (transfer_headers(t, d))
        return -ENOMEM;
    if (!(t->easy = curl_easy_init()))
        return -ENOMEM;
    CURLcode cc = curl_easy_setopt(t->easy, CURLOPT_URL, d->url);
    cc |= curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    cc |= curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
    cc |= curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->hdr);
    cc |= curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body);
    cc |= curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
    cc |= curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
    cc |= curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, discard);
    cc |= curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->err);
    cc |= curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "rung-webhook");
    cc |= curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
    if (cc != CURLE_OK)
        return -EIO;
    return curl_multi_add_handle(w->multi, t->easy) == CURLM_OK ? 0 : -EIO;
}

/* Starts posting d. Returns 0 or a negative errno (nothing started). */
static int transfer_start(struct webhook_sender *w, const struct store_webhook_due *d)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->delivery_id = d->id;
    t->hook_id = d->hook_id;
    t->attempts = d->attempts;
    struct webhook_delivery wd = {.id = d->id,
                                  .hook_id = d->hook_id,
                                  .item_id = d->item_id,
                                  .external_id = d->external_id,
                                  .batch = d->batch,
                                  .verdict = d->verdict,
                                  .source = d->source,
                                  .has_confidence = d->has_confidence,
                                  .confidence = d->confidence,
                                  .resolved_ms = d->resolved_ms};
    size_t len;
    t->body = webhook_body(&wd, &len);
    int rc = t->body ? transfer_setup(w, t, d) : -ENOMEM;
    if (rc) {
        transfer_free(w, t);
        return rc;
    }
    w->x[w->nx++] = t;
    return 0;
}

/* Starts the deliveries that are due, one per hook not in flight; writes
 * when the next one will be due into *next_ms. */
static void fill(struct webhook_sender *w, int64_t now, int64_t *next_ms)
{
    int64_t busy[WEBHOOK_INFLIGHT_MAX];
    for (size_t i = 0; i < w->nx; i++)
        busy[i] = w->x[i]->hook_id;
    struct store_webhook_due *v;
    size_t n;
    *next_ms = INT64_MAX;
    int rc = store_webhook_due(w->store, now, busy, w->nx, WEBHOOK_INFLIGHT_MAX - w->nx, &v, &n,
                               next_ms);
    if (rc) {
        log_json("error", "cannot read the webhook outbox", "{s:i}", "rc", rc);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rc = transfer_start(w, &v[i]);
        if (rc)
            log_json("error", "cannot start a webhook delivery", "{s:I,s:i}", "delivery",
                     (json_int_t)v[i].id, "rc", rc);
    }
    store_webhook_due_free(v, n);
}

/* Fills *a with how t went (cc: the transfer's result) and logs a
 * failure. */
static void outcome(struct webhook_sender *w, struct transfer *t, CURLcode cc,
                    struct store_webhook_attempt *a)
{
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t now = util_now_ms();
    *a = (struct store_webhook_attempt){.delivery_id = t->delivery_id,
                                        .hook_id = t->hook_id,
                                        .acked = cc == CURLE_OK && status >= 200 && status < 300,
                                        .status = cc == CURLE_OK ? status : 0,
                                        .error = t->why,
                                        .at_ms = now};
    if (cc != CURLE_OK)
        snprintf(t->why, sizeof t->why, "%s", t->err[0] ? t->err : curl_easy_strerror(cc));
    else
        snprintf(t->why, sizeof t->why, "HTTP %ld", status);
    uint64_t wait = webhook_backoff_ms(t->attempts + 1, w->o.backoff_ms, WEBHOOK_BACKOFF_CAP_MS);
    a->next_ms = now + (int64_t)wait;
    if (!a->acked)
        log_json("warn", "webhook delivery failed", "{s:I,s:I,s:i,s:s,s:I}", "hook",
                 (json_int_t)t->hook_id, "delivery", (json_int_t)t->delivery_id, "attempt",
                 (int)t->attempts + 1, "why", t->why, "retry_in_ms", (json_int_t)wait);
}

/* Drops t from the transfers in flight (not freed). */
static void unlist(struct webhook_sender *w, const struct transfer *t)
{
    for (size_t i = 0; i < w->nx; i++)
        if (w->x[i] == t) {
            w->x[i] = w->x[--w->nx];
            return;
        }
}

/* Finishes every completed transfer, recording them all in one write.
 * Returns how many. */
static size_t reap(struct webhook_sender *w)
{
    struct store_webhook_attempt at[WEBHOOK_INFLIGHT_MAX];
    struct transfer *done[WEBHOOK_INFLIGHT_MAX];
    size_t n = 0;
    int left;
    CURLMsg *m;
    while (n < WEBHOOK_INFLIGHT_MAX && (m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        outcome(w, t, m->data.result, &at[n]);
        unlist(w, t);
        done[n++] = t;
    }
    int rc = n ? store_webhook_record(w->store, at, n) : 0;
    if (rc)
        log_json("error", "cannot record webhook attempts", "{s:i}", "rc", rc);
    for (size_t i = 0; i < n; i++)
        transfer_free(w, done[i]);
    return n;
}

static void *sender_main(void *arg)
{
    struct webhook_sender *w = arg;
    int64_t next_poll = 0;
    while (!atomic_load(&w->stop)) {
        int64_t now = util_now_ms(), next_due;
        if (now >= next_poll) {
            fill(w, now, &next_due);
            next_poll = now + WEBHOOK_POLL_MS;
            if (next_due < next_poll)
                next_poll = next_due;
        }
        int running;
        curl_multi_perform(w->multi, &running);
        if (reap(w))
            next_poll = 0; /* a hook is free: its next delivery may go at once */
        now = util_now_ms();
        int wait = next_poll > now ? (int)(next_poll - now) : 0;
        if (wait > 0)
            curl_multi_poll(w->multi, NULL, 0, wait, NULL);
    }
    while (w->nx)
        transfer_free(w, w->x[--w->nx]);
    return NULL;
}

struct webhook_sender *webhook_sender_start(struct store *s, const struct webhook_send_opts *o)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct webhook_sender *w = calloc(1, sizeof *w);
    if (!w)
        goto fail;
    w->store = s;
    w->o = *o;
    atomic_init(&w->stop, false);
    if (!(w->multi = curl_multi_init()))
        goto fail;
    if (pthread_create(&w->thread, NULL, sender_main, w) == 0)
        return w;
fail:
    if (w && w->multi)
        curl_multi_cleanup(w->multi);
    free(w);
    curl_global_cleanup();
    return NULL;
}

void webhook_sender_stop(struct webhook_sender *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    curl_multi_wakeup(w->multi);
    pthread_join(w->thread, NULL);
    curl_multi_cleanup(w->multi);
    free(w);
    curl_global_cleanup();
}
