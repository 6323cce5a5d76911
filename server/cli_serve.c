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
#include "cli.h"

#ifndef RUNG_STATIC_DIR
#define RUNG_STATIC_DIR "static"
#endif

static void serve_usage(FILE *to)
{
    fprintf(
        to,
        "usage: rungd serve [--db PATH] [--listen HOST:PORT] [--threads N]\n"
        "                   [--max-body BYTES] [--max-items N] [--static DIR]\n"
        "                   [--lease-seconds N] [--overlap N] [--gold-rate PCT]\n"
        "                   [--split-extra-label] [--quiet]\n\n"
        "  --db PATH            SQLite database (default ./rung.db; created if absent)\n"
        "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8080; port 0 picks one)\n"
        "  --threads N          HTTP worker threads (default: number of cores)\n"
        "  --max-body BYTES     request body cap (default 16777216)\n"
        "  --max-items N        items per ingest request (default 10000)\n"
        "  --static DIR         the web page's files (default %s)\n"
        "  --lease-seconds N    how long a rater holds a task (default 600)\n"
        "  --overlap N          labels each task wants unless a rule says otherwise (default 1)\n"
        "  --gold-rate PCT      share of gold tasks in each rater's stream (default 5)\n"
        "  --split-extra-label  a task whose labels split gets one more label instead of a tie\n"
        "  --quiet              no per-request log lines\n",
        RUNG_STATIC_DIR);
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

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
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
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *db = "rung.db", *listen = "127.0.0.1:8080";
    int64_t threads = sysconf(_SC_NPROCESSORS_ONLN), max_body = BODY_MAX_DEFAULT,
            max_items = BATCH_MAX_DEFAULT, lease_s = 600, overlap = 1, gold = 5;
    struct app app = {.static_dir = RUNG_STATIC_DIR};
    bool split_extra = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 't':
            bad = util_parse_i64(optarg, 1, 256, &threads);
            break;
        case 'b':
            bad = util_parse_i64(optarg, 1024, (int64_t)1 << 32, &max_body);
            break;
        case 'i':
            bad = util_parse_i64(optarg, 1, 1000000, &max_items);
            break;
        case 's':
            app.static_dir = optarg;
            break;
        case 'L':
            bad = util_parse_i64(optarg, 1, 86400, &lease_s);
            break;
        case 'o':
            bad = util_parse_i64(optarg, 1, 100, &overlap);
            break;
        case 'g':
            bad = util_parse_i64(optarg, 0, 100, &gold);
            break;
        case 'q':
            app.quiet = true;
            break;
        case 'x':
            split_extra = true;
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            serve_usage(stderr);
            return 2;
        }
        if (bad) {
            const char *name = "?";
            for (const struct option *o = opts; o->name; o++)
                if (o->val == c)
                    name = o->name;
            fprintf(stderr, "rungd serve: bad value '%s' for --%s\n", optarg, name);
            serve_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        serve_usage(stderr);
        return 2;
    }
    char host[64];
    uint16_t port;
    if (parse_listen(listen, host, sizeof host, &port)) {
        fprintf(stderr, "rungd serve: --listen wants HOST:PORT (IPv4), got '%s'\n", listen);
        return 2;
    }
    app.max_body = (size_t)max_body;
    app.max_items = (size_t)max_items;
    pthread_mutex_init(&app.wait_mu, NULL);
    /* One log line per request, written as it completes. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Signals are taken by sigwait below, so every thread must block them
     * first: they inherit this mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    /* Keep freed memory for reuse: request buffers of a few hundred KB would
     * otherwise be mmap'd and unmapped (and page-faulted in) every time. */
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    json_object_seed(0);
    if (token_init()) {
        fprintf(stderr, "rungd serve: cannot initialise libsodium\n");
        return 1;
    }

    char err[512];
    app.store = store_open(db, (unsigned)threads + 2, err, sizeof err);
    if (!app.store) {
        fprintf(stderr, "rungd serve: %s\n", err);
        return 1;
    }
    store_set_defaults(app.store, (int)overlap, (unsigned)lease_s * 1000u, (unsigned)gold,
                       split_extra);
    store_set_task_hook(app.store, api_tasks_hook, &app);
    app.layers = layer_holder_new(app.store, 1000);
    if (!app.layers) {
        fprintf(stderr, "rungd serve: cannot start the layer watcher\n");
        store_close(app.store);
        return 1;
    }
    struct MHD_Daemon *d = http_start(&app, host, port, (unsigned)threads);
    if (!d) {
        fprintf(stderr, "rungd serve: cannot listen on %s: %s\n", listen, strerror(errno));
        layer_holder_free(app.layers);
        store_close(app.store);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : port;
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"rungd listening\",\"port\":%u,\"db\":\"%s\"}\n",
            bound, db);
    printf("rungd listening on http://%s:%u/ (annotator page)\n"
           "  API:     http://%s:%u/v1/items\n"
           "  health:  http://%s:%u/healthz\n",
           host, bound, host, bound, host, bound);
    fflush(stdout);

    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
        int sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        api_wake_expired_waiters(&app);
    }
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"shutting down\"}\n");
    http_stop(&app, d, 10000);
    layer_holder_free(app.layers);
    store_close(app.store);
    pthread_mutex_destroy(&app.wait_mu);
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopped cleanly\"}\n");
    fflush(stdout);
    return 0;
}
