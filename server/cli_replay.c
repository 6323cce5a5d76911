/* rungd replay: a labelling campaign simulated against a running daemon
 * over its REST API (libcurl). Items of an oracle file are posted round by
 * round; the command answers every task itself from the oracle (with the
 * admin token, core/replay.h), trains and promotes a layer after each
 * round, and prints one row per round and a JSON line of totals. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "dataset.h"
#include "replay.h"
#include "util.h"

#define REPLAY_REPLY_MAX (64u << 20)     /* a reply longer than this is an error, bytes */
#define REPLAY_POST_CHUNK 256            /* items per POST /v1/items */
#define REPLAY_PATH_MAX 256              /* an API path with its parameters, bytes incl. NUL */
#define REPLAY_URL_MAX 2048              /* base URL and path, bytes incl. NUL */
#define REPLAY_ID_MAX 64                 /* an item id, bytes incl. NUL */
#define REPLAY_TRAIN_TIMEOUT_S 1800      /* --train-timeout default */
#define REPLAY_ACTIVATE_TIMEOUT_MS 30000 /* the daemon picks a promoted layer up within ~1 s */
#define REPLAY_POLL_MS 200               /* between looks at a training layer */
#define REPLAY_TASKS_PER_ITEM 200        /* more tasks than this per posted item: something loops */
#define REPLAY_OUTCOME_MAX 96            /* what became of a round's layer, bytes incl. NUL */

struct replay_args {
    const char *url, *token, *format, *oracle, *batch;
    int64_t rounds, per_round, train_timeout_s;
    double err;
    double target; /* the layers' accuracy target; 0: the daemon's default */
    uint64_t seed;
};

struct client {
    CURL *h;
    struct curl_slist *hdrs;
    char base[REPLAY_URL_MAX]; /* the daemon's URL without a trailing '/' */
    char *buf;                 /* the reply body, NUL-terminated */
    size_t len;
    bool over; /* the reply passed REPLAY_REPLY_MAX */
};

struct run {
    struct client c;
    const struct replay_args *a;
    struct replay_oracle *o;
    char (*ids)[REPLAY_ID_MAX]; /* item ids by oracle index; "" not posted */
    int64_t *tasks;             /* human tasks answered per item */
    size_t posted;
    int64_t active; /* the active layer, 0 none */
    int64_t trained, promoted, rejected;
};

static void replay_usage(FILE *to)
{
    fprintf(to,
            "usage: rungd replay --url URL --token ADMIN_TOKEN --format hh|gsm8k --oracle FILE\n"
            "                    [--rounds N] [--per-round K] [--rater-error P] [--seed S]\n"
            "                    [--batch NAME] [--train-timeout SECONDS] [--target T]\n\n"
            "Simulates a labelling campaign against the daemon at URL (a fresh database is\n"
            "best: every task it serves is answered). Each round posts K items of FILE (pairs,\n"
            "sides shuffled by the seed; GSM8K pairs in domain \"math\"), answers every task as\n"
            "the rater from the file's labels (GSM8K steps by the documented step rule; P\n"
            "flips that share of answers, seeded), then trains a layer (POST /v1/layers) and\n"
            "promotes it (T: the layers' accuracy target, above 0.5 and below 1; default\n"
            "the daemon's, 0.95). Prints a row per round and a JSON line of totals, with the\n"
            "shares of human judgements and bytes read saved against reviewing every item\n"
            "whole.\n"
            "Defaults: %d rounds, K = items / rounds (rounded up), P = 0, seed %d, batch\n"
            "\"replay\", training timeout %d s.\n",
            REPLAY_ROUNDS_DEFAULT, REPLAY_SEED_DEFAULT, REPLAY_TRAIN_TIMEOUT_S);
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
    struct client *c = cls;
    size_t add = size * n;
    if (c->len + add > REPLAY_REPLY_MAX) {
        c->over = true;
        return 0;
    }
    char *b = realloc(c->buf, c->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + c->len, p, add);
    c->buf = b;
    c->len += add;
    c->buf[c->len] = '\0';
    return add;
}

/* Opens the client for base (at most REPLAY_URL_MAX - 1 bytes, which
 * replay_parse checks) with the bearer token. 0 or -ENOMEM. */
static int client_open(struct client *c, const char *base, const char *token)
{
    char auth[REPLAY_URL_MAX];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    util_strlcpy(c->base, base, sizeof c->base);
    for (size_t n = strlen(c->base); n && c->base[n - 1] == '/'; n--)
        c->base[n - 1] = '\0';
    c->h = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, auth);
    /* No "Expect: 100-continue": a round trip per body for nothing. */
    static const char *const more[] = {"Content-Type: application/json", "Expect:"};
    for (size_t i = 0; c->hdrs && i < 2; i++) {
        struct curl_slist *l = curl_slist_append(c->hdrs, more[i]);
        if (!l)
            return -ENOMEM;
        c->hdrs = l;
    }
    if (!c->h || !c->hdrs)
        return -ENOMEM;
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    return 0;
}

static void client_close(struct client *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs);
    free(c->buf);
}

/* method path with body (NULL: none; reference kept). On 0 *status is the
 * HTTP status and *reply the parsed body (NULL when empty or not JSON;
 * the caller decrefs). -EIO when the exchange failed (said on stderr). */
static int call(struct client *c, const char *method, const char *path, json_t *body, long *status,
                json_t **reply)
{
    char url[REPLAY_URL_MAX], *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    snprintf(url, sizeof url, "%s%s", c->base, path);
    c->len = 0;
    c->over = false;
    *reply = NULL;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    if (strcmp(method, "GET"))
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, text ? text : "");
    else
        curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c->h);
    free(text);
    if (rc != CURLE_OK) {
        fprintf(stderr, "rungd replay: %s %s: %s\n", method, path,
                c->over ? "the reply is too long" : curl_easy_strerror(rc));
        return -EIO;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    if (c->len)
        *reply = json_loadb(c->buf, c->len, 0, NULL);
    return 0;
}

/* Says on stderr that method path answered status (with the error's
 * message when it has one). Returns -EPROTO. */
static int unexpected(const char *method, const char *path, long status, json_t *reply)
{
    const char *msg =
        json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
    fprintf(stderr, "rungd replay: %s %s answered %ld%s%s\n", method, path, status, msg ? ": " : "",
            msg ? msg : "");
    return -EPROTO;
}

/* GET path expecting 200: 0 with *reply, or a negative errno (said). */
static int get_ok(struct client *c, const char *path, json_t **reply)
{
    long st;
    int rc = call(c, "GET", path, NULL, &st, reply);
    if (!rc && (st != 200 || !json_is_object(*reply))) {
        rc = unexpected("GET", path, st, *reply);
        json_decref(*reply);
        *reply = NULL;
    }
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- options and the oracle ---- */

/* Reads a number option into *out within [min, max]. 0 or -EINVAL (said). */
static int num_opt(const char *name, const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= min && x <= max)) {
        fprintf(stderr, "rungd replay: --%s takes a number from %g to %g\n", name, min, max);
        return -EINVAL;
    }
    *out = x;
    return 0;
}

/* Sets the option c from optarg. 0 or -EINVAL (said). */
static int replay_opt(struct replay_args *a, int c, const char *v)
{
    double x = 0;
    int rc = 0;
    switch (c) {
    case 'u':
        a->url = v;
        return 0;
    case 't':
        a->token = v;
        return 0;
    case 'f':
        a->format = v;
        return 0;
    case 'o':
        a->oracle = v;
        return 0;
    case 'b':
        a->batch = v;
        return 0;
    case 'r':
        rc = num_opt("rounds", v, 1, 1000, &x);
        a->rounds = (int64_t)x;
        break;
    case 'k':
        rc = num_opt("per-round", v, 1, 1e9, &x);
        a->per_round = (int64_t)x;
        break;
    case 'e':
        rc = num_opt("rater-error", v, 0, 1, &a->err);
        break;
    case 's':
        rc = num_opt("seed", v, 0, 9007199254740992.0, &x);
        a->seed = (uint64_t)x;
        break;
    case 'T':
        rc = num_opt("train-timeout", v, 1, 86400, &x);
        a->train_timeout_s = (int64_t)x;
        break;
    case 'g':
        rc = num_opt("target", v, 0.5, 1, &a->target);
        if (!rc && (a->target <= 0.5 || a->target >= 1)) {
            fprintf(stderr, "rungd replay: --target takes a number between 0.5 and 1, both "
                            "excluded\n");
            rc = -EINVAL;
        }
        break;
    default:
        return -EINVAL;
    }
    if (!rc && (c == 'r' || c == 'k') && x != floor(x)) {
        fprintf(stderr, "rungd replay: --%s takes a whole number\n",
                c == 'r' ? "rounds" : "per-round");
        rc = -EINVAL;
    }
    return rc;
}

/* Parses replay's options. Returns -1 to go on, else the exit code. */
static int replay_parse(int argc, char **argv, struct replay_args *a)
{
#define ARG_OPT(name, c)                                                                           \
    {                                                                                              \
        name, required_argument, NULL, c                                                           \
    }
    static const struct option opts[] = {
        ARG_OPT("url", 'u'),         ARG_OPT("token", 't'),
        ARG_OPT("format", 'f'),      ARG_OPT("oracle", 'o'),
        ARG_OPT("rounds", 'r'),      ARG_OPT("per-round", 'k'),
        ARG_OPT("rater-error", 'e'), ARG_OPT("seed", 's'),
        ARG_OPT("batch", 'b'),       ARG_OPT("train-timeout", 'T'),
        ARG_OPT("target", 'g'),      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
#undef ARG_OPT
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'h' || c == '?') {
            replay_usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
        if (replay_opt(a, c, optarg))
            return 2;
    }
    if (optind != argc || !a->url || !a->token || !a->oracle || !a->format ||
        (strcmp(a->format, "hh") && strcmp(a->format, "gsm8k"))) {
        fprintf(stderr, "rungd replay: give --url, --token, --format hh|gsm8k and --oracle FILE "
                        "(see --help)\n");
        return 2;
    }
    if (strlen(a->url) >= REPLAY_URL_MAX - REPLAY_PATH_MAX || strlen(a->token) > 1024) {
        fprintf(stderr, "rungd replay: --url or --token is too long\n");
        return 2;
    }
    if (!a->batch[0] || strlen(a->batch) > 100 || strchr(a->batch, '/')) {
        fprintf(stderr, "rungd replay: --batch takes 1 to 100 bytes without '/'\n");
        return 2;
    }
    return -1;
}

static int add_pair(void *cls, const struct dataset_pair *p)
{
    return replay_oracle_add(cls, p->prompt, p->chosen, p->rejected, p->reference);
}

/* Reads a's oracle file. The oracle, or NULL (said on stderr). */
static struct replay_oracle *oracle_load(const struct replay_args *a)
{
    enum dataset_format fmt;
    struct dataset_stats st = {0};
    FILE *f = fopen(a->oracle, "r");
    if (!f) {
        fprintf(stderr, "rungd replay: cannot read '%s': %s\n", a->oracle, strerror(errno));
        return NULL;
    }
    struct replay_oracle *o = replay_oracle_new(a->seed);
    int rc = o ? dataset_format_parse(a->format, &fmt) : -ENOMEM;
    if (!rc)
        rc = dataset_read(f, fmt, add_pair, NULL, o, &st);
    fclose(f);
    if (!rc && replay_oracle_count(o) == 0)
        rc = -ENODATA;
    if (rc) {
        fprintf(stderr, "rungd replay: '%s' gives no %s pairs (%s)\n", a->oracle, a->format,
                rc == -ENODATA ? "none in the file" : strerror(-rc));
        replay_oracle_free(o);
        return NULL;
    }
    if (st.rejected_lines)
        fprintf(stderr, "rungd replay: %zu malformed lines of '%s' skipped\n", st.rejected_lines,
                a->oracle);
    return o;
}

/* ---- posting and answering ---- */

static json_t *item_json(const struct run *r, size_t i)
{
    const struct replay_item *it = replay_oracle_item(r->o, i);
    char ext[REPLAY_PATH_MAX];
    snprintf(ext, sizeof ext, "%s-%zu", r->a->batch, i);
    json_t *o = json_pack("{s:s,s:[s,s],s:s,s:s}", "prompt", it->prompt, "responses", it->a, it->b,
                          "external_id", ext, "batch", r->a->batch);
    if (o && !strcmp(r->a->format, "gsm8k"))
        json_object_set_new(o, "domain", json_string("math"));
    return o;
}

/* Reads the ids of items [from, to) from POST /v1/items's reply. 0 or
 * -EPROTO (said): an item posted before (a repeat of this batch) would
 * mix an earlier campaign's labels into this one's figures. */
static int read_ids(struct run *r, size_t from, size_t to, json_t *reply)
{
    json_t *items = json_object_get(reply, "items");
    if (json_array_size(items) != to - from)
        return unexpected("POST", "/v1/items", 201, reply);
    for (size_t i = from; i < to; i++) {
        json_t *one = json_array_get(items, i - from);
        const char *id = json_string_value(json_object_get(one, "id"));
        if (json_is_true(json_object_get(one, "duplicate"))) {
            fprintf(stderr,
                    "rungd replay: batch '%s' was posted to this daemon before; give "
                    "another --batch or use a fresh database\n",
                    r->a->batch);
            return -EPROTO;
        }
        if (!id || util_strlcpy(r->ids[i], id, REPLAY_ID_MAX))
            return unexpected("POST", "/v1/items", 201, reply);
    }
    return 0;
}

/* Posts items [from, to) in one request. 0 or a negative errno (said). */
static int post_chunk(struct run *r, size_t from, size_t to)
{
    json_t *arr = json_array(), *reply = NULL;
    for (size_t i = from; arr && i < to; i++)
        if (json_array_append_new(arr, item_json(r, i))) {
            json_decref(arr);
            arr = NULL;
        }
    json_t *body = arr ? json_pack("{s:o}", "items", arr) : NULL;
    long st = 0;
    int rc = body ? call(&r->c, "POST", "/v1/items", body, &st, &reply) : -ENOMEM;
    json_decref(body);
    if (!rc)
        rc = st == 201 || st == 200 ? read_ids(r, from, to, reply)
                                    : unexpected("POST", "/v1/items", st, reply);
    json_decref(reply);
    return rc;
}

/* The oracle's answer to task t, the model text it shows (bytes) and
 * whether the rater error flipped it. Returns the item's index, or
 * -ENOENT when the task is not one of this campaign's. */
static long task_oracle(struct run *r, json_t *t, const char **answer, int64_t *bytes,
                        bool *flipped)
{
    json_t *resp = json_object_get(t, "responses"), *sq = json_object_get(t, "subquestion");
    const char *prompt = json_string_value(json_object_get(t, "prompt"));
    const char *r0 = json_string_value(json_array_get(resp, 0));
    const char *r1 = json_string_value(json_array_get(resp, 1));
    const char *kind = json_string_value(json_object_get(t, "kind"));
    bool swapped = json_is_true(json_object_get(t, "swapped"));
    if (!prompt || !r0 || !r1 || json_array_size(resp) != 2 || !kind)
        return -ENOENT;
    long i = replay_oracle_find(r->o, prompt, swapped ? r1 : r0, swapped ? r0 : r1);
    if (i < 0 || !r->ids[i][0])
        return -ENOENT;
    const struct replay_item *it = replay_oracle_item(r->o, (size_t)i);
    if (strcmp(kind, "subquestion")) {
        *answer = replay_answer_pair(r->o, (size_t)i, swapped, r->a->err, flipped);
        *bytes = (int64_t)(strlen(it->a) + strlen(it->b)); /* both responses, whole */
        return i;
    }
    const char *side = json_string_value(json_object_get(sq, "response"));
    json_t *span = json_object_get(sq, "span");
    json_int_t s = json_integer_value(json_array_get(span, 0));
    json_int_t e = json_integer_value(json_array_get(span, 1));
    if (!side || (strcmp(side, "a") && strcmp(side, "b")) || s < 0 || e < s)
        return -ENOENT;
    *answer = replay_answer_step(r->o, (size_t)i, side[0], (size_t)s, r->a->err, flipped);
    *bytes = e; /* the response up to the step's end: the step and the ones before it */
    return i;
}

/* POSTs to /v1/tasks/ID/WHAT with body (NULL none). *taken when the daemon
 * answered 200 or 201; a 409 (the task closed or the lease lost meanwhile)
 * takes nothing. 0 or a negative errno (said). */
static int task_post(struct run *r, json_t *t, const char *what, json_t *body, bool *taken)
{
    char path[REPLAY_PATH_MAX];
    long st = 0;
    json_t *reply = NULL;
    snprintf(path, sizeof path, "/v1/tasks/%" JSON_INTEGER_FORMAT "/%s",
             json_integer_value(json_object_get(t, "id")), what);
    int rc = call(&r->c, "POST", path, body, &st, &reply);
    *taken = !rc && (st == 200 || st == 201);
    if (!rc && !*taken && st != 409)
        rc = unexpected("POST", path, st, reply);
    json_decref(reply);
    return rc;
}

/* Leases the next task and answers it (or gives back one that is not
 * this campaign's); *none when no task is left. 0 or a negative errno. */
static int answer_next(struct run *r, struct replay_row *row, bool *none)
{
    json_t *t = NULL;
    long st = 0;
    int rc = call(&r->c, "GET", "/v1/tasks/next", NULL, &st, &t);
    *none = !rc && st == 204;
    if (!rc && !*none && (st != 200 || !json_is_object(t)))
        rc = unexpected("GET", "/v1/tasks/next", st, t);
    if (rc || *none) {
        json_decref(t);
        return rc;
    }
    const char *answer = NULL;
    int64_t bytes = 0;
    bool flipped = false, taken = false;
    long i = task_oracle(r, t, &answer, &bytes, &flipped);
    if (i < 0) {
        rc = task_post(r, t, "release", NULL, &taken);
    } else {
        json_t *body = json_pack("{s:s}", "answer", answer);
        rc = body ? task_post(r, t, "labels", body, &taken) : -ENOMEM;
        json_decref(body);
        if (taken) {
            row->human_tasks++;
            row->bytes_read += bytes;
            row->flipped += flipped;
            r->tasks[i]++;
        }
    }
    json_decref(t);
    return rc;
}

/* Answers tasks until none is left. 0 or a negative errno (said). */
static int answer_all(struct run *r, struct replay_row *row)
{
    int64_t cap = (int64_t)r->posted * REPLAY_TASKS_PER_ITEM + 1000;
    for (int64_t n = 0; n < cap; n++) {
        bool none;
        int rc = answer_next(r, row, &none);
        if (rc || none)
            return rc;
    }
    fprintf(stderr, "rungd replay: more than %" PRId64 " tasks in one round; stopping\n", cap);
    return -ELOOP;
}

/* Counts items [from, to) as the daemon has them now into row. 0 or a
 * negative errno (said). */
static int count_items(struct run *r, size_t from, size_t to, struct replay_row *row)
{
    for (size_t i = from; i < to; i++) {
        char path[REPLAY_PATH_MAX];
        json_t *item;
        snprintf(path, sizeof path, "/v1/items/%s", r->ids[i]);
        int rc = get_ok(&r->c, path, &item);
        if (rc)
            return rc;
        replay_count_item(row, replay_oracle_item(r->o, i),
                          json_string_value(json_object_get(item, "status")),
                          json_string_value(json_object_get(item, "verdict")), r->tasks[i]);
        size_t k;
        json_t *sq;
        json_array_foreach(json_object_get(item, "subquestions"), k, sq)
        {
            const char *src = json_string_value(json_object_get(sq, "source"));
            row->layer_answers += src && !strcmp(src, "layer");
        }
        json_decref(item);
    }
    return 0;
}

/* ---- training and promotion (the REST lifecycle) ---- */

/* POST /v1/layers {}: *id the new layer's, or 0 with outcome saying why
 * the daemon refused (a 4xx: the campaign goes on with the layer it has).
 * 0 or a negative errno (said). */
static int train_start(struct run *r, int64_t *id, char outcome[REPLAY_OUTCOME_MAX])
{
    json_t *body = json_object(), *reply = NULL;
    long st = 0;
    if (body && r->a->target > 0 && json_object_set_new(body, "target", json_real(r->a->target))) {
        json_decref(body);
        body = NULL;
    }
    int rc = body ? call(&r->c, "POST", "/v1/layers", body, &st, &reply) : -ENOMEM;
    json_decref(body);
    *id = 0;
    if (!rc && st >= 200 && st < 300) {
        *id = json_integer_value(json_object_get(reply, "id"));
        if (*id <= 0)
            rc = unexpected("POST", "/v1/layers", st, reply);
    } else if (!rc && st >= 400 && st < 500) {
        const char *code =
            json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
        snprintf(outcome, REPLAY_OUTCOME_MAX, "not trained (%ld %s)", st, code ? code : "");
    } else if (!rc) {
        rc = unexpected("POST", "/v1/layers", st, reply);
    }
    json_decref(reply);
    return rc;
}

/* Polls GET /v1/layers/ID until its status is no longer "training";
 * copies it into status. 0 or a negative errno (said). */
static int train_wait(struct run *r, int64_t id, char status[16])
{
    char path[REPLAY_PATH_MAX];
    snprintf(path, sizeof path, "/v1/layers/%" PRId64, id);
    for (int64_t waited = 0;; waited += REPLAY_POLL_MS) {
        json_t *l;
        int rc = get_ok(&r->c, path, &l);
        if (rc)
            return rc;
        const char *s = json_string_value(json_object_get(l, "status"));
        util_strlcpy(status, s ? s : "", 16);
        json_decref(l);
        if (strcmp(status, "training"))
            return 0;
        if (waited >= r->a->train_timeout_s * 1000) {
            fprintf(stderr, "rungd replay: layer %" PRId64 " still training after %" PRId64 " s\n",
                    id, r->a->train_timeout_s);
            return -ETIMEDOUT;
        }
        sleep_ms(REPLAY_POLL_MS);
    }
}

/* POST /v1/layers/ID/promote: status becomes "active" or "rejected". */
static int promote(struct run *r, int64_t id, char status[16])
{
    char path[REPLAY_PATH_MAX];
    json_t *reply = NULL;
    long st = 0;
    snprintf(path, sizeof path, "/v1/layers/%" PRId64 "/promote", id);
    int rc = call(&r->c, "POST", path, NULL, &st, &reply);
    const char *s = json_string_value(json_object_get(reply, "status"));
    if (!rc && st == 200 && s)
        util_strlcpy(status, s, 16);
    else if (!rc && st == 409)
        util_strlcpy(status, "active", 16); /* promoted already (automatic promotion) */
    else if (!rc)
        rc = unexpected("POST", path, st, reply);
    json_decref(reply);
    return rc;
}

/* The daemon's active layer now (GET /v1/status): 0 none. */
static int active_layer(struct run *r, int64_t *id)
{
    json_t *s;
    int rc = get_ok(&r->c, "/v1/status", &s);
    if (!rc)
        *id = json_integer_value(json_object_get(s, "active_layer"));
    json_decref(s);
    return rc;
}

/* Waits until the daemon routes with layer id (it notices a promotion
 * within a second), so that the next round's items meet it. */
static int wait_active(struct run *r, int64_t id)
{
    for (long waited = 0; waited <= REPLAY_ACTIVATE_TIMEOUT_MS; waited += REPLAY_POLL_MS) {
        int64_t now = 0;
        int rc = active_layer(r, &now);
        if (rc || now == id)
            return rc;
        sleep_ms(REPLAY_POLL_MS);
    }
    fprintf(stderr, "rungd replay: the daemon did not take up layer %" PRId64 "\n", id);
    return -ETIMEDOUT;
}

/* Trains a layer on what the campaign gathered and promotes it; outcome
 * says what became of it. 0 or a negative errno (said). */
static int train_round(struct run *r, char outcome[REPLAY_OUTCOME_MAX])
{
    int64_t id;
    char status[16] = "";
    int rc = train_start(r, &id, outcome);
    if (rc || !id)
        return rc;
    r->trained++;
    rc = train_wait(r, id, status);
    if (!rc && !strcmp(status, "candidate"))
        rc = promote(r, id, status);
    if (!rc && !strcmp(status, "active"))
        rc = wait_active(r, id);
    if (rc)
        return rc;
    if (!strcmp(status, "active")) {
        r->promoted++;
        r->active = id;
        snprintf(outcome, REPLAY_OUTCOME_MAX, "layer %" PRId64 " active", id);
        return 0;
    }
    r->rejected += !strcmp(status, "rejected");
    if (r->active)
        snprintf(outcome, REPLAY_OUTCOME_MAX, "layer %" PRId64 " %s, keeps %" PRId64, id, status,
                 r->active);
    else
        snprintf(outcome, REPLAY_OUTCOME_MAX, "layer %" PRId64 " %s, keeps none", id, status);
    return 0;
}

/* ---- rounds and totals ---- */

static void print_header(void)
{
    printf("%5s %6s %6s %11s %12s %15s %6s %9s  %s\n", "round", "layer", "items", "human_tasks",
           "bytes_read", "tasks/resolved", "auto", "agreement", "after the round");
}

static void print_row(int64_t round, int64_t layer, const struct replay_row *row,
                      const char *outcome)
{
    struct replay_figures f;
    char lay[24] = "-";
    replay_figures(row, 1, &f);
    if (layer)
        snprintf(lay, sizeof lay, "%" PRId64, layer);
    printf("%5" PRId64 " %6s %6" PRId64 " %11" PRId64 " %12" PRId64 " %15.2f %6.3f %9.3f  %s\n",
           round, lay, row->items, row->human_tasks, row->bytes_read, f.tasks_per_resolved,
           f.auto_share, f.agreement, outcome);
    fflush(stdout);
}

/* One round: posts the next per items, answers every task, counts the
 * round's items, trains and promotes, prints the row. */
static int round_run(struct run *r, int64_t round, size_t per, struct replay_row *row)
{
    size_t from = r->posted, n = replay_oracle_count(r->o);
    size_t to = per < n - from ? from + per : n;
    int64_t layer = r->active;
    char outcome[REPLAY_OUTCOME_MAX] = "";
    int rc = 0;
    row->items = (int64_t)(to - from);
    for (size_t i = from; i < to; i++) {
        const struct replay_item *it = replay_oracle_item(r->o, i);
        row->baseline_bytes += (int64_t)(strlen(it->a) + strlen(it->b));
    }
    for (size_t i = from; !rc && i < to; i += REPLAY_POST_CHUNK)
        rc = post_chunk(r, i, i + REPLAY_POST_CHUNK < to ? i + REPLAY_POST_CHUNK : to);
    if (rc)
        return rc;
    r->posted = to;
    rc = answer_all(r, row);
    if (!rc)
        rc = count_items(r, from, to, row);
    if (!rc)
        rc = train_round(r, outcome);
    if (!rc)
        print_row(round, layer, row, outcome);
    return rc;
}

/* Sets integer field k of o. */
static void put_int(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

/* The JSON line of totals: the rows' sums, with the final verdicts of
 * every posted item recounted now. */
static int print_totals(struct run *r, const struct replay_row *rows, size_t n)
{
    struct replay_row sum = {0}, last = {0};
    struct replay_figures f;
    replay_rows_sum(rows, n, &sum);
    int rc = count_items(r, 0, r->posted, &last);
    if (rc)
        return rc;
    sum.resolved = last.resolved;
    sum.auto_resolved = last.auto_resolved;
    sum.agreeing = last.agreeing;
    sum.layer_answers = last.layer_answers;
    replay_figures(&sum, 1, &f);
    json_t *o = json_pack("{s:s,s:I,s:f,s:I,s:o}", "format", r->a->format, "rounds", (json_int_t)n,
                          "rater_error", r->a->err, "seed", (json_int_t)r->a->seed, "target",
                          r->a->target > 0 ? json_real(r->a->target) : json_null());
    if (!o)
        return -ENOMEM;
    const int64_t ints[] = {
        sum.items,    sum.human_tasks,   sum.items,    sum.bytes_read, sum.baseline_bytes,
        sum.resolved, sum.auto_resolved, sum.agreeing, sum.flipped,    sum.layer_answers,
        r->trained,   r->promoted,       r->rejected};
    static const char *const int_names[] = {
        "items",          "human_tasks",   "baseline_judgements", "bytes_read",
        "baseline_bytes", "resolved",      "auto_resolved",       "agreeing",
        "flipped",        "layer_answers", "layers_trained",      "layers_promoted",
        "layers_rejected"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        put_int(o, int_names[i], ints[i]);
    const double reals[] = {
        f.tasks_per_resolved,     f.auto_share,       f.judgements_ratio, f.bytes_ratio,
        f.human_judgements_saved, f.bytes_read_saved, f.agreement};
    static const char *const real_names[] = {
        "tasks_per_resolved",     "auto_resolved_share", "judgements_ratio", "bytes_ratio",
        "human_judgements_saved", "bytes_read_saved",    "agreement"};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        json_object_set_new(o, real_names[i], json_real(reals[i]));
    json_object_set_new(o, "active_layer", r->active ? json_integer(r->active) : json_null());
    rc = json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) ? -EIO : 0;
    json_decref(o);
    putchar('\n');
    return fflush(stdout) || rc ? -EIO : 0;
}

/* Checks the daemon and the token, reads the active layer and asks one
 * label per task of the batch (one simulated rater can give no more). */
static int campaign_start(struct run *r)
{
    json_t *reply = NULL, *body;
    long st = 0;
    int rc = call(&r->c, "GET", "/v1/status", NULL, &st, &reply);
    if (!rc && st != 200)
        rc = unexpected("GET", "/v1/status", st, reply);
    if (!rc)
        r->active = json_integer_value(json_object_get(reply, "active_layer"));
    json_decref(reply);
    reply = NULL;
    body = rc ? NULL : json_pack("{s:s,s:i,s:b}", "batch", r->a->batch, "overlap", 1, "future", 1);
    if (body) {
        rc = call(&r->c, "PUT", "/v1/overlap", body, &st, &reply);
        if (!rc && st != 200)
            rc = unexpected("PUT", "/v1/overlap", st, reply);
    }
    json_decref(body);
    json_decref(reply);
    return rc;
}

static int campaign(struct run *r)
{
    const struct replay_args *a = r->a;
    size_t n = replay_oracle_count(r->o);
    size_t per =
        a->per_round ? (size_t)a->per_round : (n + (size_t)a->rounds - 1) / (size_t)a->rounds;
    struct replay_row *rows = calloc((size_t)a->rounds, sizeof *rows);
    size_t done = 0;
    int rc = rows ? campaign_start(r) : -ENOMEM;
    if (!rc)
        print_header();
    for (; !rc && done < (size_t)a->rounds && r->posted < n; done++)
        rc = round_run(r, (int64_t)done + 1, per, &rows[done]);
    if (!rc)
        rc = print_totals(r, rows, done);
    free(rows);
    return rc;
}

int cli_replay(int argc, char **argv)
{
    struct replay_args a = {.batch = "replay",
                            .rounds = REPLAY_ROUNDS_DEFAULT,
                            .seed = REPLAY_SEED_DEFAULT,
                            .train_timeout_s = REPLAY_TRAIN_TIMEOUT_S};
    int rc = replay_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct replay_oracle *o = oracle_load(&a);
    if (!o)
        return 1;
    size_t n = replay_oracle_count(o);
    struct run r = {.a = &a, .o = o};
    r.ids = calloc(n, sizeof *r.ids);
    r.tasks = calloc(n, sizeof *r.tasks);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) || !r.ids || !r.tasks ||
        client_open(&r.c, a.url, a.token))
        rc = -ENOMEM;
    else
        rc = campaign(&r);
    if (rc == -ENOMEM)
        fprintf(stderr, "rungd replay: out of memory\n");
    client_close(&r.c);
    curl_global_cleanup();
    free(r.ids);
    free(r.tasks);
    replay_oracle_free(o);
    return rc ? 1 : 0;
}
