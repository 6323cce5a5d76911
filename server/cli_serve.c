/* rungd serve: the daemon. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
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
#include "conf.h"
#include "limits.h"
#include "log.h"
#include "webhook.h"
#include "webhook_send.h"
#include "tls.h"

/* What the command line (and --config) asks for. */
struct serve_opts {
    const char *db;
    const char *listen;
    const char *static_dir;
    const char *config;
    char host[HOST_MAX];
    uint16_t port;
    int64_t threads, max_body, max_items, lease_s, overlap, gold;
    bool split_extra;
    int64_t undo_s;   /* --undo-seconds */
    bool fixed_sides; /* --side-order fixed */
    bool quiet;
    int64_t audit_ppm;  /* --audit-share, parts per million */
    int64_t audit_seed; /* --audit-seed */
    int64_t drift_s;    /* --drift-seconds */
    int64_t audit_min;  /* --audit-min; 0: AUDIT_MIN_DEFAULT */
    int64_t hook_timeout_ms, hook_backoff_ms;
    const char *tls_cert, *tls_key; /* --tls-cert, --tls-key: paths */
    bool auto_promote;              /* --auto-promote */
    bool hook_allow_private;        /* --webhook-allow-private */
    int64_t layer_timeout_ms;       /* --layer-timeout, in ms */
    /* issue 15: slow clients, memory per request */
    int64_t max_conns, per_ip, idle_s, header_s, body_rate, rate, burst;
    int64_t max_text, max_metadata, page_bytes, max_db_bytes;
};

/* How an option's value is read into struct serve_opts. */
enum opt_kind {
    OPT_INT,    /* int64_t in [min, max] */
    OPT_STR,    /* const char * */
    OPT_SWITCH, /* bool: no argument on the command line, true/false in a file */
    OPT_SIDES,  /* --side-order random|fixed into a bool */
    OPT_SHARE,  /* a percentage 0 to 100, decimals allowed, into int64_t parts per million */
    OPT_SECS,   /* seconds, decimals allowed (--layer-timeout), into int64_t ms */
    OPT_CONFIG, /* --config: command line only */
    OPT_HELP,   /* --help: command line only */
};

/* One option: the long flag (and config key) name, its kind, where it
 * goes, its range, its help (a format that may print def once, with
 * %lld). New options are one line here. */
struct serve_opt {
    const char *name;
    const char *arg; /* the value's name in --help; NULL for a switch */
    enum opt_kind kind;
    size_t off;
    int64_t min, max;
    const char *help;
    long long def;
};

#define O(f) offsetof(struct serve_opts, f)
static const struct serve_opt serve_table[] = {
    {"config", "FILE", OPT_CONFIG, 0, 0, 0, "read options from FILE (key = value lines); flags win",
     0},
    {"db", "PATH", OPT_STR, O(db), 0, 0,
     "SQLite database (default ./" DB_PATH_DEFAULT "; created if absent)", 0},
    {"listen", "HOST:PORT", OPT_STR, O(listen), 0, 0,
     "address to listen on (default " LISTEN_DEFAULT "; port 0 picks one)", 0},
    {"threads", "N", OPT_INT, O(threads), 1, THREADS_MAX,
     "HTTP worker threads (default: number of cores)", 0},
    {"max-body", "BYTES", OPT_INT, O(max_body), BODY_MAX_MIN, BODY_MAX_MAX,
     "request body cap (default %lld)", BODY_MAX_DEFAULT},
    {"max-items", "N", OPT_INT, O(max_items), 1, ITEMS_MAX_MAX,
     "items per ingest request (default %lld)", ITEMS_MAX_DEFAULT},
    {"static", "DIR", OPT_STR, O(static_dir), 0, 0,
     "the web page's files (default: installed, else the source tree's)", 0},
    {"lease-seconds", "N", OPT_INT, O(lease_s), 1, LEASE_SECONDS_MAX,
     "how long a rater holds a task (default %lld)", LEASE_SECONDS_DEFAULT},
    {"overlap", "N", OPT_INT, O(overlap), 1, OVERLAP_MAX,
     "labels each task wants unless a rule says otherwise (default %lld)", OVERLAP_DEFAULT},
    {"gold-rate", "PCT", OPT_INT, O(gold), 0, 100,
     "share of gold tasks in each rater's stream (default %lld)", GOLD_RATE_PCT_DEFAULT},
    {"split-extra-label", NULL, OPT_SWITCH, O(split_extra), 0, 0,
     "a task whose labels split gets one more label instead of a tie", 0},
    {"undo-seconds", "N", OPT_INT, O(undo_s), 0, UNDO_SECONDS_MAX,
     "a rater may change their last label this long (default %lld; 0: never)",
     UNDO_SECONDS_DEFAULT},
    {"side-order", "ORDER", OPT_SIDES, O(fixed_sides), 0, 0,
     "random (default): each rater sees a pair in its own order; fixed: the item's", 0},
    {"audit-share", "PCT", OPT_SHARE, O(audit_ppm), 0, 0,
     "share of the items the layer settles that also go to people as hidden audits; as many "
     "ordinary tasks are shown without assistance (default %lld; 0 to 100, decimals allowed)",
     AUDIT_SHARE_PPM_DEFAULT / (AUDIT_PPM / 100)},
    {"audit-seed", "N", OPT_INT, O(audit_seed), 0, INT64_MAX, "seed of those draws (default 0)", 0},
    {"audit-min", "N", OPT_INT, O(audit_min), 1, AUDIT_MIN_MAX,
     "decided audits before a layer can be demoted (default %lld)", AUDIT_MIN_DEFAULT},
    {"drift-seconds", "N", OPT_INT, O(drift_s), 1, DRIFT_SECONDS_MAX,
     "how often the active layer's drift is measured (default %lld)", DRIFT_SECONDS_DEFAULT},
    {"quiet", NULL, OPT_SWITCH, O(quiet), 0, 0, "no per-request log lines", 0},
    {"webhook-timeout", "MS", OPT_INT, O(hook_timeout_ms), 1, WEBHOOK_TIMEOUT_MS_MAX,
     "one webhook delivery attempt at most (default %lld)", WEBHOOK_TIMEOUT_MS_DEFAULT},
    {"webhook-backoff", "MS", OPT_INT, O(hook_backoff_ms), 1, WEBHOOK_BACKOFF_MS_MAX,
     "first retry of a failed delivery, then doubling (default %lld)", WEBHOOK_BACKOFF_MS_DEFAULT},
    {"webhook-allow-private", NULL, OPT_SWITCH, O(hook_allow_private), 0, 0,
     "webhooks may reach loopback, private and link-local addresses (refused by default)", 0},
    {"max-connections", "N", OPT_INT, O(max_conns), 1, CONNECTIONS_MAX_MAX,
     "open connections in all (default %lld)", HTTP_CONNECTIONS_MAX},
    {"max-connections-per-ip", "N", OPT_INT, O(per_ip), 0, CONNECTIONS_MAX_MAX,
     "open connections from one address (default %lld; 0: no limit)", PER_IP_CONNECTIONS_DEFAULT},
    {"idle-timeout", "SECONDS", OPT_INT, O(idle_s), 1, IDLE_TIMEOUT_S_MAX,
     "a connection without traffic closes (default %lld)", HTTP_CONNECTION_TIMEOUT_S},
    {"header-timeout", "SECONDS", OPT_INT, O(header_s), 1, HEADER_TIMEOUT_S_MAX,
     "a request's headers must be in within (default %lld)", HEADER_TIMEOUT_S_DEFAULT},
    {"min-body-rate", "BYTES", OPT_INT, O(body_rate), 0, BODY_MAX_MAX,
     "a body's bytes a second at least, on average (default %lld; 0: off)", BODY_RATE_MIN_DEFAULT},
    {"rate-limit", "N", OPT_INT, O(rate), 0, RATE_LIMIT_MAX,
     "requests a second per key, else 429 (default 0: no limit)", 0},
    {"rate-burst", "N", OPT_INT, O(burst), 0, RATE_LIMIT_MAX,
     "requests a key may make at once (default 0: twice --rate-limit)", 0},
    {"max-text", "BYTES", OPT_INT, O(max_text), TEXT_MAX_MIN, TEXT_MAX_MAX,
     "an item's prompt or response at most (default %lld)", TEXT_MAX_DEFAULT},
    {"max-metadata", "BYTES", OPT_INT, O(max_metadata), 2, TEXT_MAX_MAX,
     "an item's metadata (compact JSON) at most (default %lld)", METADATA_MAX_DEFAULT},
    {"page-bytes", "BYTES", OPT_INT, O(page_bytes), PAGE_BYTES_MIN, PAGE_BYTES_MAX,
     "item text in one page of GET /v1/items (default %lld)", PAGE_BYTES_DEFAULT},
    {"max-db-bytes", "BYTES", OPT_INT, O(max_db_bytes), 0, DB_BYTES_MAX_MAX,
     "the database's size at most, else 507 (default 0: the disk's)", 0},
    {"tls-cert", "FILE", OPT_STR, O(tls_cert), 0, 0,
     "serve HTTPS with this PEM certificate (chain); needs --tls-key", 0},
    {"tls-key", "FILE", OPT_STR, O(tls_key), 0, 0,
     "the certificate's PEM private key (unencrypted)", 0},
    {"auto-promote", NULL, OPT_SWITCH, O(auto_promote), 0, 0,
     "a layer trained over REST is checked and, if it passes, promoted at once", 0},
    {"layer-timeout", "S", OPT_SECS, O(layer_timeout_ms), 0, 0,
     "ingest waits at most S seconds for an external layer, then the item goes to people "
     "(default %lld ms)",
     LAYER_TIMEOUT_MS_DEFAULT},
    {"help", NULL, OPT_HELP, 0, 0, 0, "this text", 0},
};
#undef O
#define SERVE_OPT_COUNT (sizeof serve_table / sizeof serve_table[0])

static void serve_usage(FILE *to)
{
    fprintf(to, "usage: rungd serve [OPTIONS]\n\n");
    for (size_t i = 0; i < SERVE_OPT_COUNT; i++) {
        const struct serve_opt *e = &serve_table[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s%s", e->name, e->arg ? " " : "", e->arg ? e->arg : "");
        fprintf(to, "  %-32s ", flag);
        if (e->help) /* every entry has one; tells GCC's -O2 format check so */
            fprintf(to, e->help, e->def);
        fputc('\n', to);
    }
    fprintf(to, "\nA --config file holds the same options as `name = value` lines (switches take\n"
                "true or false), '#' starts a comment; flags on the command line win.\n");
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

/* Sets option e from v (NULL: a switch given as a flag). Returns 0 or
 * -EINVAL for a bad value. */
static int serve_set(struct serve_opts *o, const struct serve_opt *e, const char *v)
{
    char *at = (char *)o + e->off;
    switch (e->kind) {
    case OPT_INT:
        return util_parse_i64(v, e->min, e->max, (int64_t *)(void *)at);
    case OPT_STR:
        if (!*v)
            return -EINVAL;
        *(const char **)(void *)at = v;
        return 0;
    case OPT_SWITCH: {
        int b = v ? conf_bool(v) : 1;
        if (b < 0)
            return -EINVAL;
        *(bool *)at = b;
        return 0;
    }
    case OPT_SECS: {
        unsigned ms;
        if (parse_layer_timeout(v, &ms))
            return -EINVAL;
        *(int64_t *)(void *)at = ms;
        return 0;
    }
    case OPT_SHARE:
        return parse_share(v, (int64_t *)(void *)at);
    case OPT_SIDES:
        *(bool *)at = !strcmp(v, "fixed");
        return *(bool *)at || !strcmp(v, "random") ? 0 : -EINVAL;
    case OPT_CONFIG:
        o->config = v;
        return 0;
    default:
        return -EINVAL;
    }
}

static const struct serve_opt *serve_find(const char *name)
{
    for (size_t i = 0; i < SERVE_OPT_COUNT; i++)
        if (!strcmp(serve_table[i].name, name))
            return &serve_table[i];
    return NULL;
}

/* ---- --config FILE ---- */

struct conf_ctx {
    struct serve_opts *o;
    const char *path;
};

static int conf_entry(void *cls, const char *key, const char *value, unsigned line)
{
    struct conf_ctx *x = cls;
    const struct serve_opt *e = serve_find(key);
    if (!e || e->kind == OPT_CONFIG || e->kind == OPT_HELP) {
        fprintf(stderr, "rungd serve: %s line %u: unknown key '%s'\n", x->path, line, key);
        return 1;
    }
    if (serve_set(x->o, e, value)) {
        fprintf(stderr, "rungd serve: %s line %u: bad value '%s' for key '%s'\n", x->path, line,
                value, key);
        return 1;
    }
    return 0;
}

#define CONFIG_FILE_MAX (1024 * 1024) /* bytes of a --config file */
#define SERVE_KEY_CACHE_MS 1000       /* a verified token's lifetime in memory */

/* Reads the file at path into a malloc'd, NUL-terminated *text of *len
 * bytes. 0 or negative errno (-EFBIG past CONFIG_FILE_MAX). */
static int read_small_file(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_FILE_MAX + 1, f) : 0;
    int rc = !buf ? -ENOMEM : ferror(f) ? -EIO : n > CONFIG_FILE_MAX ? -EFBIG : 0;
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Reads o->config into *text (kept: the options point into it) and
 * applies its settings. 0, or 2 (said on stderr). */
static int serve_config(struct serve_opts *o, char **text)
{
    size_t len = 0;
    int rc = read_small_file(o->config, text, &len);
    if (rc) {
        fprintf(stderr, "rungd serve: cannot read config %s: %s\n", o->config, strerror(-rc));
        return 2;
    }
    struct conf_ctx x = {o, o->config};
    unsigned bad = 0;
    rc = conf_parse(*text, len, conf_entry, &x, &bad);
    if (rc == -EINVAL)
        fprintf(stderr, "rungd serve: %s line %u: not a 'key = value' line\n", o->config, bad);
    return rc ? 2 : 0;
}

/* ---- the command line ---- */

#define OPT_VAL0 256 /* getopt's val of serve_table[i] is OPT_VAL0 + i */

/* Parses argv into o: first --config and --help, then the file, then
 * every flag again (flags win). Returns -1 to go on, else the exit code
 * (0 after --help, 2 for a usage error, said on stderr). *conf_text
 * receives the file's text, which o points into. */
static int serve_parse(int argc, char **argv, struct serve_opts *o, char **conf_text)
{
    struct option lo[SERVE_OPT_COUNT + 1];
    for (size_t i = 0; i < SERVE_OPT_COUNT; i++)
        lo[i] = (struct option){serve_table[i].name,
                                serve_table[i].arg ? required_argument : no_argument, NULL,
                                OPT_VAL0 + (int)i};
    lo[SERVE_OPT_COUNT] = (struct option){NULL, 0, NULL, 0};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c < OPT_VAL0) {
            serve_usage(stderr);
            return 2;
        }
        const struct serve_opt *e = &serve_table[c - OPT_VAL0];
        if (e->kind == OPT_HELP) {
            serve_usage(stdout);
            return 0;
        }
        if (e->kind == OPT_CONFIG)
            o->config = optarg;
    }
    if (optind != argc) {
        serve_usage(stderr);
        return 2;
    }
    if (o->config && serve_config(o, conf_text))
        return 2;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        const struct serve_opt *e = &serve_table[c - OPT_VAL0];
        if (e->kind != OPT_CONFIG && serve_set(o, e, optarg)) {
            fprintf(stderr, "rungd serve: bad value '%s' for --%s\n", optarg, e->name);
            serve_usage(stderr);
            return 2;
        }
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
    if (o->max_db_bytes && store_is_uri(o->db)) {
        fprintf(stderr, "rungd serve: --max-db-bytes caps an SQLite file; cap a PostgreSQL "
                        "database with its own quotas\n");
        store_close(app->store);
        return 1;
    }
    if (o->max_db_bytes && store_set_max_bytes(app->store, o->max_db_bytes)) {
        fprintf(stderr, "rungd serve: cannot cap the database at %lld bytes\n",
                (long long)o->max_db_bytes);
        store_close(app->store);
        return 1;
    }
    /* Tokens verified once a second at most (store_key_cache): a
     * revocation, in this process or another, is seen at once. */
    int krc = store_key_cache(app->store, SERVE_KEY_CACHE_MS);
    if (krc && krc != -ENOTSUP)
        log_json("warn", "tokens are read from the database at every request", "{s:s, s:i}",
                 "reason", "cannot make the key stamp file beside the database", "errno", -krc);
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
    char label[1024];
    store_db_label(o->db, label, sizeof label);
    char *db = strdup(label);
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
        guard_sweep(app->guard);
    }
}

/* The options' defaults (static_dir: where the page's files are found). */
static struct serve_opts serve_defaults(const char *static_dir)
{
    return (struct serve_opts){.db = DB_PATH_DEFAULT,
                               .listen = LISTEN_DEFAULT,
                               .static_dir = static_dir,
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
                               .hook_backoff_ms = WEBHOOK_BACKOFF_MS_DEFAULT,
                               .max_conns = HTTP_CONNECTIONS_MAX,
                               .per_ip = PER_IP_CONNECTIONS_DEFAULT,
                               .idle_s = HTTP_CONNECTION_TIMEOUT_S,
                               .header_s = HEADER_TIMEOUT_S_DEFAULT,
                               .body_rate = BODY_RATE_MIN_DEFAULT,
                               .max_text = TEXT_MAX_DEFAULT,
                               .max_metadata = METADATA_MAX_DEFAULT,
                               .page_bytes = PAGE_BYTES_DEFAULT,
                               .layer_timeout_ms = LAYER_TIMEOUT_MS_DEFAULT};
}

/* Hands the parsed options to the daemon's state. 0, or 1 when out of
 * memory (said on stderr). */
static int serve_apply(const struct serve_opts *o, struct app *app)
{
    app->static_dir = o->static_dir;
    app->quiet = o->quiet;
    app->auto_promote = o->auto_promote;
    app->hook_allow_private = o->hook_allow_private;
    app->layer_timeout_ms = (unsigned)o->layer_timeout_ms;
    app->max_body = (size_t)o->max_body;
    app->max_items = (size_t)o->max_items;
    app->max_text = (size_t)o->max_text;
    app->max_metadata = (size_t)o->max_metadata;
    app->page_bytes = (size_t)o->page_bytes;
    int64_t burst = o->burst ? o->burst : 2 * o->rate;
    app->net = (struct net_limits){.max_connections = (unsigned)o->max_conns,
                                   .per_ip = (unsigned)o->per_ip,
                                   .idle_s = (unsigned)o->idle_s,
                                   .header_s = (unsigned)o->header_s,
                                   .body_rate = (uint64_t)o->body_rate,
                                   .rate = (double)o->rate,
                                   .burst = burst < 1 ? 1.0 : (double)burst};
    app->guard = guard_new(&app->net);
    if (!app->guard) {
        fprintf(stderr, "rungd serve: out of memory\n");
        return 1;
    }
    return 0;
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
    struct app app = {0};
    struct serve_opts o = serve_defaults(static_find_dir(static_dir, sizeof static_dir));
    char *conf_text = NULL;
    struct tls_pem tls = {NULL, NULL};
    int rc = serve_parse(argc, argv, &o, &conf_text);
    if (rc >= 0 || serve_apply(&o, &app) || serve_tls(&o, &tls, &app)) {
        rc = rc >= 0 ? rc : 1;
        goto done;
    }
    sigset_t sigs;
    process_setup(&sigs);
    if (serve_open(&o, &app)) {
        rc = 1;
        goto done;
    }
    pthread_mutex_init(&app.wait_mu, NULL);
    struct webhook_send_opts wo = {(uint64_t)o.hook_timeout_ms, (uint64_t)o.hook_backoff_ms,
                                   app.hook_allow_private};
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
    /* A check or training under way gives up now: a REST promotion waits
     * for its check, and the requests in flight are waited for. */
    lifecycle_cancel(app.lifecycle);
    http_stop(&app, d, SHUTDOWN_GRACE_MS);
    rc = 0;
out:
    serve_close(&app, hooks);
    if (rc == 0)
        log_json("info", "stopped cleanly", NULL);
    fflush(stdout);
done:
    tls_free(&tls);
    guard_free(app.guard);
    free(conf_text);
    return rc;
}
