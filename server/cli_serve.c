/* rungd serve: the daemon. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "cli.h"
#include "limits.h"
#include "log.h"
#include "webhook.h"
#include "webhook_send.h"
#include "tls.h"

/* What the command line asks for. */
struct serve_opts {
    const char *db;
    const char *listen;
    char host[HOST_MAX];
    uint16_t port;
    int64_t threads, max_body, max_items, lease_s, overlap, gold;
    int64_t hook_timeout_ms, hook_backoff_ms;
    bool split_extra;
    int64_t undo_s;                 /* --undo-seconds */
    bool fixed_sides;               /* --side-order fixed */
    int64_t audit_ppm;              /* --audit-share, parts per million */
    int64_t audit_seed;             /* --audit-seed */
    int64_t drift_s;                /* --drift-seconds */
    int64_t audit_min;              /* --audit-min; 0: AUDIT_MIN_DEFAULT */
    const char *tls_cert, *tls_key; /* --tls-cert, --tls-key: paths */
};

/* --layer-timeout SECONDS (a decimal number) into *ms: 0 or -EINVAL. */
static int parse_layer_timeout(const char *v, unsigned *ms)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0.001 && x <= LAYER_TIMEOUT_S_MAX))
        return -EINVAL;
    *ms = (unsigned)(x * 1000.0 + 0.5);
    return 0;
}

static void serve_usage(FILE *to, const char *static_dir)
{
    fprintf(
        to,
        "usage: rungd serve [--db PATH] [--listen HOST:PORT] [--threads N]\n"
        "                   [--max-body BYTES] [--max-items N] [--static DIR]\n"
        "                   [--lease-seconds N] [--overlap N] [--gold-rate PCT]\n"
        "                   [--split-extra-label] [--undo-seconds N]\n"
        "                   [--side-order random|fixed] [--audit-share PCT]\n"
        "                   [--audit-seed N] [--audit-min N] [--drift-seconds N] [--quiet]\n"
        "                   [--webhook-timeout MS] [--webhook-backoff MS]\n"
        "                   [--webhook-allow-private]\n"
        "                   [--tls-cert FILE --tls-key FILE] [--auto-promote]\n"
        "                   [--layer-timeout SECONDS]\n\n"
        "  --db PATH            SQLite database (default ./%s; created if absent)\n"
        "  --listen HOST:PORT   address to listen on (default %s; port 0 picks one)\n"
        "  --threads N          HTTP worker threads (default: number of cores)\n"
        "  --max-body BYTES     request body cap (default %u)\n"
        "  --max-items N        items per ingest request (default %u)\n"
        "  --static DIR         the web page's files (default %s)\n"
        "  --lease-seconds N    how long a rater holds a task (default %d)\n"
        "  --overlap N          labels each task wants unless a rule says otherwise (default "
        "%d)\n"
        "  --gold-rate PCT      share of gold tasks in each rater's stream (default %d)\n"
        "  --split-extra-label  a task whose labels split gets one more label instead of a "
        "tie\n"
        "  --undo-seconds N     a rater may change their last label this long (default %d; "
        "0: never)\n"
        "  --side-order ORDER   random: each rater sees a pair in its own random order "
        "(default);\n"
        "                       fixed: always in the item's order\n"
        "  --audit-share PCT    share of the items the layer settles that also go to people\n"
        "                       as hidden audits, and of ordinary tasks shown without\n"
        "                       assistance (default %g; 0 to 100, decimals allowed)\n"
        "  --audit-seed N       seed of those draws (default 0)\n"
        "  --audit-min N        decided audits before a layer can be demoted (default 20)\n"
        "  --drift-seconds N    how often the active layer's drift is measured (default "
        "%d)\n"
        "  --quiet              no per-request log lines\n"
        "  --webhook-timeout MS one webhook delivery attempt at most (default %u)\n"
        "  --webhook-backoff MS first retry of a failed delivery, then doubling (default "
        "%u)\n"
        "  --webhook-allow-private  webhooks may reach loopback, private and link-local\n"
        "                       addresses (refused by default)\n"
        "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain); needs --tls-key\n"
        "  --tls-key FILE       the certificate's PEM private key (unencrypted)\n"
        "  --auto-promote       a layer trained over REST is checked and, if it passes,\n"
        "                       promoted at once (a request's auto_promote overrides it)\n"
        "  --layer-timeout S    ingest waits at most S seconds for an external layer; then\n"
        "                       the item goes to people (default %g)\n",
        DB_PATH_DEFAULT, LISTEN_DEFAULT, BODY_MAX_DEFAULT, ITEMS_MAX_DEFAULT, static_dir,
        LEASE_SECONDS_DEFAULT, OVERLAP_DEFAULT, GOLD_RATE_PCT_DEFAULT, UNDO_SECONDS_DEFAULT,
        100.0 * AUDIT_SHARE_PPM_DEFAULT / AUDIT_PPM, DRIFT_SECONDS_DEFAULT,
        WEBHOOK_TIMEOUT_MS_DEFAULT, WEBHOOK_BACKOFF_MS_DEFAULT, LAYER_TIMEOUT_MS_DEFAULT / 1000.0);
}

static int parse_listen(const char *s, char *host, size_t hostcap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= hostcap || colon == s)
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    int64_t p;
    if (util_parse_i64(colon + 1, 0, 65535, &p))
        return -EINVAL;
    *port = (uint16_t)p;
    return 0;
}

static const struct option serve_opts_table[] = {{"db", required_argument, NULL, 'd'},
                                                 {"listen", required_argument, NULL, 'l'},
                                                 {"threads", required_argument, NULL, 't'},
                                                 {"max-body", required_argument, NULL, 'b'},
                                                 {"max-items", required_argument, NULL, 'i'},
                                                 {"static", required_argument, NULL, 's'},
                                                 {"lease-seconds", required_argument, NULL, 'L'},
                                                 {"overlap", required_argument, NULL, 'o'},
                                                 {"gold-rate", required_argument, NULL, 'g'},
                                                 {"quiet", no_argument, NULL, 'q'},
                                                 {"split-extra-label", no_argument, NULL, 'x'},
                                                 {"undo-seconds", required_argument, NULL, 'U'},
                                                 {"side-order", required_argument, NULL, 'S'},
                                                 {"audit-share", required_argument, NULL, 'A'},
                                                 {"audit-seed", required_argument, NULL, 'E'},
                                                 {"drift-seconds", required_argument, NULL, 'D'},
                                                 {"audit-min", required_argument, NULL, 'M'},
                                                 {"webhook-timeout", required_argument, NULL, 'W'},
                                                 {"webhook-backoff", required_argument, NULL, 'B'},
                                                 {"webhook-allow-private", no_argument, NULL, 'H'},
                                                 {"tls-cert", required_argument, NULL, 'C'},
                                                 {"tls-key", required_argument, NULL, 'K'},
                                                 {"auto-promote", no_argument, NULL, 'P'},
                                                 {"layer-timeout", required_argument, NULL, 'T'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};

/* A percentage from 0 to 100 (decimals allowed) into parts per million.
 * 0 or -EINVAL. */
static int parse_share(const char *v, int64_t *ppm)
{
    char *end = NULL;
    errno = 0;
    double pct = strtod(v, &end);
    if (errno || end == v || *end || !(pct >= 0.0 && pct <= 100.0))
        return -EINVAL;
    *ppm = (int64_t)(pct * (AUDIT_PPM / 100) + 0.5);
    return 0;
}

/* Applies one numeric option c to o. Returns 0, -EINVAL for a bad value,
 * -ENOENT when c is not a numeric option. */
static int serve_number(struct serve_opts *o, int c, const char *v)
{
    switch (c) {
    case 't':
        return util_parse_i64(v, 1, THREADS_MAX, &o->threads);
    case 'b':
        return util_parse_i64(v, BODY_MAX_MIN, BODY_MAX_MAX, &o->max_body);
    case 'i':
        return util_parse_i64(v, 1, ITEMS_MAX_MAX, &o->max_items);
    case 'L':
        return util_parse_i64(v, 1, LEASE_SECONDS_MAX, &o->lease_s);
    case 'o':
        return util_parse_i64(v, 1, OVERLAP_MAX, &o->overlap);
    case 'g':
        return util_parse_i64(v, 0, 100, &o->gold);
    case 'U':
        return util_parse_i64(v, 0, UNDO_SECONDS_MAX, &o->undo_s);
    case 'W':
        return util_parse_i64(v, 1, WEBHOOK_TIMEOUT_MS_MAX, &o->hook_timeout_ms);
    case 'B':
        return util_parse_i64(v, 1, WEBHOOK_BACKOFF_MS_MAX, &o->hook_backoff_ms);
    case 'S':
        o->fixed_sides = !strcmp(v, "fixed");
        return o->fixed_sides || !strcmp(v, "random") ? 0 : -EINVAL;
    case 'A':
        return parse_share(v, &o->audit_ppm);
    case 'E':
        return util_parse_i64(v, 0, INT64_MAX, &o->audit_seed);
    case 'D':
        return util_parse_i64(v, 1, DRIFT_SECONDS_MAX, &o->drift_s);
    case 'M':
        return util_parse_i64(v, 1, AUDIT_MIN_MAX, &o->audit_min);
    default:
        return -ENOENT;
    }
}

static const char *option_name(int c)
{
    for (const struct option *o = serve_opts_table; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

/* Parses argv into o and app's options. Returns -1 to go on, else the exit
 * code (0 after --help, 2 for a usage error, said on stderr). */
static int serve_parse(int argc, char **argv, struct serve_opts *o, struct app *app)
{
    int c;
    app->layer_timeout_ms = LAYER_TIMEOUT_MS_DEFAULT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", serve_opts_table, NULL)) != -1) {
        int rc = serve_number(o, c, optarg);
        if (rc == -EINVAL) {
            fprintf(stderr, "rungd serve: bad value '%s' for --%s\n", optarg, option_name(c));
            serve_usage(stderr, app->static_dir);
            return 2;
        }
        if (rc == 0)
            continue;
        if (c == 'd')
            o->db = optarg;
        else if (c == 'l')
            o->listen = optarg;
        else if (c == 's')
            app->static_dir = optarg;
        else if (c == 'q')
            app->quiet = true;
        else if (c == 'x')
            o->split_extra = true;
        else if (c == 'H')
            app->hook_allow_private = true;
        else if (c == 'C')
            o->tls_cert = optarg;
        else if (c == 'K')
            o->tls_key = optarg;
        else if (c == 'P')
            app->auto_promote = true;
        else if (c == 'T' && parse_layer_timeout(optarg, &app->layer_timeout_ms)) {
            fprintf(stderr,
                    "rungd serve: --layer-timeout wants seconds from 0.001 to %d, got '%s'\n",
                    LAYER_TIMEOUT_S_MAX, optarg);
            return 2;
        } else if (c == 'T')
            continue;
        else {
            serve_usage(c == 'h' ? stdout : stderr, app->static_dir);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        serve_usage(stderr, app->static_dir);
        return 2;
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "rungd serve: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (parse_listen(o->listen, o->host, sizeof o->host, &o->port)) {
        fprintf(stderr, "rungd serve: --listen wants HOST:PORT (IPv4), got '%s'\n", o->listen);
        return 2;
    }
    return -1;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Process-wide setup before any thread starts. Signals are taken by
 * sigwait in serve_loop, so every thread must block them first: they
 * inherit this mask. */
static void process_setup(sigset_t *sigs)
{
    /* One log line per request, written as it completes. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    /* Keep freed memory for reuse: request buffers of a few hundred KB would
     * otherwise be mmap'd and unmapped (and page-faulted in) every time. */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    json_object_seed(0);
}

/* A layer became active by automatic promotion: serve it at once. */
static void serve_activated(void *holder)
{
    layer_holder_refresh(holder);
}

/* Opens the store and starts the layer watcher. Returns 0 or 1 (the exit
 * code), saying why on stderr; on failure nothing stays open. */
static int serve_open(const struct serve_opts *o, struct app *app)
{
    if (token_init()) {
        fprintf(stderr, "rungd serve: cannot initialise libsodium\n");
        return 1;
    }
    char err[ERR_TEXT_MAX];
    bool missing = cli_db_missing(o->db);
    app->store = store_open(o->db, (unsigned)o->threads + 2, err, sizeof err);
    if (!app->store) {
        fprintf(stderr, "rungd serve: %s\n", err);
        return 1;
    }
    if (missing)
        cli_log_created(o->db);
    store_set_defaults(app->store, (int)o->overlap, (unsigned)o->lease_s * 1000u, (unsigned)o->gold,
                       o->split_extra);
    store_set_review(app->store, (unsigned)o->undo_s * 1000u, !o->fixed_sides);
    store_set_audit(app->store, (uint32_t)o->audit_ppm, (uint64_t)o->audit_seed);
    store_set_audit_min(app->store, (uint32_t)o->audit_min);
    store_set_task_hook(app->store, api_tasks_hook, app);
    app->layers = layer_holder_new(app->store, LAYER_POLL_MS);
    app->lifecycle = app->layers ? lifecycle_new(app->store, serve_activated, app->layers) : NULL;
    if (!app->lifecycle) {
        fprintf(stderr, "rungd serve: cannot start the layer watcher and trainer\n");
        layer_holder_free(app->layers);
        store_close(app->store);
        return 1;
    }
    layer_holder_set_drift(app->layers, (unsigned)o->drift_s);
    return 0;
}

/* Reads --tls-cert and --tls-key into t and hands them to app. Returns 0
 * or 1 (the exit code), saying why on stderr. */
static int serve_tls(const struct serve_opts *o, struct tls_pem *t, struct app *app)
{
    if (!o->tls_cert)
        return 0;
    if (!tls_supported()) {
        fprintf(stderr, "rungd serve: this libmicrohttpd was built without TLS\n");
        return 1;
    }
    char err[ERR_TEXT_MAX];
    if (tls_load(t, o->tls_cert, o->tls_key, err, sizeof err)) {
        fprintf(stderr, "rungd serve: %s\n", err);
        return 1;
    }
    app->tls_cert = t->cert;
    app->tls_key = t->key;
    return 0;
}

static void announce(const struct serve_opts *o, unsigned port)
{
    /* A path is bytes, not UTF-8: log a copy JSON can carry. */
    char *db = strdup(o->db);
    if (db)
        util_utf8_sanitize(db, strlen(db));
    log_json("info", "rungd listening", "{s:i,s:s?}", "port", (int)port, "db", db);
    free(db);
    const char *scheme = o->tls_cert ? "https" : "http";
    printf("rungd listening on %s://%s:%u/ (annotator page)\n"
           "  API:     %s://%s:%u/v1/items\n"
           "  health:  %s://%s:%u/healthz\n",
           scheme, o->host, port, scheme, o->host, port, scheme, o->host, port);
    fflush(stdout);
}

/* Serves until SIGINT or SIGTERM, waking expired long-polls meanwhile. */
static void serve_loop(struct app *app, const sigset_t *sigs)
{
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        api_wake_expired_waiters(app);
    }
}

/* Stops the threads that work for the daemon (the trainer first: it may
 * still promote, which the holder serves) and closes the store. */
static void serve_close(struct app *app, struct webhook_sender *hooks)
{
    lifecycle_free(app->lifecycle);
    webhook_sender_stop(hooks);
    layer_holder_free(app->layers);
    store_close(app->store);
    pthread_mutex_destroy(&app->wait_mu);
}

int cli_serve(int argc, char **argv)
{
    char static_dir[APP_STATIC_DIR_MAX];
    struct app app = {.static_dir = static_find_dir(static_dir, sizeof static_dir),
                      .max_body = BODY_MAX_DEFAULT,
                      .max_items = ITEMS_MAX_DEFAULT};
    struct serve_opts o = {.db = DB_PATH_DEFAULT,
                           .listen = LISTEN_DEFAULT,
                           .threads = sysconf(_SC_NPROCESSORS_ONLN),
                           .max_body = BODY_MAX_DEFAULT,
                           .max_items = ITEMS_MAX_DEFAULT,
                           .lease_s = LEASE_SECONDS_DEFAULT,
                           .overlap = OVERLAP_DEFAULT,
                           .gold = GOLD_RATE_PCT_DEFAULT,
                           .undo_s = UNDO_SECONDS_DEFAULT,
                           .audit_ppm = AUDIT_SHARE_PPM_DEFAULT,
                           .drift_s = DRIFT_SECONDS_DEFAULT,
                           .hook_timeout_ms = WEBHOOK_TIMEOUT_MS_DEFAULT,
                           .hook_backoff_ms = WEBHOOK_BACKOFF_MS_DEFAULT};
    int rc = serve_parse(argc, argv, &o, &app);
    if (rc >= 0)
        return rc;
    app.max_body = (size_t)o.max_body;
    app.max_items = (size_t)o.max_items;
    struct tls_pem tls = {NULL, NULL};
    if (serve_tls(&o, &tls, &app))
        return 1;
    sigset_t sigs;
    process_setup(&sigs);
    if (serve_open(&o, &app)) {
        tls_free(&tls);
        return 1;
    }
    pthread_mutex_init(&app.wait_mu, NULL);
    struct webhook_send_opts wo = {o.hook_timeout_ms, o.hook_backoff_ms, app.hook_allow_private};
    struct webhook_sender *hooks = webhook_sender_start(app.store, &wo);
    if (!hooks) {
        fprintf(stderr, "rungd serve: cannot start the webhook sender\n");
        rc = 1;
        goto out;
    }
    struct MHD_Daemon *d = http_start(&app, o.host, o.port, (unsigned)o.threads);
    if (!d) {
        if (o.tls_cert)
            fprintf(stderr,
                    "rungd serve: cannot serve HTTPS on %s: the TLS certificate and key were "
                    "refused or the address is taken (libmicrohttpd's warnings above say which)\n",
                    o.listen);
        else
            fprintf(stderr, "rungd serve: cannot listen on %s: %s\n", o.listen, strerror(errno));
        rc = 1;
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    announce(&o, info ? info->port : o.port);
    serve_loop(&app, &sigs);
    log_json("info", "shutting down", NULL);
    http_stop(&app, d, SHUTDOWN_GRACE_MS);
    rc = 0;
out:
    serve_close(&app, hooks);
    tls_free(&tls);
    if (rc == 0)
        log_json("info", "stopped cleanly", NULL);
    fflush(stdout);
    return rc;
}
