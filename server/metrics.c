/* Prometheus /metrics in the text exposition format (version 0.0.4):
 * every family with HELP and TYPE, counters ending in _total, request
 * latency as a histogram by route. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "app.h"
#include "layer_holder.h"
#include "layer_http.h"

#define METRICS_TEXT_MAX (1024 * 1024) /* bytes of one /metrics reply at most */

/* Bucket upper bounds in microseconds, and as Prometheus prints them. */
static const uint64_t bound_us[METRICS_BUCKETS] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const char *const bound_text[METRICS_BUCKETS] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

void metrics_observe(struct metrics *m, unsigned route, uint64_t us)
{
    if (route > METRICS_ROUTES_MAX)
        route = 0;
    unsigned b = 0;
    while (b < METRICS_BUCKETS && us > bound_us[b])
        b++;
    atomic_fetch_add(&m->route[route].bucket[b], 1);
    atomic_fetch_add(&m->route[route].sum_us, us);
}

/* The reply being written: a growing buffer with a hard cap. */
struct text {
    char *buf;
    size_t len, cap;
    bool failed; /* out of memory or past METRICS_TEXT_MAX */
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    for (int tries = 0; !t->failed && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t want = t->cap ? t->cap * 2 : 16384;
        while (want <= t->len + (size_t)n)
            want *= 2;
        char *grown = want <= METRICS_TEXT_MAX ? realloc(t->buf, want) : NULL;
        if (!grown)
            t->failed = true;
        else
            t->buf = grown, t->cap = want;
    }
}

/* HELP and TYPE of one family. */
static void family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One route's series of the histogram; labels is `route="..."` and more. */
static void histogram_route(struct text *t, const char *labels, const struct metrics_route *m)
{
    uint64_t cum = 0;
    for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
        cum += atomic_load(&m->bucket[b]);
        put(t, "rung_request_duration_seconds_bucket{%s,le=\"%s\"} %llu\n", labels,
            b < METRICS_BUCKETS ? bound_text[b] : "+Inf", (unsigned long long)cum);
    }
    put(t, "rung_request_duration_seconds_sum{%s} %.6f\n", labels,
        (double)atomic_load(&m->sum_us) / 1e6);
    put(t, "rung_request_duration_seconds_count{%s} %llu\n", labels, (unsigned long long)cum);
}

static void histogram(struct text *t, struct metrics *m)
{
    family(t, "rung_request_duration_seconds", "histogram",
           "Time from a request's headers to its completion, by route (the route's pattern; "
           "other: no route matched).");
    char labels[160];
    for (size_t i = 0; i < api_route_count() && i < METRICS_ROUTES_MAX; i++) {
        const char *method, *pattern;
        api_route(i, &method, &pattern);
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", method, pattern);
        histogram_route(t, labels, &m->route[1 + i]);
    }
    histogram_route(t, "method=\"any\",route=\"other\"", &m->route[0]);
}

/* The daemon's own counters. */
static void counters(struct text *t, struct app *a)
{
    static const char *const cls[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    uint64_t groups, writes;
    store_stats(a->store, &groups, &writes);
    family(t, "rung_requests_total", "counter", "HTTP requests completed.");
    put(t, "rung_requests_total %llu\n", (unsigned long long)atomic_load(&a->requests));
    family(t, "rung_responses_total", "counter", "HTTP responses by status class.");
    for (unsigned c = 0; c < 5; c++)
        put(t, "rung_responses_total{class=\"%s\"} %llu\n", cls[c],
            (unsigned long long)atomic_load(&a->by_class[c + 1]));
    family(t, "rung_items_ingested_total", "counter", "Items stored through POST /v1/items.");
    put(t, "rung_items_ingested_total %llu\n", (unsigned long long)atomic_load(&a->items_ingested));
    family(t, "rung_inflight_requests", "gauge", "Requests between their headers and completion.");
    put(t, "rung_inflight_requests %d\n", atomic_load(&a->inflight));
    family(t, "rung_store_group_commits_total", "counter",
           "Write transactions the store's writer committed (each a group commit).");
    put(t, "rung_store_group_commits_total %llu\n", (unsigned long long)groups);
    family(t, "rung_store_writes_total", "counter", "Write requests those transactions carried.");
    put(t, "rung_store_writes_total %llu\n", (unsigned long long)writes);
    family(t, "rung_store_guarded_reruns_total", "counter",
           "Groups run again with a savepoint for every write because one that ran without "
           "(an ingest) failed.");
    put(t, "rung_store_guarded_reruns_total %llu\n",
        (unsigned long long)store_guarded_reruns(a->store));
    struct store_group_stats gs;
    store_group_stats(a->store, &gs);
    family(t, "rung_store_group_lookup", "gauge",
           "Sample groups and their items in SQLite's in-memory group lookup (0 on PostgreSQL).");
    put(t,
        "rung_store_group_lookup{what=\"groups\"} %zu\nrung_store_group_lookup{what=\"items\"} "
        "%zu\n",
        gs.groups, gs.items);
    family(t, "rung_store_group_lookup_bytes", "gauge", "Memory the group lookup takes.");
    put(t, "rung_store_group_lookup_bytes %zu\n", gs.bytes);
}

/* The checkpointer's figures. */
static void checkpoints(struct text *t, struct app *a)
{
    struct store_ckpt_stats ck;
    store_ckpt_stats(a->store, &ck);
    family(t, "rung_store_checkpoints_total", "counter", "WAL checkpoints run, by mode.");
    put(t,
        "rung_store_checkpoints_total{mode=\"passive\"} %llu\n"
        "rung_store_checkpoints_total{mode=\"restart\"} %llu\n"
        "rung_store_checkpoints_total{mode=\"truncate\"} %llu\n",
        (unsigned long long)ck.passive, (unsigned long long)ck.restart,
        (unsigned long long)ck.truncate);
    family(t, "rung_store_checkpoint_gated_total", "counter",
           "Write groups that waited for a RESTART checkpoint (the WAL at its bound).");
    put(t, "rung_store_checkpoint_gated_total %llu\n", (unsigned long long)ck.gated);
    family(t, "rung_store_checkpoint_gated_seconds_total", "counter",
           "Time those groups waited for the RESTART.");
    put(t, "rung_store_checkpoint_gated_seconds_total %.6f\n", (double)ck.gated_us / 1e6);
    family(t, "rung_store_wal_frames_total", "counter",
           "Frames the writer's commits appended to the WAL.");
    put(t, "rung_store_wal_frames_total %llu\n", (unsigned long long)ck.frames);
    family(t, "rung_store_wal_pages", "gauge", "Frames in the WAL after the latest commit.");
    put(t, "rung_store_wal_pages %d\n", ck.wal_pages);
}

/* What the store holds now. */
static void gauges(struct text *t, const struct store_gauges *g)
{
    family(t, "rung_queue_depth", "gauge", "Open human tasks by kind (gold tasks not counted).");
    put(t,
        "rung_queue_depth{kind=\"pair\"} %lld\nrung_queue_depth{kind=\"single\"} %lld\n"
        "rung_queue_depth{kind=\"subquestion\"} %lld\n",
        (long long)g->queue_pair, (long long)g->queue_single, (long long)g->queue_subq);
    family(t, "rung_leases_live", "gauge", "Task leases held and not expired.");
    put(t, "rung_leases_live %lld\n", (long long)g->leases_live);
    family(t, "rung_labels", "gauge", "Labels stored, all raters.");
    put(t, "rung_labels %lld\n", (long long)g->labels);
    family(t, "rung_items", "gauge", "Items stored.");
    put(t, "rung_items %lld\n", (long long)g->items);
    family(t, "rung_auto_resolved_ratio", "gauge",
           "Share of the items the active layer settled (status auto); 0 without items.");
    put(t, "rung_auto_resolved_ratio %.6f\n",
        g->items ? (double)g->items_auto / (double)g->items : 0.0);
    family(t, "rung_active_layer_id", "gauge", "The active layer's id; 0 when none is active.");
    put(t, "rung_active_layer_id %lld\n", (long long)g->active_layer);
}

/* x as Prometheus prints a sample value, NaN unless known. Returns buf. */
static const char *num(char *buf, size_t size, bool known, double x)
{
    if (known)
        snprintf(buf, size, "%.6f", x);
    else
        snprintf(buf, size, "NaN");
    return buf;
}

/* Hidden audits and webhook deliveries (issue 12). */
static void trust(struct text *t, const struct store_gauges *g)
{
    family(t, "rung_audits_total", "counter",
           "Hidden audits decided, by outcome (agree, disagree: an error of the layer, "
           "inconclusive: people found a tie or were unsure).");
    put(t,
        "rung_audits_total{outcome=\"agree\"} %lld\nrung_audits_total{outcome=\"disagree\"} "
        "%lld\nrung_audits_total{outcome=\"inconclusive\"} %lld\n",
        (long long)g->audits_agree, (long long)g->audits_disagree,
        (long long)g->audits_inconclusive);
    family(t, "rung_audits_open", "gauge", "Audit tasks waiting for their labels.");
    put(t, "rung_audits_open %lld\n", (long long)g->audits_open);
    struct audit_rate r;
    char v[32];
    audit_error_rate(g->active_agree + g->active_disagree, g->active_disagree, &r);
    family(t, "rung_layer_audited_error_rate", "gauge",
           "The active layer's audited error rate: disagreements over decided audits (NaN "
           "before any, or without an active layer).");
    put(t, "rung_layer_audited_error_rate %s\n", num(v, sizeof v, r.audited > 0, r.rate));
    family(t, "rung_layer_audited_error_rate_lower", "gauge",
           "The lower end of its 95% Wilson interval: what demotion compares with 1 - promise.");
    put(t, "rung_layer_audited_error_rate_lower %s\n", num(v, sizeof v, r.audited > 0, r.lo));
    family(t, "rung_layer_audited", "gauge", "The active layer's decided audits.");
    put(t, "rung_layer_audited %lld\n", (long long)r.audited);
    family(t, "rung_layer_demoted", "gauge",
           "1 when the active layer is demoted to human-only routing by its audits, else 0.");
    put(t, "rung_layer_demoted %d\n", g->active_demoted ? 1 : 0);
    family(t, "rung_webhook_deliveries_total", "counter",
           "Webhook delivery attempts: delivered (acknowledged with a 2xx) or failed (tried "
           "again later); the hooks' own counters, a deleted hook's no longer counted.");
    put(t,
        "rung_webhook_deliveries_total{result=\"delivered\"} %lld\n"
        "rung_webhook_deliveries_total{result=\"failed\"} %lld\n",
        (long long)g->hook_delivered, (long long)g->hook_failed);
    family(t, "rung_webhook_outbox_pending", "gauge",
           "Verdicts waiting in the outbox for their hook (not yet acknowledged).");
    put(t, "rung_webhook_outbox_pending %lld\n", (long long)g->hook_pending);
}

/* An external (http) active layer's health: requests, failures, the
 * circuit breaker, the cache, the last latency. Nothing for other kinds. */
static void layer_health(struct text *t, struct app *a)
{
    struct layer_ref *ref = layer_acquire(a->layers);
    const void *impl = ref ? layer_impl_of(ref->model, &layer_http_ops) : NULL;
    struct layer_http_health h;
    if (impl)
        layer_http_health(impl, &h);
    layer_release(a->layers, ref);
    if (!impl)
        return;
    family(t, "rung_layer_http_requests_total", "counter",
           "Requests the active external layer sent its model (every try).");
    put(t, "rung_layer_http_requests_total %llu\n", (unsigned long long)h.requests);
    family(t, "rung_layer_http_failures_total", "counter",
           "Tries that failed: transport, timeout, non-2xx or a malformed answer.");
    put(t, "rung_layer_http_failures_total %llu\n", (unsigned long long)h.failures);
    family(t, "rung_layer_http_fast_fails_total", "counter",
           "Scorings refused at once by the open circuit breaker.");
    put(t, "rung_layer_http_fast_fails_total %llu\n", (unsigned long long)h.fast_fails);
    family(t, "rung_layer_http_cache_hits_total", "counter", "Inputs answered from the cache.");
    put(t, "rung_layer_http_cache_hits_total %llu\n", (unsigned long long)h.cache_hits);
    family(t, "rung_layer_http_breaker_open", "gauge",
           "The circuit breaker: 0 closed, 1 open, 0.5 half open (one probe allowed).");
    put(t, "rung_layer_http_breaker_open %s\n",
        h.breaker == LAYER_HTTP_OPEN        ? "1"
        : h.breaker == LAYER_HTTP_HALF_OPEN ? "0.5"
                                            : "0");
    family(t, "rung_layer_http_last_latency_seconds", "gauge",
           "Wall time of the last request to the model.");
    put(t, "rung_layer_http_last_latency_seconds %.6f\n", (double)h.last_latency_us / 1e6);
}

/* What the network guard refused (issue 15). */
static void net_guard(struct text *t, struct app *a)
{
    if (!a->guard)
        return;
    family(t, "rung_connections_cut_total", "counter",
           "Connections cut for slow headers (--header-timeout) or a slow body "
           "(--min-body-rate).");
    put(t, "rung_connections_cut_total{reason=\"headers\"} %llu\n",
        (unsigned long long)guard_cut_headers(a->guard));
    put(t, "rung_connections_cut_total{reason=\"body\"} %llu\n",
        (unsigned long long)guard_cut_body(a->guard));
    family(t, "rung_rate_limited_total", "counter", "Requests refused with 429 (--rate-limit).");
    put(t, "rung_rate_limited_total %llu\n", (unsigned long long)guard_rate_limited(a->guard));
}

void metrics_reply(struct req *r, const char *param)
{
    (void)param;
    struct app *a = r->app;
    struct store_gauges g;
    int rc = store_gauges(a->store, util_now_ms(), &g);
    if (rc) {
        api_store_error(r, rc, "reading the figures for /metrics");
        return;
    }
    struct text t = {0};
    counters(&t, a);
    histogram(&t, &a->metrics);
    gauges(&t, &g);
    trust(&t, &g);
    checkpoints(&t, a);
    layer_health(&t, a);
    net_guard(&t, a);
    if (t.failed)
        http_error(r, 503, "out_of_memory", "The metrics text did not fit in memory.");
    else
        http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len);
    free(t.buf);
}
