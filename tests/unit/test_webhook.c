/* Webhooks: the pure rules (core/webhook.c: retry schedule, URLs,
 * signatures, bodies) and the store's hooks and outbox
 * (core/store_webhooks.c and the triggers of schema/010_webhooks.sql) on
 * a real SQLite file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "store.h"
#include "store_webhooks.h"
#include "token.h"
#include "webhook.h"

/* ---- the retry schedule ---- */

static void backoff_doubles_from_base_up_to_cap(void **state)
{
    (void)state;
    assert_int_equal(webhook_backoff_ms(0, 1000, WEBHOOK_BACKOFF_CAP_MS), 0);
    uint64_t want[] = {1000,  2000,   4000,   8000,   16000,   32000,
                       64000, 128000, 256000, 512000, 1024000, 2048000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(webhook_backoff_ms(i + 1, 1000, WEBHOOK_BACKOFF_CAP_MS), want[i]);
    /* 4,096,000 would pass the hour: from the 13th failure on, an hour. */
    assert_int_equal(webhook_backoff_ms(13, 1000, WEBHOOK_BACKOFF_CAP_MS), 3600000);
    assert_int_equal(webhook_backoff_ms(1000000, 1000, WEBHOOK_BACKOFF_CAP_MS), 3600000);
    assert_int_equal(webhook_backoff_ms(4000000000u, 1, UINT64_MAX), UINT64_MAX);
    /* Another base: the same doubling; a base past the cap waits the cap. */
    assert_int_equal(webhook_backoff_ms(1, 50, 1000), 50);
    assert_int_equal(webhook_backoff_ms(3, 50, 1000), 200);
    assert_int_equal(webhook_backoff_ms(6, 50, 1000), 1000);
    assert_int_equal(webhook_backoff_ms(1, 5000, 1000), 1000);
}

/* ---- URLs ---- */

static void urls_http_and_https_only(void **state)
{
    (void)state;
    char why[WEBHOOK_WHY_MAX];
    const char *good[] = {"http://127.0.0.1:8080/hook", "https://example.org/a/b?c=d",
                          "http://[::1]:9/x", "HTTPS://Example.org"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(webhook_url_check(good[i], why), 0);
    struct {
        const char *url, *why;
    } bad[] = {
        {"", "1 to 2048"},
        {"ftp://example.org/x", "scheme"},
        {"file:///etc/passwd", "scheme"},
        {"javascript:alert(1)", "absolute"},
        {"example.org/hook", "absolute"},
        {"http://", "absolute"},
        {"http://user:pw@example.org/", "user name"},
        {"http://user@example.org/", "user name"},
        {"http://example.org/a b", "printable"},
        {"http://example.org/\n", "printable"},
        {"http://example.org/\xc3\xa9", "printable"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(webhook_url_check(bad[i].url, why), -EINVAL);
        if (!strstr(why, bad[i].why))
            fail_msg("%s: %s", bad[i].url, why);
    }
    char long_url[WEBHOOK_URL_MAX + 2];
    memcpy(long_url, "http://x/", 9);
    memset(long_url + 9, 'a', sizeof long_url - 10);
    long_url[sizeof long_url - 1] = '\0';
    assert_int_equal(webhook_url_check(long_url, why), -EINVAL);
    long_url[WEBHOOK_URL_MAX] = '\0';
    assert_int_equal(webhook_url_check(long_url, why), 0);
}

/* ---- signatures and bodies ---- */

static void signature_is_hmac_sha256(void **state)
{
    (void)state;
    /* RFC 4231, test case 2. */
    char sig[WEBHOOK_SIG_LEN + 1];
    const char *data = "what do ya want for nothing?";
    webhook_sign("Jefe", data, strlen(data), sig);
    assert_string_equal(sig,
                        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    char a[WEBHOOK_SECRET_LEN + 1], b[WEBHOOK_SECRET_LEN + 1];
    webhook_secret_new(a);
    webhook_secret_new(b);
    assert_int_equal(strlen(a), WEBHOOK_SECRET_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), WEBHOOK_SECRET_LEN);
    assert_string_not_equal(a, b);
}

static void body_names_the_delivery_and_verdict(void **state)
{
    (void)state;
    struct webhook_delivery d = {.id = 17,
                                 .hook_id = 3,
                                 .item_id = "0193-uuid",
                                 .external_id = NULL,
                                 .batch = "b1",
                                 .verdict = "a",
                                 .source = "human",
                                 .has_confidence = true,
                                 .confidence = 2.0 / 3.0,
                                 .resolved_ms = 1795664926039};
    size_t len;
    char *text = webhook_body(&d, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_non_null(strstr(text, "\"confidence\":0.666667"));
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "delivery")), 17);
    assert_int_equal(json_integer_value(json_object_get(o, "hook_id")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "item_id")), "0193-uuid");
    assert_true(json_is_null(json_object_get(o, "external_id")));
    assert_string_equal(json_string_value(json_object_get(o, "batch")), "b1");
    assert_string_equal(json_string_value(json_object_get(o, "verdict")), "a");
    assert_string_equal(json_string_value(json_object_get(o, "source")), "human");
    assert_int_equal(json_integer_value(json_object_get(o, "resolved_ms")), 1795664926039);
    assert_int_equal(json_object_size(o), 9);
    json_decref(o);
    free(text);
    d.has_confidence = false;
    d.verdict = "\xff";
    assert_null(webhook_body(&d, &len));
}

/* ---- the store: hooks and the outbox ---- */

struct fx {
    char dir[64], path[128];
    struct store *s;
    struct store_key pipe, other;
    int64_t layer; /* settles the items ingested with a verdict */
};

static int key_make(struct store *s, const char *name, struct store_key *k)
{
    char tok[TOKEN_MAX];
    if (store_key_create(s, name, "pipeline", tok))
        return -1;
    return store_key_auth(s, tok, k);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rung-webhook-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    token_init();
    f->s = store_open(f->path, 2, err, sizeof err);
    if (!f->s || key_make(f->s, "pipe", &f->pipe) || key_make(f->s, "other", &f->other))
        return -1;
    struct store_layer_new l = {.params = "x", .params_len = 1, .threshold = 0.5};
    if (store_layer_add(f->s, &l, &f->layer))
        return -1;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc ? -1 : 0;
}

/* Ingests one pair item for key; settled by the layer when verdict is
 * not NULL. Writes its id. */
static void ingest(struct fx *f, int64_t key_id, const char *ext, const char *verdict,
                   char id[UUID_STR_LEN])
{
    struct store_item_in in = {.prompt = "p",
                               .response_a = "a",
                               .response_b = "b",
                               .external_id = ext,
                               .layer_id = verdict ? f->layer : 0,
                               .route_auto = verdict != NULL,
                               .verdict = verdict,
                               .confidence = 0.9};
    struct store_item_ack ack;
    struct store_ingest req = {.key_id = key_id, .items = &in, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    memcpy(id, ack.id, UUID_STR_LEN);
}

/* The due deliveries at now (no hook busy): their count, the first in *d. */
static size_t due(struct fx *f, int64_t now, struct store_webhook_due **d, int64_t *next)
{
    size_t n;
    assert_int_equal(store_webhook_due(f->s, now, NULL, 0, WEBHOOKS_PER_KEY_MAX, d, &n, next), 0);
    return n;
}

static void outbox_filled_with_the_verdict_per_hook_in_order(void **state)
{
    struct fx *f = *state;
    int64_t h1, h2, ho, created;
    assert_int_equal(store_webhook_create(f->s, f->pipe.id, "http://a/", "s1", &h1, &created), 0);
    assert_int_equal(store_webhook_create(f->s, f->pipe.id, "http://b/", "s2", &h2, &created), 0);
    assert_int_equal(store_webhook_create(f->s, f->other.id, "http://o/", "so", &ho, &created), 0);
    char x[UUID_STR_LEN], y[UUID_STR_LEN], z[UUID_STR_LEN];
    ingest(f, f->pipe.id, "x", "a", x);  /* settled at ingest */
    ingest(f, f->pipe.id, "y", NULL, y); /* waits for people: nothing yet */
    ingest(f, f->pipe.id, "z", "b", z);
    assert_int_equal(store_item_set_gold(f->s, y, "tie"), 0); /* settled by gold */

    struct store_webhook_due *d;
    int64_t next;
    size_t n = due(f, 0, &d, &next);
    /* One head per hook of the key, the oldest first; none for "other". */
    assert_int_equal(n, 2);
    assert_int_equal(d[0].hook_id, h1);
    assert_int_equal(d[1].hook_id, h2);
    assert_string_equal(d[0].item_id, x);
    assert_string_equal(d[0].external_id, "x");
    assert_string_equal(d[0].verdict, "a");
    assert_string_equal(d[0].source, "layer");
    assert_string_equal(d[0].secret, "s1");
    assert_true(d[0].id < d[1].id);
    assert_int_equal(next, INT64_MAX);
    /* Room for one: the oldest; the other, due, does not make next_ms now
     * (the sender would spin). A busy hook yields nothing. */
    struct store_webhook_due *one;
    size_t m;
    assert_int_equal(store_webhook_due(f->s, 0, NULL, 0, 1, &one, &m, &next), 0);
    assert_int_equal(m, 1);
    assert_int_equal(one[0].id, d[0].id);
    assert_int_equal(next, INT64_MAX);
    store_webhook_due_free(one, m);
    assert_int_equal(store_webhook_due(f->s, 0, &h1, 1, 8, &one, &m, &next), 0);
    assert_int_equal(m, 1);
    assert_int_equal(one[0].hook_id, h2);
    store_webhook_due_free(one, m);
    struct store_webhook_attempt a = {
        .delivery_id = d[0].id, .hook_id = h1, .acked = true, .status = 200, .at_ms = 5};
    store_webhook_due_free(d, n);
    assert_int_equal(store_webhook_record(f->s, &a, 1), 0);

    /* Hook 1's next is z, then y (gold); hook 2 still has x first. */
    n = due(f, 0, &d, &next);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].item_id, x);
    assert_int_equal(d[0].hook_id, h2);
    assert_string_equal(d[1].item_id, z);
    int64_t z_delivery = d[1].id;
    store_webhook_due_free(d, n);
    a = (struct store_webhook_attempt){.delivery_id = z_delivery,
                                       .hook_id = h1,
                                       .status = 500,
                                       .error = "HTTP 500",
                                       .at_ms = 6,
                                       .next_ms = 1000};
    assert_int_equal(store_webhook_record(f->s, &a, 1), 0);

    /* Failed: not due before 1000, and hook 1's later delivery waits too. */
    n = due(f, 999, &d, &next);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].hook_id, h2);
    assert_int_equal(next, 1000);
    store_webhook_due_free(d, n);
    n = due(f, 1000, &d, &next);
    assert_int_equal(n, 2);
    assert_int_equal(d[1].id, z_delivery);
    assert_int_equal(d[1].attempts, 1);
    store_webhook_due_free(d, n);
}

static void hooks_listed_counted_deleted_per_key(void **state)
{
    struct fx *f = *state;
    int64_t id, created, dropped = -1;
    for (int i = 0; i < WEBHOOKS_PER_KEY_MAX; i++)
        assert_int_equal(store_webhook_create(f->s, f->pipe.id, "http://a/", "s", &id, &created),
                         0);
    assert_int_equal(store_webhook_create(f->s, f->pipe.id, "http://a/", "s", &id, &created),
                     -EMLINK);
    char x[UUID_STR_LEN];
    ingest(f, f->pipe.id, "x", "a", x);
    struct store_webhook *v;
    size_t n;
    assert_int_equal(store_webhook_list(f->s, f->pipe.id, &v, &n), 0);
    assert_int_equal(n, WEBHOOKS_PER_KEY_MAX);
    assert_int_equal(v[0].pending, 1);
    assert_string_equal(v[0].url, "http://a/");
    assert_null(v[0].last_error);
    store_webhooks_free(v, n);
    assert_int_equal(store_webhook_list(f->s, f->other.id, &v, &n), 0);
    assert_int_equal(n, 0);
    store_webhooks_free(v, n);
    /* Another key cannot delete it; its owner can, with what was pending. */
    assert_int_equal(store_webhook_delete(f->s, f->other.id, id, &dropped), -ENOENT);
    assert_int_equal(store_webhook_delete(f->s, f->pipe.id, id, &dropped), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(store_webhook_delete(f->s, f->pipe.id, id, &dropped), -ENOENT);
    /* A revoked key's hooks get nothing more and are not served. */
    assert_int_equal(store_key_revoke(f->s, "pipe"), 0);
    struct store_webhook_due *d;
    int64_t next;
    assert_int_equal(due(f, 0, &d, &next), 0);
    store_webhook_due_free(d, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_from_base_up_to_cap),
        cmocka_unit_test(urls_http_and_https_only),
        cmocka_unit_test(signature_is_hmac_sha256),
        cmocka_unit_test(body_names_the_delivery_and_verdict),
        cmocka_unit_test_setup_teardown(outbox_filled_with_the_verdict_per_hook_in_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(hooks_listed_counted_deleted_per_key, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
