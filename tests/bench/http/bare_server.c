/* bare_server: the HTTP ceiling for rung's ingest benchmark.
 *
 *   bare_server [--port P] [--threads N]
 *
 * libmicrohttpd with rungd's flags (internal polling thread + epoll +
 * suspend/resume, a thread pool of N = cores by default, 30 s timeout, 4000
 * connections). Each request body is collected, parsed with jansson
 * (json_loadb, JSON_REJECT_DUPLICATES, as rungd does), every item's
 * "prompt" and "response"/"responses" is looked up, and the answer is a 201
 * with a small JSON object. Nothing is stored, nobody is authenticated.
 * Listens on 127.0.0.1 like rungd's default. Prints "port N" on stdout once listening; stops on
 * SIGINT/SIGTERM. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <jansson.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_args.h"

struct breq {
    char *body;
    size_t len, cap;
    bool seen;
};

static size_t touch_items(json_t *root)
{
    json_t *items = json_object_get(root, "items");
    size_t n = items ? json_array_size(items) : 1, ok = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = items ? json_array_get(items, i) : root;
        if (json_is_string(json_object_get(o, "prompt")) &&
            (json_object_get(o, "response") || json_object_get(o, "responses")))
            ok++;
    }
    return ok;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    struct breq *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *req_cls = r;
        return MHD_YES; /* answer later: keeps keep-alive with MHD 0.9.75 */
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < r->len + n + 1)
                cap *= 2;
            char *nb = realloc(r->body, cap);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    json_error_t err;
    json_t *root = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return reply(conn, 400, "{\"error\":{\"code\":\"malformed_json\"}}");
    size_t n = touch_items(root);
    json_decref(root);
    char text[128];
    snprintf(text, sizeof text, "{\"id\":\"00000000-0000-4000-8000-000000000000\",\"items\":%zu}",
             n);
    return reply(conn, 201, text);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct breq *r = *req_cls;
    if (r) {
        free(r->body);
        free(r);
        *req_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    unsigned port = 0, threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = (unsigned)arg_num(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = (unsigned)arg_num(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bare_server [--port P] [--threads N]\n");
            return 2;
        }
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_server: cannot listen\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("port %u\n", info ? info->port : port);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    return 0;
}
