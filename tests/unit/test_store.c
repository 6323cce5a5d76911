/* The store on a real SQLite file in a temporary directory. */
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
#include <sqlite3.h>

#include "store.h"
#include "store_internal.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rung-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    token_init();
    f->s = store_open(f->path, 2, err, sizeof err);
    if (!f->s) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

extern const size_t schema_migration_count; /* schema_sql.c: the migrations built in */

static void migrations_applied(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_schema_version(f->s), (int)schema_migration_count);
}

static void keys_lifecycle(void **state)
{
    struct fx *f = *state;
    char tok[TOKEN_MAX], tok2[TOKEN_MAX];
    assert_int_equal(store_key_create(f->s, "alice", "rater", tok), 0);
    assert_int_equal(store_key_create(f->s, "alice", "admin", tok2), -EEXIST);
    assert_int_equal(store_key_create(f->s, "bad name", "admin", tok2), -EINVAL);
    assert_int_equal(store_key_create(f->s, "bob", "root", tok2), -EINVAL);
    struct store_key k;
    assert_int_equal(store_key_auth(f->s, tok, &k), 0);
    assert_string_equal(k.name, "alice");
    assert_string_equal(k.role, "rater");
    assert_true(k.rater_id > 0);
    char wrong[TOKEN_MAX];
    memcpy(wrong, tok, sizeof wrong);
    wrong[strlen(wrong) - 2] = wrong[strlen(wrong) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(store_key_auth(f->s, wrong, &k), -EACCES);
    struct store_key *keys;
    size_t n;
    assert_int_equal(store_key_list(f->s, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0].name, "alice");
    assert_string_equal(keys[0].role, "rater");
    assert_true(keys[0].created_ms > 0);
    assert_int_equal(keys[0].revoked_ms, 0);
    free(keys);
    assert_int_equal(store_key_revoke(f->s, "alice"), 0);
    assert_int_equal(store_key_list(f->s, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_true(keys[0].revoked_ms >= keys[0].created_ms);
    free(keys);
    assert_int_equal(store_key_revoke(f->s, "alice"), -ENOENT);
    assert_int_equal(store_key_auth(f->s, tok, &k), -EACCES);
}

static void ingest_idempotent_and_listed(void **state)
{
    struct fx *f = *state;
    char tok[TOKEN_MAX];
    assert_int_equal(store_key_create(f->s, "pipe", "pipeline", tok), 0);
    struct store_key k;
    assert_int_equal(store_key_auth(f->s, tok, &k), 0);
    struct store_item_in in[3] = {
        {.prompt = "p1", .response_a = "r1", .external_id = "x1", .batch = "b"},
        {.prompt = "p2", .response_a = "a", .response_b = "b", .batch = "b"},
        {.prompt = "p3", .response_a = "r3", .domain = "math"},
    };
    struct store_item_ack acks[3];
    struct store_ingest req = {.key_id = k.id, .items = in, .n = 3, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_false(acks[0].existed);
    assert_string_equal(acks[0].status, "awaiting_human");
    char first[UUID_STR_LEN];
    memcpy(first, acks[0].id, sizeof first);

    struct store_ingest again = {.key_id = k.id, .items = in, .n = 1, .acks = acks};
    assert_int_equal(store_ingest(f->s, &again), 0);
    assert_true(acks[0].existed);
    assert_string_equal(acks[0].id, first);

    struct store_item item;
    assert_int_equal(store_item_get(f->s, first, k.id, &item), 0);
    assert_string_equal(item.prompt, "p1");
    assert_string_equal(item.external_id, "x1");
    assert_null(item.response_b);
    store_item_clear(&item);
    assert_int_equal(store_item_get(f->s, first, k.id + 1000, &item), -ENOENT);
    assert_int_equal(store_item_get(f->s, "no-such-item", 0, &item), -ENOENT);

    /* Pages of one: every item once, in order, then no cursor. */
    struct store_item_filter flt = {.limit = 1};
    char next[STORE_CURSOR_MAX];
    int seen = 0;
    char cursor[STORE_CURSOR_MAX] = "";
    struct store_item *page;
    size_t n;
    do {
        flt.after = cursor;
        assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), 0);
        assert_int_equal(n, 1);
        assert_string_equal(page[0].prompt, in[seen].prompt);
        seen += (int)n;
        store_items_free(page, n);
        memcpy(cursor, next, sizeof cursor);
    } while (cursor[0]);
    assert_int_equal(seen, 3);

    flt = (struct store_item_filter){.batch = "b", .limit = 10};
    assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), 0);
    assert_int_equal(n, 2);
    assert_string_equal(page[1].response_b, "b");
    assert_string_equal(next, "");
    store_items_free(page, n);
    flt.after = "notanumber";
    assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), -EINVAL);

    struct store_status st;
    assert_int_equal(store_status(f->s, &st), 0);
    assert_int_equal(st.items, 3);
    assert_int_equal(st.by_status.n, 1);
    assert_string_equal(st.by_status.v[0].value, "awaiting_human");
    assert_int_equal(st.by_status.v[0].n, 3);
    int64_t math = 0, none = 0;
    for (size_t i = 0; i < st.by_domain.n; i++) {
        if (!strcmp(st.by_domain.v[i].value, "math"))
            math = st.by_domain.v[i].n;
        if (!strcmp(st.by_domain.v[i].value, ""))
            none = st.by_domain.v[i].n;
    }
    assert_int_equal(math, 1);
    assert_int_equal(none, 2);
    assert_true(st.db_bytes > 0);
    store_status_clear(&st);
}

static int count_cb(void *cls, const struct store_comparison *c)
{
    int *n = cls;
    assert_string_equal(c->source, "import");
    (*n)++;
    return 0;
}

static void comparisons_and_layers(void **state)
{
    struct fx *f = *state;
    struct store_comparison c[2] = {
        {.prompt = "p", .chosen = "good", .rejected = "bad", .source = "import"},
        {.prompt = "q", .chosen = "x", .rejected = "y", .tie = true, .source = "import"},
    };
    assert_int_equal(store_comparisons_add(f->s, c, 2), 0);
    int n = 0;
    assert_int_equal(store_comparisons_each(f->s, count_cb, &n), 0);
    assert_int_equal(n, 2);

    assert_int_equal(store_layer_active_id(f->s), 0);
    const char blob[] = "params";
    struct store_layer_new l = {.params = blob,
                                .params_len = sizeof blob,
                                .metrics = "{}",
                                .threshold = 0.8,
                                .train_size = 2,
                                .activate = true};
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(store_layer_add(f->s, &l, &id1), 0);
    assert_int_equal(store_layer_active_id(f->s), id1);
    l.activate = false;
    assert_int_equal(store_layer_add(f->s, &l, &id2), 0);
    assert_int_equal(store_layer_active_id(f->s), id1);
    assert_int_equal(store_layer_activate(f->s, id2), 0);
    assert_int_equal(store_layer_active_id(f->s), id2);
    assert_int_equal(store_layer_activate(f->s, 9999), -ENOENT);
    assert_int_equal(store_layer_active_id(f->s), id2); /* the failed swap changed nothing */
    void *got = NULL;
    size_t len = 0;
    assert_int_equal(store_layer_params(f->s, id2, &got, &len), 0);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(got, blob, len);
    free(got);
    struct store_layer *layers;
    size_t nl;
    assert_int_equal(store_layer_list(f->s, &layers, &nl), 0);
    assert_int_equal(nl, 2);
    assert_int_equal(layers[0].id, id2); /* newest first */
    assert_string_equal(layers[0].status, "active");
    assert_string_equal(layers[1].status, "retired");
    store_layers_free(layers, nl);
}

/* Creates a rater key and returns its rater id. */
static int64_t new_rater(struct store *s, const char *name)
{
    char tok[TOKEN_MAX];
    assert_int_equal(store_key_create(s, name, "rater", tok), 0);
    struct store_key k;
    assert_int_equal(store_key_auth(s, tok, &k), 0);
    assert_true(k.rater_id > 0);
    return k.rater_id;
}

static int64_t claim(struct store *s, int64_t rater)
{
    struct store_claim c = {.rater_id = rater};
    assert_int_equal(store_task_claim(s, &c), 0);
    int64_t id = c.found ? c.task.id : 0;
    store_task_clear(&c.task);
    return id;
}

static enum label_result label(struct store *s, int64_t task, int64_t rater, const char *answer,
                               bool *resolved)
{
    struct store_label l = {.task_id = task, .rater_id = rater, .answer = answer, .seconds = -1};
    assert_int_equal(store_task_label(s, &l), 0);
    if (resolved)
        *resolved = l.resolved;
    return l.result;
}

/* Leases, labels and resolution through the store's own interface. */
static void tasks_claim_label_resolve(void **state)
{
    struct fx *f = *state;
    store_set_defaults(f->s, 2, 600000, 0, false);
    char tok[TOKEN_MAX];
    assert_int_equal(store_key_create(f->s, "pipe", "pipeline", tok), 0);
    struct store_key k;
    assert_int_equal(store_key_auth(f->s, tok, &k), 0);
    struct store_item_in in[2] = {
        {.prompt = "p1", .response_a = "a1", .response_b = "b1", .priority = 5},
        {.prompt = "p2", .response_a = "single"},
    };
    struct store_item_ack acks[2];
    struct store_ingest req = {.key_id = k.id, .items = in, .n = 2, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);

    int64_t r1 = new_rater(f->s, "r1"), r2 = new_rater(f->s, "r2"), r3 = new_rater(f->s, "r3");
    int64_t t1 = claim(f->s, r1);
    assert_true(t1 > 0);
    assert_int_equal(claim(f->s, r1), t1); /* a held lease comes back */
    assert_int_equal(claim(f->s, r2), t1); /* overlap 2: a second rater */
    int64_t t2 = claim(f->s, r3);          /* the pair is full: the single */
    assert_true(t2 > 0 && t2 != t1);

    bool resolved = true;
    assert_int_equal(label(f->s, t1, r3, "a", NULL), LABEL_NOT_SERVED);
    assert_int_equal(label(f->s, t1, r1, "good", NULL), LABEL_BAD_ANSWER);
    assert_int_equal(label(f->s, t1, r1, "a", &resolved), LABEL_RECORDED);
    assert_false(resolved);
    assert_int_equal(label(f->s, t1, r1, "a", NULL), LABEL_REPEAT);
    assert_int_equal(label(f->s, t1, r1, "b", NULL), LABEL_CONFLICT);
    assert_int_equal(label(f->s, t1, r2, "a", &resolved), LABEL_RECORDED);
    assert_true(resolved);
    assert_int_equal(label(f->s, 9999, r2, "a", NULL), LABEL_NO_TASK);

    struct store_item item;
    assert_int_equal(store_item_get(f->s, acks[0].id, 0, &item), 0);
    assert_string_equal(item.status, "resolved");
    assert_string_equal(item.verdict, "a");
    assert_string_equal(item.verdict_source, "human");
    assert_true(item.has_confidence);
    store_item_clear(&item);

    /* Release: the task goes back, but not to who skipped it. */
    assert_int_equal(store_task_release(f->s, t2, r3), 0);
    assert_int_equal(store_task_release(f->s, t2, r3), -ENOENT);
    assert_int_equal(claim(f->s, r3), 0);
    assert_int_equal(claim(f->s, r1), t2);

    /* The raters' counts, by name. */
    struct store_rater *raters;
    size_t n;
    assert_int_equal(store_raters(f->s, &raters, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(raters[0].name, "r1");
    assert_string_equal(raters[0].role, "rater");
    assert_int_equal(raters[0].labels, 1);
    assert_int_equal(raters[2].labels, 0);
    assert_int_equal(raters[0].gold_seen, 0);
    free(raters);
}

/* Work another store (as another process would) adds to the same file is
 * counted by the first one's next claim, and makes a new task generation. */
static void tasks_from_another_writer_counted(void **state)
{
    struct fx *f = *state;
    store_set_defaults(f->s, 1, 600000, 0, false);
    int64_t r1 = new_rater(f->s, "r1");
    assert_int_equal(claim(f->s, r1), 0);
    uint64_t gen = store_task_generation(f->s);

    char err[256];
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    struct store_item_in in[3] = {
        {.prompt = "p1", .response_a = "a1"},
        {.prompt = "p2", .response_a = "a2"},
        {.prompt = "p3", .response_a = "a3"},
    };
    struct store_item_ack acks[3];
    struct store_ingest req = {.items = in, .n = 3, .acks = acks};
    assert_int_equal(store_ingest(other, &req), 0);
    store_close(other);

    struct store_claim c = {.rater_id = r1};
    assert_int_equal(store_task_claim(f->s, &c), 0);
    assert_true(c.found);
    assert_string_equal(c.task.prompt, "p1");
    assert_int_equal(c.task.remaining, 3);
    store_task_clear(&c.task);
    assert_true(store_task_generation(f->s) != gen);
}

/* The claim query must walk the partial index in claim order, never scan
 * the tasks table: with a million queued tasks a scan costs 200 ms. */
static void claim_query_uses_the_partial_index(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    static const enum stmt_id hot[] = {ST_TASK_PICK, ST_TASK_PICK_GOLD, ST_LEASE_HELD, ST_REAP};
    for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++) {
        char sql[2048];
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", store_sql(hot[i]));
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        char plan[2048] = "";
        while (sqlite3_step(st) == SQLITE_ROW) {
            size_t n = strlen(plan);
            snprintf(plan + n, sizeof plan - n, "%s\n", (const char *)sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        if (hot[i] == ST_TASK_PICK)
            assert_non_null(strstr(plan, "USING INDEX tasks_claim"));
        /* No full scan and no sort anywhere on the hot path. */
        assert_null(strstr(plan, "TEMP B-TREE"));
        for (char *p = strstr(plan, "SCAN "); p; p = strstr(p + 1, "SCAN "))
            assert_non_null(strstr(p, "USING"));
    }
    sqlite3_close(db);
}

static void newer_schema_refused_untouched(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    f->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_null(store_open(f->path, 1, err, sizeof err));
    assert_non_null(strstr(err, "newer"));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 99);
    sqlite3_finalize(st);
    char back[48];
    snprintf(back, sizeof back, "PRAGMA user_version = %zu", schema_migration_count);
    sqlite3_exec(db, back, NULL, NULL, NULL);
    sqlite3_close(db);
    f->s = store_open(f->path, 1, err, sizeof err);
    assert_non_null(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(ingest_idempotent_and_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(comparisons_and_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_claim_label_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_from_another_writer_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_query_uses_the_partial_index, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_refused_untouched, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
