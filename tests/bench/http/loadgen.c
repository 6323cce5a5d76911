/* loadgen: a closed-loop HTTP/1.1 keep-alive load generator for rung's
 * benchmarks (raw sockets + epoll, one event loop per thread).
 *
 *   loadgen post  --port P --path /v1/items --bodies FILE --token T
 *                 [--conns 64] [--duration 10] [--warmup 2] [--items-per-req 1]
 *   loadgen tasks --port P --tokens FILE [--conns 200] [--per-conn 4]
 *                 [--duration S] [--answer a]
 *   loadgen pct   FILE...          percentiles of raw latency files (us, one a line)
 *
 * post:  each connection POSTs the lines of FILE in turn (one body a line),
 *        as soon as the previous answer arrived; latencies of requests started
 *        after the warm-up and finished before the end are kept.
 * tasks: connection i uses token i (mod the file's lines) and loops
 *        GET /v1/tasks/next -> POST /v1/tasks/{id}/labels {"answer":"a"};
 *        the round trip (send of the GET to the end of the label answer) is
 *        the latency. Stops after --per-conn round trips per connection, or at
 *        --duration seconds. A 204 (no task) ends that connection's loop and
 *        is counted as "empty".
 * Common: [--host 127.0.0.1] [--threads 1] [--name LABEL] [--latencies FILE]
 *         (append raw latencies in microseconds to FILE) [--think-ms T]
 *         (wait uniform 0..2T ms before each request, the first one too:
 *         paced clients instead of a closed loop with zero think time)
 *         [--rate R] (post: open loop at R requests a second in all, see below).
 *
 * Closed loop: a slow answer delays the next request on that connection, so
 * like wrk it understates tail latency under overload (coordinated omission).
 * Open loop (--rate R, as wrk2 does it): connection i of C is due to send at
 * t0 + (i + k C) / R for k = 0, 1, ...; a request starts at its due time, or
 * as soon as the connection's previous answer is in when that is later, and
 * its latency counts from the due time, so time spent queued behind a slow
 * answer is measured. Send times are kept to a few microseconds by sleeping
 * in epoll_pwait2 until the next one is due.
 * Prints one line: NAME requests= errors= seconds= req_s= items_s= p50_ms=
 * p90_ms= p99_ms= max_ms= (tasks: round trips; get/label p50/p99 as well). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_args.h"

struct vec {
    uint32_t *v;
    size_t n, cap;
};

static void vec_push(struct vec *a, uint32_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4096;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v) {
            perror("realloc");
            exit(1);
        }
    }
    a->v[a->n++] = x;
}

static void vec_cat(struct vec *a, const struct vec *b)
{
    for (size_t i = 0; i < b->n; i++)
        vec_push(a, b->v[i]);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(struct vec *a, double p) /* a sorted; ms */
{
    if (!a->n)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)(a->n - 1) + 0.5);
    return a->v[i] / 1000.0;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- options ---- */

enum mode { M_POST, M_TASKS };

static struct {
    enum mode mode;
    const char *host, *path, *bodies_file, *token, *tokens_file, *name, *lat_file, *answer;
    int port, conns, threads, per_conn, items_per_req, think_ms;
    double duration, warmup, rate;
} opt = {.host = "127.0.0.1",
         .path = "/v1/items",
         .conns = 64,
         .threads = 1,
         .duration = 0,
         .warmup = 0,
         .items_per_req = 1,
         .answer = "a"};

static char **bodies;
static size_t *body_lens;
static size_t nbodies;
static char **tokens;
static size_t ntokens;
static uint64_t t_start, t_measure, t_end; /* us; t_end 0 = no deadline */

static char **read_lines(const char *path, size_t *n, size_t **lens)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char **v = NULL;
    size_t cap = 0, cnt = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
            if (lens)
                *lens = realloc(*lens, cap * sizeof **lens);
        }
        if (lens)
            (*lens)[cnt] = (size_t)len;
        v[cnt++] = strndup(line, (size_t)len);
    }
    free(line);
    fclose(f);
    if (!cnt) {
        fprintf(stderr, "%s: no lines\n", path);
        exit(1);
    }
    *n = cnt;
    return v;
}

/* ---- connections ---- */

enum phase { P_POST, P_NEXT, P_LABEL };

struct conn {
    int fd, idx;
    const char *token;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    size_t hdr_len; /* 0 until headers are parsed */
    long content_len;
    int status;
    enum phase phase;
    uint64_t t_req, t_round;
    int rounds;
    size_t next_body;
    bool done, sleeping;
    uint64_t wake;
    uint64_t due; /* open loop: when the next request is due (us) */
};

struct worker {
    pthread_t th;
    int ep;
    struct conn *conns;
    int nconns, active;
    struct vec lat, lat_get, lat_label;
    uint64_t requests, errors, empty, bytes_in;
    int first_bad_status;
};

static void out_reserve(struct conn *c, size_t n)
{
    if (n > c->out_cap) {
        c->out_cap = n;
        c->out = realloc(c->out, n);
        if (!c->out) {
            perror("realloc");
            exit(1);
        }
    }
}

static void build_post(struct conn *c, const char *path, const char *body, size_t blen)
{
    char hdr[1024];
    int h = snprintf(hdr, sizeof hdr,
                     "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     path, opt.host, c->token, blen);
    out_reserve(c, (size_t)h + blen);
    memcpy(c->out, hdr, (size_t)h);
    memcpy(c->out + h, body, blen);
    c->out_len = (size_t)h + blen;
    c->out_off = 0;
}

static void build_get(struct conn *c, const char *path)
{
    char hdr[1024];
    int h =
        snprintf(hdr, sizeof hdr, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
                 path, opt.host, c->token);
    out_reserve(c, (size_t)h);
    memcpy(c->out, hdr, (size_t)h);
    c->out_len = (size_t)h;
    c->out_off = 0;
}

static bool measuring(uint64_t t0, uint64_t t1)
{
    return t0 >= t_measure && (!t_end || t1 <= t_end);
}

static void start_request(struct conn *c);

/* Starts the connection's next request (after a think time, if asked), or
 * marks it done. */
static void next_request(struct worker *w, struct conn *c)
{
    uint64_t now = now_us();
    if ((t_end && now >= t_end) || (opt.per_conn && c->rounds >= opt.per_conn)) {
        c->done = true;
        w->active--;
        return;
    }
    if (opt.rate > 0) {
        /* open loop: the schedule, not the last answer, says when */
        double gap_us = 1e6 * opt.conns / opt.rate;
        c->due =
            c->rounds ? c->due + (uint64_t)gap_us : t_start + (uint64_t)(1e6 * c->idx / opt.rate);
        c->sleeping = c->due > now;
        c->wake = c->due;
        c->out_len = c->out_off = 0;
        if (!c->sleeping)
            start_request(c);
        return;
    }
    if (opt.think_ms > 0) {
        /* uniform in [0, 2 x think]: the first request too, so raters
         * do not all start at once */
        c->sleeping = true;
        c->wake = now + (uint64_t)(drand48() * 2000.0 * opt.think_ms);
        c->out_len = c->out_off = 0;
        return;
    }
    start_request(c);
}

static void start_request(struct conn *c)
{
    uint64_t now = now_us();
    c->sleeping = false;
    c->in_len = 0;
    c->hdr_len = 0;
    c->content_len = -1;
    c->t_req = opt.rate > 0 ? c->due : now;
    if (opt.mode == M_POST) {
        c->phase = P_POST;
        size_t b = c->next_body++ % nbodies;
        build_post(c, opt.path, bodies[b], body_lens[b]);
    } else {
        c->phase = P_NEXT;
        c->t_round = now;
        build_get(c, "/v1/tasks/next");
    }
}

static void fail(struct worker *w, struct conn *c, const char *why)
{
    if (w->errors < 5)
        fprintf(stderr, "loadgen: connection %d: %s\n", c->idx, why);
    w->errors++;
    close(c->fd);
    c->fd = -1;
    c->done = true;
    w->active--;
}

/* Parses the answer in c->in; returns 1 when complete, 0 when more is
 * needed, -1 on a protocol error. */
static int parse_response(struct conn *c)
{
    if (!c->hdr_len) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end)
            return 0;
        c->hdr_len = (size_t)(end - c->in) + 4;
        if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7))
            return -1;
        c->status = (int)strtol(c->in + 9, NULL, 10);
        c->content_len = -1;
        for (char *p = c->in; p && p < end;) { /* p: never NULL; for GCC -O2 */
            char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
            if (!eol)
                break;
            if (!strncasecmp(p, "Content-Length:", 15))
                c->content_len = strtol(p + 15, NULL, 10);
            else if (!strncasecmp(p, "Transfer-Encoding:", 18))
                return -1; /* rung never chunks a reply */
            p = eol + 2;
        }
        if (c->content_len < 0)
            c->content_len = 0;
    }
    return c->in_len >= c->hdr_len + (size_t)c->content_len ? 1 : 0;
}

static void on_complete(struct worker *w, struct conn *c)
{
    uint64_t now = now_us();
    int st = c->status;
    bool ok2xx = st >= 200 && st < 300;
    if (opt.mode == M_POST) {
        if (!ok2xx) {
            w->errors++;
            if (!w->first_bad_status)
                w->first_bad_status = st;
        } else if (measuring(c->t_req, now)) {
            w->requests++;
            vec_push(&w->lat, (uint32_t)(now - c->t_req));
        }
        c->rounds++;
        next_request(w, c);
        return;
    }
    if (c->phase == P_NEXT) {
        if (st == 204) {
            w->empty++;
            c->done = true;
            w->active--;
            return;
        }
        const char *body = c->in + c->hdr_len;
        char *idp = ok2xx ? memmem(body, (size_t)c->content_len, "\"id\":", 5) : NULL;
        if (!idp) {
            w->errors++;
            if (!w->first_bad_status)
                w->first_bad_status = st;
            c->rounds++;
            next_request(w, c);
            return;
        }
        long long id = strtoll(idp + 5, NULL, 10);
        if (measuring(c->t_round, now))
            vec_push(&w->lat_get, (uint32_t)(now - c->t_req));
        char path[64], body_txt[64];
        snprintf(path, sizeof path, "/v1/tasks/%lld/labels", id);
        int bl = snprintf(body_txt, sizeof body_txt, "{\"answer\":\"%s\"}", opt.answer);
        c->phase = P_LABEL;
        c->in_len = 0;
        c->hdr_len = 0;
        c->t_req = now;
        build_post(c, path, body_txt, (size_t)bl);
        return;
    }
    /* P_LABEL */
    if (!ok2xx) {
        w->errors++;
        if (!w->first_bad_status)
            w->first_bad_status = st;
    } else if (measuring(c->t_round, now)) {
        w->requests++;
        vec_push(&w->lat, (uint32_t)(now - c->t_round));
        vec_push(&w->lat_label, (uint32_t)(now - c->t_req));
    }
    c->rounds++;
    next_request(w, c);
}

/* Writes and reads until the socket would block. */
static void drive(struct worker *w, struct conn *c)
{
    for (;;) {
        if (c->done)
            return;
        if (c->out_off < c->out_len) {
            ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN)
                    return; /* EPOLLOUT will call again */
                fail(w, c, strerror(errno));
                return;
            }
            c->out_off += (size_t)n;
            continue;
        }
        if (c->in_cap - c->in_len < 65536) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 131072;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            fail(w, c, strerror(errno));
            return;
        }
        if (n == 0) {
            fail(w, c, "server closed the connection");
            return;
        }
        c->in_len += (size_t)n;
        w->bytes_in += (uint64_t)n;
        int pr = parse_response(c);
        if (pr < 0) {
            fail(w, c, "bad HTTP response");
            return;
        }
        if (pr == 1)
            on_complete(w, c);
    }
}

static int connect_one(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        perror("connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static pthread_barrier_t start_barrier;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < w->nconns; i++) {
        next_request(w, &w->conns[i]);
        drive(w, &w->conns[i]);
    }
    struct epoll_event ev[256];
    bool paced = opt.think_ms > 0 || opt.rate > 0;
    while (w->active > 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        if (paced) {
            uint64_t now = now_us(), next = now + 1000;
            for (int i = 0; i < w->nconns; i++)
                if (w->conns[i].sleeping && !w->conns[i].done && w->conns[i].wake < next)
                    next = w->conns[i].wake;
            uint64_t wait = next > now ? next - now : 0;
            ts.tv_sec = 0;
            ts.tv_nsec = (long)(wait * 1000);
        }
        int n = epoll_pwait2(w->ep, ev, 256, &ts, NULL);
        for (int i = 0; i < n; i++)
            drive(w, ev[i].data.ptr);
        if (paced) {
            uint64_t now = now_us();
            for (int i = 0; i < w->nconns; i++) {
                struct conn *c = &w->conns[i];
                if (c->sleeping && !c->done && now >= c->wake) {
                    start_request(c);
                    drive(w, c);
                }
            }
        }
        if (t_end && now_us() > t_end + 5000000)
            break; /* answers more than 5 s late: give up */
    }
    return NULL;
}

static void usage(void)
{
    fputs("usage: loadgen post|tasks [--host H] --port P [--conns N] [--threads N]\n"
          "         [--duration S] [--warmup S] [--per-conn K] [--name LABEL]\n"
          "         [--latencies FILE] [--think-ms T] [--rate R]\n"
          "   post: --path PATH --bodies FILE --token T [--items-per-req K]\n"
          "   tasks: --tokens FILE [--answer a]\n"
          "       loadgen pct FILE...\n",
          stderr);
    exit(2);
}

static void report_pct(const char *name, struct vec *lat)
{
    qsort(lat->v, lat->n, sizeof *lat->v, cmp_u32);
    printf("%s samples=%zu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", name, lat->n,
           pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100));
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "pct")) {
        struct vec all = {0};
        for (int i = 2; i < argc; i++) {
            FILE *f = fopen(argv[i], "r");
            if (!f) {
                perror(argv[i]);
                return 1;
            }
            unsigned long x;
            while (fscanf(f, "%lu", &x) == 1)
                vec_push(&all, (uint32_t)x);
            fclose(f);
        }
        report_pct("pct", &all);
        return 0;
    }
    if (!strcmp(argv[1], "post"))
        opt.mode = M_POST;
    else if (!strcmp(argv[1], "tasks"))
        opt.mode = M_TASKS;
    else
        usage();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--host"))
            opt.host = v;
        else if (!strcmp(a, "--port"))
            opt.port = arg_num(v);
        else if (!strcmp(a, "--path"))
            opt.path = v;
        else if (!strcmp(a, "--bodies"))
            opt.bodies_file = v;
        else if (!strcmp(a, "--token"))
            opt.token = v;
        else if (!strcmp(a, "--tokens"))
            opt.tokens_file = v;
        else if (!strcmp(a, "--conns"))
            opt.conns = arg_num(v);
        else if (!strcmp(a, "--threads"))
            opt.threads = arg_num(v);
        else if (!strcmp(a, "--duration"))
            opt.duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            opt.warmup = atof(v);
        else if (!strcmp(a, "--per-conn"))
            opt.per_conn = arg_num(v);
        else if (!strcmp(a, "--items-per-req"))
            opt.items_per_req = arg_num(v);
        else if (!strcmp(a, "--name"))
            opt.name = v;
        else if (!strcmp(a, "--latencies"))
            opt.lat_file = v;
        else if (!strcmp(a, "--answer"))
            opt.answer = v;
        else if (!strcmp(a, "--think-ms"))
            opt.think_ms = arg_num(v);
        else if (!strcmp(a, "--rate"))
            opt.rate = atof(v);
        else
            usage();
    }
    if (!opt.port || opt.conns < 1 || opt.threads < 1 || opt.rate < 0 ||
        (opt.rate > 0 && (opt.mode != M_POST || opt.think_ms > 0)))
        usage();
    if (!opt.duration && !opt.per_conn)
        opt.duration = 10;
    if (!opt.name)
        opt.name = opt.mode == M_POST ? "post" : "tasks";
    if (opt.mode == M_POST) {
        if (!opt.bodies_file || !opt.token)
            usage();
        bodies = read_lines(opt.bodies_file, &nbodies, &body_lens);
    } else {
        if (opt.tokens_file)
            tokens = read_lines(opt.tokens_file, &ntokens, NULL);
        else if (opt.token) {
            tokens = (char **)&opt.token;
            ntokens = 1;
        } else
            usage();
    }
    if (opt.threads > opt.conns)
        opt.threads = opt.conns;

    struct worker *ws = calloc((size_t)opt.threads, sizeof *ws);
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &ws[t];
        w->ep = epoll_create1(0);
        w->nconns = opt.conns / opt.threads + (t < opt.conns % opt.threads);
        w->active = w->nconns;
        w->conns = calloc((size_t)w->nconns, sizeof *w->conns);
    }
    /* Connect every connection before the clock starts. */
    int idx = 0;
    for (int t = 0; t < opt.threads; t++) {
        struct worker *w = &ws[t];
        for (int i = 0; i < w->nconns; i++, idx++) {
            struct conn *c = &w->conns[i];
            c->idx = idx;
            c->fd = connect_one();
            c->token = opt.mode == M_POST ? opt.token : tokens[(size_t)idx % ntokens];
            c->next_body = (size_t)idx;
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
            epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
        }
    }
    srand48((long)now_us());
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.threads + 1);
    for (int t = 0; t < opt.threads; t++)
        pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
    t_start = now_us();
    t_measure = t_start + (uint64_t)(opt.warmup * 1e6);
    t_end = opt.duration > 0 ? t_measure + (uint64_t)(opt.duration * 1e6) : 0;
    pthread_barrier_wait(&start_barrier);
    struct vec lat = {0}, lat_get = {0}, lat_label = {0};
    uint64_t requests = 0, errors = 0, empty = 0;
    int bad = 0;
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(ws[t].th, NULL);
        vec_cat(&lat, &ws[t].lat);
        vec_cat(&lat_get, &ws[t].lat_get);
        vec_cat(&lat_label, &ws[t].lat_label);
        requests += ws[t].requests;
        errors += ws[t].errors;
        empty += ws[t].empty;
        if (!bad)
            bad = ws[t].first_bad_status;
    }
    uint64_t t_stop = now_us();
    double secs = t_end ? opt.duration : (double)(t_stop - t_measure) / 1e6;
    if (opt.lat_file) {
        FILE *f = fopen(opt.lat_file, "a");
        if (f) {
            for (size_t i = 0; i < lat.n; i++)
                fprintf(f, "%u\n", lat.v[i]);
            fclose(f);
        }
    }
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u32);
    printf("%s requests=%llu errors=%llu", opt.name, (unsigned long long)requests,
           (unsigned long long)errors);
    if (bad)
        printf(" first_bad_status=%d", bad);
    if (opt.mode == M_TASKS)
        printf(" empty=%llu", (unsigned long long)empty);
    if (opt.rate > 0)
        printf(" open_loop_rate=%.0f", opt.rate);
    printf(" seconds=%.2f req_s=%.0f", secs, (double)requests / secs);
    if (opt.mode == M_POST)
        printf(" items_s=%.0f", (double)requests * opt.items_per_req / secs);
    printf(" p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f", pct(&lat, 50), pct(&lat, 90),
           pct(&lat, 99), pct(&lat, 100));
    if (opt.mode == M_TASKS) {
        qsort(lat_get.v, lat_get.n, sizeof *lat_get.v, cmp_u32);
        qsort(lat_label.v, lat_label.n, sizeof *lat_label.v, cmp_u32);
        printf(" next_p50_ms=%.3f next_p99_ms=%.3f label_p50_ms=%.3f label_p99_ms=%.3f",
               pct(&lat_get, 50), pct(&lat_get, 99), pct(&lat_label, 50), pct(&lat_label, 99));
    }
    printf("\n");
    return errors ? 3 : 0;
}
