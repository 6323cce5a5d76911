/* The "http" layer kind against tests/rm_server.py, a stand-in reward
 * model server speaking vLLM's pooling API, TEI's /predict and rung's own
 * /score: scores follow the server's rule, pairs go in one request, the
 * cache saves requests, and every misbehaviour (stalls, 500s, 400s,
 * garbage, wrong counts, NaN, huge answers, a dead server) ends in a
 * bounded error, never a score. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "layer.h"
#include "layer_http.h"
#include "util.h"

#define SERVER_PY RUNG_DATA_DIR "/../rm_server.py"

struct server {
    pid_t pid;
    int port;
};

/* Starts rm_server.py; port 0 picks a free one. Returns the child and the
 * port it printed. */
static struct server server_start(const char *protocol, const char *mode, int port)
{
    int fds[2];
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test leaves no server behind */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", SERVER_PY, "--protocol", protocol, "--mode", mode, "--port",
               port_text, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_true(!strncmp(line, "PORT ", 5));
    struct server s = {.pid = pid, .port = (int)strtol(line + 5, NULL, 10)};
    assert_true(s.port > 0);
    return s;
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *cls)
{
    char *buf = cls;
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n >= 256)
        return 0;
    memcpy(buf + have, data, n);
    buf[have + n] = '\0';
    return n;
}

/* GET /stats: the scoring requests the server has seen. */
static long server_requests(const struct server *s)
{
    char url[64], buf[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", s->port);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    json_t *o = json_loads(buf, 0, NULL);
    assert_non_null(o);
    long n = (long)json_integer_value(json_object_get(o, "requests"));
    json_decref(o);
    return n;
}

/* The server's rule: 0.5 a word of the response, -0.125 a word of the prompt. */
static double words(const char *s)
{
    double n = 0;
    for (bool in = false; *s; s++) {
        bool space = *s == ' ' || *s == '\n' || *s == '\t';
        n += !space && !in;
        in = !space;
    }
    return n;
}

static double rule(const char *prompt, const char *response)
{
    return 0.5 * words(response) - 0.125 * words(prompt);
}

/* An impl of the kind from params (a json_pack format and its values)
 * with url set to the server's base URL. */
static void *load_params(const struct server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *o = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    assert_non_null(o);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", s ? s->port : 1);
    json_object_set_new(o, "url", json_string(url));
    char *text = json_dumps(o, 0);
    json_decref(o);
    void *impl = layer_http_ops.load(text, strlen(text));
    free(text);
    return impl;
}

static bool refused(const char *blob)
{
    void *impl = layer_http_ops.load(blob, strlen(blob));
    layer_http_ops.free(impl);
    return impl == NULL;
}

static void load_validates_params(void **state)
{
    (void)state;
    assert_true(refused("not json"));
    assert_true(refused("[]"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"grpc\"}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"vllm\"}"));
    assert_true(refused("{\"url\": \"ftp://h/\", \"protocol\": \"rung\"}"));
    assert_true(refused("{\"url\": \"h:80\", \"protocol\": \"rung\"}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"colour\": 1}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"timeout_ms\": 0}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"retries\": \"2\"}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"tei\", \"model\": \"m\"}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"vllm\", \"model\": \"m\", "
                        "\"template\": \"{prompt} only\"}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"threshold\": 0.2}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"truncate\": true}"));
    assert_true(refused("{\"url\": \"http://h/\", \"protocol\": \"rung\", \"url\": \"http://i\"}"));
    static const char ok[] = "{\"url\": \"https://rm.example:8443/v1\", \"protocol\": \"vllm\", "
                             "\"model\": \"rm\", \"threshold\": 0.8}";
    struct layer *l = layer_load("http", 4, ok, strlen(ok));
    assert_non_null(l);
    assert_true(layer_may_block(l));
    struct layer_info info;
    layer_describe(l, &info);
    assert_string_equal(info.kind, "http");
    assert_true(info.threshold == 0.8 && isinf(info.point_threshold) && info.members == 1);
    layer_free(l);
    void *impl = load_params(NULL, "{s:s}", "protocol", "rung");
    layer_http_ops.describe(impl, &info);
    assert_true(isinf(info.threshold));
    layer_http_ops.free(impl);
    layer_http_ops.free(NULL);
}

/* Pairs and singles score by the rule; a pair is one request of two
 * inputs; the same call again is answered from the cache. */
static void scores_follow_the_model(void **state)
{
    const char *protocol = *state;
    struct server s = server_start(protocol, "ok", 0);
    void *impl = load_params(&s, "{s:s,s:s}", "protocol", protocol, "model", "test-rm");
    if (strcmp(protocol, "vllm"))
        impl = (layer_http_ops.free(impl), load_params(&s, "{s:s}", "protocol", protocol));
    assert_non_null(impl);
    struct layer *l = layer_new(&layer_http_ops, impl, 2);
    const char *q = "what is two plus two", *a = "four", *b = "it is four I think";
    struct layer_pair p;
    assert_int_equal(layer_score_pair(l, q, a, b, &p), 0);
    assert_true(p.ra == rule(q, a) && p.rb == rule(q, b));
    assert_true(fabs(p.p_a - 1.0 / (1.0 + exp(p.rb - p.ra))) < 1e-12);
    assert_true(p.p_a < 0.5 && p.confidence == 1.0 - p.p_a && p.ra_sd == 0 && p.p_sd == 0);
    assert_int_equal(server_requests(&s), 1);
    assert_int_equal(layer_score_pair(l, q, a, b, &p), 0);
    assert_int_equal(server_requests(&s), 1);
    struct layer_single one;
    assert_int_equal(layer_score_single(l, q, "a much longer answer here", &one), 0);
    assert_true(one.r == rule(q, "a much longer answer here") && !one.has_point);
    const char *prior[] = {"first two", "then two more"};
    assert_int_equal(layer_score_step(l, q, prior, 2, "makes four", &one), 0);
    assert_true(one.r == rule(q, "first two\nthen two more\nmakes four"));
    assert_int_equal(layer_score_pair(l, NULL, a, b, &p), -EINVAL);
    assert_int_equal(server_requests(&s), 3);
    struct layer_http_health h;
    layer_http_health(impl, &h);
    assert_true(h.requests == 3 && h.failures == 0 && h.cache_hits == 2 && h.cache_misses == 4);
    assert_true(h.breaker == LAYER_HTTP_CLOSED && h.last_latency_us > 0 && h.errors == 0);
    layer_free(l);
    server_stop(&s);
}

/* Five inputs in requests of at most two; a template for TEI sends texts. */
static void batches_and_templates(void **state)
{
    (void)state;
    struct server s = server_start("tei", "ok", 0);
    void *impl = load_params(&s, "{s:s,s:i,s:s}", "protocol", "tei", "batch", 2, "template",
                             "Human: {prompt}\n\nAssistant: {response}");
    const char *p[] = {"q one", "q two", "q three", "q four", "q five"};
    const char *r[] = {"a", "a b", "a b c", "a b c d", "a b c d e"};
    double got[5];
    assert_int_equal(layer_http_score_batch(impl, 5, p, r, got), 0);
    for (int i = 0; i < 5; i++)
        assert_true(got[i] == rule(p[i], r[i]));
    assert_int_equal(server_requests(&s), 3);
    layer_http_ops.free(impl);
    server_stop(&s);
    /* A model with two labels: "label" picks one; without it, no score. */
    s = server_start("tei", "labels", 0);
    impl = load_params(&s, "{s:s,s:s}", "protocol", "tei", "label", "bad");
    assert_int_equal(layer_http_score_batch(impl, 2, p, r, got), 0);
    assert_true(got[0] == -rule(p[0], r[0]) && got[1] == -rule(p[1], r[1]));
    layer_http_ops.free(impl);
    impl = load_params(&s, "{s:s}", "protocol", "tei");
    assert_int_equal(layer_http_score_batch(impl, 1, p, r, got), -EBADMSG);
    layer_http_ops.free(impl);
    server_stop(&s);
}

/* A client error (a model the server does not serve, a missing key) is
 * not tried again; the key goes out as a bearer token. */
static void client_errors_and_keys(void **state)
{
    (void)state;
    const char *q = "q", *t = "a b";
    double r;
    struct server s = server_start("vllm", "ok", 0);
    void *impl = load_params(&s, "{s:s,s:s}", "protocol", "vllm", "model", "other-rm");
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -EPROTO);
    assert_int_equal(server_requests(&s), 1);
    layer_http_ops.free(impl);
    server_stop(&s);
    s = server_start("tei", "auth", 0);
    impl = load_params(&s, "{s:s,s:b}", "protocol", "tei", "truncate", 1);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -EPROTO);
    layer_http_ops.free(impl);
    impl = load_params(&s, "{s:s,s:s,s:b}", "protocol", "tei", "api_key", "secret", "truncate", 1);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), 0);
    assert_true(r == rule(q, t));
    assert_int_equal(server_requests(&s), 2);
    layer_http_ops.free(impl);
    setenv("RUNG_TEST_RM_KEY", "secret", 1);
    impl = load_params(&s, "{s:s,s:s}", "protocol", "tei", "api_key_env", "RUNG_TEST_RM_KEY");
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), 0);
    assert_int_equal(server_requests(&s), 3);
    layer_http_ops.free(impl);
    assert_null(load_params(&s, "{s:s,s:s}", "protocol", "tei", "api_key_env", "RUNG_NO_SUCH_VAR"));
    assert_null(load_params(&s, "{s:s,s:s,s:s}", "protocol", "tei", "api_key", "k", "api_key_env",
                            "RUNG_TEST_RM_KEY"));
    server_stop(&s);
}

/* A small cache drops the least recently used input first. */
static void cache_is_bounded_lru(void **state)
{
    (void)state;
    struct server s = server_start("rung", "ok", 0);
    void *impl = load_params(&s, "{s:s,s:i}", "protocol", "rung", "cache", 2);
    const char *q = "q";
    const char *t[] = {"one", "two", "three"};
    double r;
    for (int i = 0; i < 3; i++)
        assert_int_equal(layer_http_score_batch(impl, 1, &q, &t[i], &r), 0);
    assert_int_equal(server_requests(&s), 3);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t[2], &r), 0); /* kept */
    assert_int_equal(server_requests(&s), 3);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t[0], &r), 0); /* dropped */
    assert_int_equal(server_requests(&s), 4);
    assert_true(r == rule(q, t[0]));
    layer_http_ops.free(impl);
    server_stop(&s);
}

struct misbehaviour {
    const char *mode;
    int rc;        /* what scoring returns */
    long requests; /* what the server saw, with retries 2 */
};

/* Each protocol, each bad answer: the error, the tries, and no score. */
static void bad_answers_are_errors(void **state)
{
    static const char *const protocols[] = {"vllm", "tei", "rung"};
    static const struct misbehaviour cases[] = {
        {"500", -EREMOTEIO, 3}, {"400", -EPROTO, 1},  {"garbage", -EBADMSG, 1},
        {"count", -EBADMSG, 1}, {"nan", -EBADMSG, 1}, {"string", -EBADMSG, 1},
        {"big", -EFBIG, 1},     {"flaky", 0, 2},
    };
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++) {
            struct server s = server_start(protocols[i], cases[j].mode, 0);
            void *impl = load_params(&s, "{s:s,s:s,s:i,s:i}", "protocol", protocols[i], "model",
                                     "test-rm", "backoff_ms", 5, "retries", 2);
            if (i)
                impl = (layer_http_ops.free(impl),
                        load_params(&s, "{s:s,s:i}", "protocol", protocols[i], "backoff_ms", 5));
            struct layer_pair p = {.p_a = -1};
            int rc = layer_http_ops.score_pair(impl, "q", "a b", "c", &p);
            if (rc != cases[j].rc)
                print_error("%s %s: %d\n", protocols[i], cases[j].mode, rc);
            assert_int_equal(rc, cases[j].rc);
            assert_true(rc ? p.p_a == -1 : p.ra == rule("q", "a b"));
            assert_int_equal(server_requests(&s), cases[j].requests);
            layer_http_ops.free(impl);
            server_stop(&s);
        }
    }
}

/* A stalled server costs at most timeout x tries plus the backoff. */
static void stalls_are_bounded(void **state)
{
    (void)state;
    struct server s = server_start("rung", "stall", 0);
    void *impl = load_params(&s, "{s:s,s:i,s:i,s:i}", "protocol", "rung", "timeout_ms", 200,
                             "retries", 1, "backoff_ms", 10);
    struct layer_single one = {.r = -1};
    uint64_t t0 = util_mono_us();
    assert_int_equal(layer_http_ops.score_single(impl, "q", "a", &one), -ETIMEDOUT);
    uint64_t took_ms = (util_mono_us() - t0) / 1000;
    assert_true(took_ms >= 400 && took_ms < 1000);
    assert_true(one.r == -1);
    struct layer_http_health h;
    layer_http_health(impl, &h);
    assert_true(h.requests == 2 && h.failures == 2 && h.errors == 1 && h.last_error == -ETIMEDOUT);
    layer_http_ops.free(impl);
    server_stop(&s);
}

/* Waits (bounded) until the breaker's cool-down has passed. */
static void await_half_open(const void *impl)
{
    struct layer_http_health h;
    for (int i = 0; i < 200; i++) {
        layer_http_health(impl, &h);
        if (h.breaker == LAYER_HTTP_HALF_OPEN)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 10000000L}, NULL);
    }
    fail_msg("the breaker stayed open");
}

/* A dead server opens the breaker after three failures; it then fails
 * fast without connecting; after the cool-down one probe goes out: a
 * failure opens it again, a success (server back) closes it. */
static void breaker_opens_and_closes(void **state)
{
    (void)state;
    /* A socket bound but not listening: its port refuses connections and
     * stays ours (a server stopped instead could see its port reused). */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
    struct server s = {.port = ntohs(sa.sin_port)};
    void *impl = load_params(&s, "{s:s,s:i,s:i,s:i}", "protocol", "rung", "retries", 0,
                             "breaker_failures", 3, "breaker_cooldown_ms", 300);
    const char *q = "q", *t = "a";
    double r;
    struct layer_http_health h;
    for (int i = 0; i < 3; i++)
        assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -ECONNREFUSED);
    layer_http_health(impl, &h);
    assert_true(h.breaker == LAYER_HTTP_OPEN && h.requests == 3 && h.consecutive_failures == 3);
    uint64_t t0 = util_mono_us();
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -EHOSTUNREACH);
    assert_true(util_mono_us() - t0 < 50000);
    layer_http_health(impl, &h);
    assert_true(h.requests == 3 && h.fast_fails == 1);
    await_half_open(impl);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -ECONNREFUSED); /* the probe */
    layer_http_health(impl, &h);
    assert_true(h.breaker == LAYER_HTTP_OPEN && h.requests == 4);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), -EHOSTUNREACH);
    close(fd);
    s = server_start("rung", "ok", s.port);
    await_half_open(impl);
    assert_int_equal(layer_http_score_batch(impl, 1, &q, &t, &r), 0);
    assert_true(r == rule(q, t));
    layer_http_health(impl, &h);
    assert_true(h.breaker == LAYER_HTTP_CLOSED && h.consecutive_failures == 0);
    assert_string_equal(layer_http_breaker_name(h.breaker), "closed");
    assert_string_equal(layer_http_breaker_name(LAYER_HTTP_OPEN), "open");
    layer_http_ops.free(impl);
    server_stop(&s);
}

struct scorer {
    const void *impl;
    int base, failed;
};

static void *score_many(void *arg)
{
    struct scorer *sc = arg;
    for (int i = 0; i < 25; i++) {
        char text[64];
        snprintf(text, sizeof text, "w%d%s", (sc->base + i) % 12, i % 3 ? " x y" : "");
        struct layer_single one;
        if (layer_http_ops.score_single(sc->impl, "q", text, &one) || one.r != rule("q", text))
            sc->failed++;
    }
    return NULL;
}

/* Threads score with one layer at once through a cache smaller than what
 * they ask for. */
static void threads_share_a_layer(void **state)
{
    (void)state;
    struct server s = server_start("rung", "ok", 0);
    void *impl = load_params(&s, "{s:s,s:i}", "protocol", "rung", "cache", 8);
    pthread_t th[4];
    struct scorer sc[4];
    for (int i = 0; i < 4; i++) {
        sc[i] = (struct scorer){.impl = impl, .base = i * 5};
        assert_int_equal(pthread_create(&th[i], NULL, score_many, &sc[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sc[i].failed, 0);
    }
    struct layer_http_health h;
    layer_http_health(impl, &h);
    assert_true(h.cache_hits + h.cache_misses == 100 && h.requests == h.cache_misses);
    layer_http_ops.free(impl);
    server_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_validates_params),
        cmocka_unit_test_prestate(scores_follow_the_model, "vllm"),
        cmocka_unit_test_prestate(scores_follow_the_model, "tei"),
        cmocka_unit_test_prestate(scores_follow_the_model, "rung"),
        cmocka_unit_test(batches_and_templates),
        cmocka_unit_test(client_errors_and_keys),
        cmocka_unit_test(cache_is_bounded_lru),
        cmocka_unit_test(bad_answers_are_errors),
        cmocka_unit_test(stalls_are_bounded),
        cmocka_unit_test(breaker_opens_and_closes),
        cmocka_unit_test(threads_share_a_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
