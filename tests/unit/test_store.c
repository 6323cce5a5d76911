/* The store on a real SQLite file in a temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "limits.h"
#include "store_internal.h"

/* schema_sql.c: the migrations built in, in order. */
extern const size_t schema_migration_count;
extern const char *const schema_migrations[];

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
    struct store_key_row *keys;
    size_t n;
    bool more;
    assert_int_equal(store_key_list(f->s, 0, 10, &keys, &n, &more), 0);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(keys[0].key.name, "alice");
    assert_string_equal(keys[0].key.role, "rater");
    assert_true(keys[0].key.created_ms > 0);
    assert_int_equal(keys[0].key.revoked_ms, 0);
    assert_string_equal(keys[0].batches, "[]");
    store_key_rows_free(keys, n);
    assert_int_equal(store_key_revoke(f->s, "alice"), 0);
    assert_int_equal(store_key_list(f->s, 0, 10, &keys, &n, &more), 0);
    assert_int_equal(n, 1);
    assert_true(keys[0].key.revoked_ms >= keys[0].key.created_ms);
    store_key_rows_free(keys, n);
    /* Limits only on a rater key; listed, paged by id. */
    const char *b[] = {"b1", "b0"};
    struct store_key_limits lim = {.batches = b, .nbatches = 2};
    assert_int_equal(store_key_create_limited(f->s, "pipe", "pipeline", &lim, tok2), -EINVAL);
    assert_int_equal(store_key_create_limited(f->s, "carol", "rater", &lim, tok2), 0);
    assert_int_equal(store_key_list(f->s, 0, 1, &keys, &n, &more), 0);
    assert_true(n == 1 && more);
    int64_t after = keys[0].key.id;
    store_key_rows_free(keys, n);
    assert_int_equal(store_key_list(f->s, after, 1, &keys, &n, &more), 0);
    assert_true(n == 1 && !more);
    assert_string_equal(keys[0].batches, "[\"b0\",\"b1\"]");
    assert_string_equal(keys[0].domains, "[]");
    store_key_rows_free(keys, n);
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

static int count_any_cb(void *cls, const struct store_comparison *c)
{
    (void)c;
    (*(int *)cls)++;
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
    char kind[STORE_KIND_MAX];
    assert_int_equal(store_layer_params(f->s, id2, kind, &got, &len), 0);
    assert_string_equal(kind, "hashed-bt");
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
    store_set_review(f->s, 0, false); /* no undo, item order: the rules as first written */
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
/* Comparisons of a retracted item leave the training set; the others
 * (an import without an item, a live item's) stay. */
static int count_live_cb(void *cls, const struct store_comparison *c)
{
    assert_string_not_equal(c->prompt, "p1");
    (*(int *)cls)++;
    return 0;
}

static void retracted_items_leave_training(void **state)
{
    struct fx *f = *state;
    struct store_item_in in[2] = {
        {.prompt = "p1", .response_a = "a1", .response_b = "b1", .batch = "gone"},
        {.prompt = "p2", .response_a = "a2", .response_b = "b2", .batch = "kept"},
    };
    struct store_item_ack acks[2];
    struct store_ingest req = {.items = in, .n = 2, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);
    struct store_item it[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(store_item_get(f->s, acks[i].id, 0, &it[i]), 0);
    struct store_comparison c[3] = {
        {.prompt = "p1",
         .chosen = "a1",
         .rejected = "b1",
         .source = "human",
         .item_seq = it[0].seq},
        {.prompt = "p2",
         .chosen = "a2",
         .rejected = "b2",
         .source = "human",
         .item_seq = it[1].seq},
        {.prompt = "p", .chosen = "x", .rejected = "y", .source = "import"},
    };
    assert_int_equal(store_comparisons_add(f->s, c, 3), 0);
    struct store_retract r = {.batch = "gone", .actor = "boss"};
    assert_int_equal(store_retract(f->s, &r), 0);
    assert_int_equal(r.retracted, 1);
    int n = 0;
    assert_int_equal(store_comparisons_each(f->s, count_live_cb, &n), 0);
    assert_int_equal(n, 2);
    struct store_item again;
    assert_int_equal(store_item_get(f->s, acks[0].id, 0, &again), -ENOENT);
    assert_int_equal(store_retract(f->s, &r), -ENOENT);
    struct store_retract one = {.item_id = acks[1].id, .key_id = 99};
    assert_int_equal(store_retract(f->s, &one), -ENOENT); /* another key's */
    store_item_clear(&it[0]);
    store_item_clear(&it[1]);
}

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

/* The plan of statement id on the database at path, one line a step. */
static void plan_of(const char *path, enum stmt_id id, char *plan, size_t size)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[4096];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", store_sql(id));
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    plan[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t n = strlen(plan);
        snprintf(plan + n, size - n, "%s\n", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A limited key's claim: near walks the claim index (a few hundred rows,
 * then a sort of those); far reaches the scope's tasks through the batch
 * and domain indexes, never scanning tasks or items. Measured with 200k
 * open tasks: near 0.5-2 ms, far under 1 ms for a scope of 10 items. */
static void limited_claim_plans(void **state)
{
    struct fx *f = *state;
    char plan[4096];
    plan_of(f->path, ST_TASK_PICK_NEAR, plan, sizeof plan);
    assert_non_null(strstr(plan, "SCAN t USING INDEX tasks_claim"));
    plan_of(f->path, ST_TASK_PICK_FAR, plan, sizeof plan);
    assert_non_null(strstr(plan, "USING INDEX tasks_item"));
    assert_non_null(strstr(plan, "items_batch (batch=?)"));
    assert_non_null(strstr(plan, "items_domain (domain=?)"));
    for (char *p = strstr(plan, "SCAN "); p; p = strstr(p + 1, "SCAN "))
        fail_msg("a scan in the far claim: %s", plan);
}

/* items_batch and items_domain leave out items without a batch or domain
 * (migration 014): every statement that looks items up by them still
 * searches the index. */
static void batch_and_domain_indexes_are_partial(void **state)
{
    struct fx *f = *state;
    static const struct {
        enum stmt_id id;
        const char *want;
    } uses[] = {
        {ST_ITEMS_BATCH, "items_batch (batch=? AND seq>?)"},
        {ST_OVERLAP_APPLY_BATCH, "items_batch (batch=?)"},
        {ST_OVERLAP_APPLY_DOMAIN, "items_domain (domain=?)"},
        {ST_ITEMS_IN_BATCH, "items_batch (batch=?)"},
        {ST_ITEMS_IN_DOMAIN, "items_domain (domain=?)"},
        {ST_BATCH_LIST, "items_batch (batch>?)"},
        {ST_BATCH_COUNT_STATUS, "items_batch (batch=?)"},
        {ST_BATCH_COUNT_ROUTE, "items_batch (batch=?)"},
        {ST_BATCH_COUNT_VERDICT, "items_batch (batch=?)"},
        {ST_BATCH_COUNT_SOURCE, "items_batch (batch=?)"},
        {ST_BATCH_TASKS, "items_batch (batch=?)"},
        {ST_BATCH_HOURLY, "items_batch (batch=?)"},
        {ST_RETRACT_BATCH_SEQS, "items_batch (batch=?)"},
    };
    char plan[4096];
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++) {
        plan_of(f->path, uses[i].id, plan, sizeof plan);
        if (!strstr(plan, uses[i].want))
            fail_msg("statement %d does not search %s: %s", (int)uses[i].id, uses[i].want, plan);
    }
    /* Both partial, on the same columns as before. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT name, \"partial\", (SELECT group_concat(name) FROM "
                           "pragma_index_info(l.name)) FROM pragma_index_list('items') l "
                           "WHERE name IN ('items_batch', 'items_domain') ORDER BY 1",
                           -1, &st, NULL),
        SQLITE_OK);
    static const char *const cols[] = {"batch,seq", "domain,seq"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 1), 1);
        assert_string_equal((const char *)sqlite3_column_text(st, 2), cols[i]);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
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
    char set[48];
    snprintf(set, sizeof set, "PRAGMA user_version = %zu", schema_migration_count);
    sqlite3_exec(db, set, NULL, NULL, NULL);
    sqlite3_close(db);
    f->s = store_open(f->path, 1, err, sizeof err);
    assert_non_null(f->s);
}

/* Sustained writes: checkpoints run on the checkpointer, not in the
 * commits, and keep the WAL far below what was written (without them it
 * would hold all of it); once writes stop, the WAL file is truncated. */
static void wal_bounded_and_truncated_when_idle(void **state)
{
    struct fx *f = *state;
    /* 48 MB in commits of 8 rows of 5 KB, as a stream of small ingests. */
    enum { BATCHES = 1200, PER = 8, TEXT = 5000 };
    char wal[160], *text = malloc(TEXT + 1);
    assert_non_null(text);
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    memset(text, 'x', TEXT);
    text[TEXT] = '\0';
    struct store_comparison c[PER];
    char prompts[PER][32];
    long long max_wal = 0, written = 0;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < PER; i++) {
            snprintf(prompts[i], sizeof prompts[i], "p %d.%d", b, i);
            c[i] = (struct store_comparison){.prompt = prompts[i],
                                             .chosen = text,
                                             .rejected = "r",
                                             .source = "import",
                                             .weight = 1.0};
            written += TEXT;
        }
        assert_int_equal(store_comparisons_add(f->s, c, PER), 0);
        struct stat st;
        if (stat(wal, &st) == 0 && st.st_size > max_wal)
            max_wal = st.st_size;
    }
    struct store_ckpt_stats ck;
    store_ckpt_stats(f->s, &ck);
    printf("wrote %lld bytes in %llu commits (%llu WAL frames); WAL at most %lld bytes; "
           "checkpoints: %llu passive, %llu restart\n",
           written, (unsigned long long)ck.commits, (unsigned long long)ck.frames, max_wal,
           (unsigned long long)ck.passive, (unsigned long long)ck.restart);
    assert_true(ck.passive >= 1);
    /* One PASSIVE per CKPT_PASSIVE_PAGES new frames, not one per commit
     * once the WAL is past the threshold (each one syncs the database). */
    assert_true(ck.frames >= (uint64_t)written / 4096);
    assert_true(ck.passive <= ck.frames / CKPT_PASSIVE_PAGES + ck.restart + 1);
    /* The bound: CKPT_CAP_PAGES frames (4 KiB pages and 24 bytes of frame
     * header each) plus one group's (8 rows of 5 KB and their index pages,
     * under 100 KB). */
    assert_true(max_wal <= (long long)CKPT_CAP_PAGES * (4096 + 24) + 100000);
    assert_true(max_wal < written / 2);
    /* A group that waited at the bound waited some time; none, none. */
    assert_true(ck.gated ? ck.gated_us > 0 : ck.gated_us == 0);
    /* Idle: truncated within a few seconds (the checkpointer looks every
     * second). */
    struct stat st = {.st_size = 1};
    for (int i = 0; i < 100 && (st.st_size > 0 || ck.truncate == 0); i++) {
        usleep(50000);
        if (stat(wal, &st) != 0)
            st.st_size = 0;
        store_ckpt_stats(f->s, &ck);
    }
    assert_int_equal(st.st_size, 0);
    assert_true(ck.truncate >= 1);
    free(text);
}

/* Runs SQL on the database file beside the store. */
static void sql_on(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* The first integer of a query's first row on the file. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Issue 9: a comparison is stored once by content, on every write. */
static void comparisons_deduplicated_by_content(void **state)
{
    struct fx *f = *state;
    struct store_comparison c[4] = {
        {.prompt = "p", .chosen = "good", .rejected = "bad", .source = "import"},
        {.prompt = "p", .chosen = "good", .rejected = "bad", .source = "import"},
        {.prompt = "p", .chosen = "good", .rejected = "bad", .tie = true, .source = "import"},
        {.prompt = "p", .chosen = "good", .rejected = "bad", .source = "human"},
    };
    size_t skipped = 99;
    assert_int_equal(store_comparisons_add_ex(f->s, c, 4, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(store_comparisons_add_ex(f->s, c, 4, &skipped), 0);
    assert_int_equal(skipped, 4);
    /* ("pg", "ood") is another content than ("p", "good"). */
    struct store_comparison shifted = {
        .prompt = "pg", .chosen = "ood", .rejected = "bad", .source = "import"};
    assert_int_equal(store_comparisons_add_ex(f->s, &shifted, 1, &skipped), 0);
    assert_int_equal(skipped, 0);
    int n = 0;
    assert_int_equal(store_comparisons_each(f->s, count_any_cb, &n), 0);
    assert_int_equal(n, 4);
}

/* A revocation that commits between a key's read and its cache entry:
 * the entry is filed under the stamp read before the row, which the
 * revocation changed, so the next request reads the row again. */
struct revoke_between {
    struct store *other;
    const char *name;
    int rc;
};

static void revoke_between_hook(void *arg)
{
    struct revoke_between *rb = arg;
    rb->rc = store_key_revoke(rb->other, rb->name);
}

static void key_cache_entry_filed_under_the_earlier_stamp(void **state)
{
    struct fx *f = *state;
    char tok[TOKEN_MAX], err[256];
    assert_int_equal(store_key_create(f->s, "gus", "pipeline", tok), 0);
    assert_int_equal(store_key_cache(f->s, 600000), 0);
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    struct revoke_between rb = {.other = other, .name = "gus", .rc = -1};
    f->s->keys_read_hook = revoke_between_hook;
    f->s->keys_read_arg = &rb;
    struct store_key k;
    assert_int_equal(store_key_auth(f->s, tok, &k), 0); /* read before the revocation */
    f->s->keys_read_hook = NULL;
    assert_int_equal(rb.rc, 0);
    assert_int_equal(store_key_auth(f->s, tok, &k), -EACCES);
    store_close(other);
}

/* The token cache: a verified token is answered from memory while the
 * stamp file is unchanged (a row changed behind the store's back is not
 * seen), and a revocation in another store on the same file, as by
 * another process, is seen at the next authentication. */
static void key_cache_follows_revocations(void **state)
{
    struct fx *f = *state;
    char alice[TOKEN_MAX], bob[TOKEN_MAX], carol[TOKEN_MAX], err[256], stamp[160];
    assert_int_equal(store_key_create(f->s, "alice", "pipeline", alice), 0);
    assert_int_equal(store_key_create(f->s, "bob", "pipeline", bob), 0);
    assert_int_equal(store_key_create(f->s, "carol", "rater", carol), 0);
    /* The stamp file is made with the database file's mode. */
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_int_equal(store_key_cache(f->s, 600000), 0);
    snprintf(stamp, sizeof stamp, "%s-keys", f->path);
    struct stat st;
    assert_int_equal(stat(stamp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    struct store_key k;
    assert_int_equal(store_key_auth(f->s, alice, &k), 0);
    assert_int_equal(store_key_auth(f->s, carol, &k), 0);
    /* Revoked in the file without the stamp: still answered from memory. */
    sql_on(f->path, "UPDATE api_keys SET revoked_ms = 1 WHERE name = 'alice'");
    assert_int_equal(store_key_auth(f->s, alice, &k), 0);
    assert_string_equal(k.name, "alice");
    /* Another store revokes another key: its stamp change makes this
     * store read alice's row again. */
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    assert_int_equal(store_key_revoke(other, "bob"), 0);
    assert_int_equal(store_key_auth(f->s, alice, &k), -EACCES);
    assert_int_equal(store_key_auth(f->s, bob, &k), -EACCES);
    /* A cached key revoked by the other store, at once; the rest still valid. */
    assert_int_equal(store_key_auth(f->s, carol, &k), 0);
    assert_int_equal(store_key_revoke(other, "carol"), 0);
    assert_int_equal(store_key_auth(f->s, carol, &k), -EACCES);
    store_close(other);
    /* A revocation through a symlink to the database reaches the file too. */
    char link[160], erin[TOKEN_MAX];
    snprintf(link, sizeof link, "%s/link.db", f->dir);
    assert_int_equal(symlink(f->path, link), 0);
    assert_int_equal(store_key_create(f->s, "erin", "pipeline", erin), 0);
    assert_int_equal(store_key_auth(f->s, erin, &k), 0);
    other = store_open(link, 1, err, sizeof err);
    assert_non_null(other);
    assert_int_equal(store_key_revoke(other, "erin"), 0);
    assert_int_equal(store_key_auth(f->s, erin, &k), -EACCES);
    /* The stamp file deleted: within a second the store opens the one a
     * later process makes, and sees the revocations written there. */
    char fay[TOKEN_MAX];
    assert_int_equal(store_key_create(f->s, "fay", "pipeline", fay), 0);
    assert_int_equal(store_key_auth(f->s, fay, &k), 0);
    assert_int_equal(unlink(stamp), 0);
    usleep(1100 * 1000);
    assert_int_equal(store_key_auth(f->s, fay, &k), 0); /* makes the file again */
    assert_int_equal(stat(stamp, &st), 0);
    assert_int_equal(store_key_revoke(other, "fay"), 0);
    assert_int_equal(store_key_auth(f->s, fay, &k), -EACCES);
    store_close(other);
    /* A lifetime of 0: an entry is read again after its millisecond. */
    char dave[TOKEN_MAX];
    assert_int_equal(store_key_create(f->s, "dave", "pipeline", dave), 0);
    assert_int_equal(store_key_cache(f->s, 0), 0);
    assert_int_equal(store_key_auth(f->s, dave, &k), 0);
    sql_on(f->path, "UPDATE api_keys SET revoked_ms = 1 WHERE name = 'dave'");
    usleep(3000);
    assert_int_equal(store_key_auth(f->s, dave, &k), -EACCES);
}

/* Closes the fixture's store and removes its file, WAL and shared memory. */
static void drop_db(struct fx *f)
{
    store_close(f->s);
    f->s = NULL;
    char wal[160], shm[160];
    snprintf(wal, sizeof wal, "%s-wal", f->path);
    snprintf(shm, sizeof shm, "%s-shm", f->path);
    unlink(f->path);
    unlink(wal);
    unlink(shm);
}

/* A database from before migration 003 (001 and 002 applied) holding copies: the first copy
 * gets the digest, later copies stay (NULL digest), and a new write of
 * that content is skipped. */
static void migration_fills_digests_of_old_rows(void **state)
{
    struct fx *f = *state;
    drop_db(f);
    /* A new file with the migrations before 003 (001 and 002) only. */
    for (size_t m = 0; m < 2; m++)
        sql_on(f->path, schema_migrations[m]);
    sql_on(f->path, "PRAGMA user_version = 2");
    for (int i = 0; i < 3; i++)
        sql_on(f->path, "INSERT INTO comparisons(prompt, chosen, rejected, source, created_ms) "
                        "VALUES('p', 'c', 'r', 'import', 0)");
    sql_on(f->path, "INSERT INTO items(id, kind, prompt, response_a, response_b, batch, status, "
                    "created_ms, updated_ms) VALUES('old', 'pair', 'p', 'y', 'x', 'b', "
                    "'awaiting_human', 0, 0)");
    char err[256];
    f->s = store_open(f->path, 1, err, sizeof err);
    assert_non_null(f->s);
    assert_int_equal(store_schema_version(f->s), (int)schema_migration_count);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM comparisons"), 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM comparisons WHERE digest IS NOT NULL"),
                     1);
    assert_int_equal(sql_int(f->path, "SELECT min(id) FROM comparisons WHERE digest IS NOT NULL"),
                     1);
    struct store_comparison again = {
        .prompt = "p", .chosen = "c", .rejected = "r", .source = "import"};
    size_t skipped = 0;
    assert_int_equal(store_comparisons_add_ex(f->s, &again, 1, &skipped), 0);
    assert_int_equal(skipped, 1);
    /* The digests written in C match those migration 003 computed in SQL. */
    struct store_item_in item = {
        .prompt = "p", .response_a = "x", .response_b = "y", .batch = "b", .unique_content = 1};
    struct store_item_ack ack;
    struct store_ingest req = {.items = &item, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_true(ack.existed);
    assert_string_equal(ack.id, "old");
}

/* Whether sql runs on the file (0) or fails (its SQLite code). */
static int sql_rc(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

#define CHECKS_FROM 10 /* migration 011 rewrites the CHECKs of a database at 010 */

/* Stands in for the store's rung_digest() while the migrations run on an
 * empty file (migration 003 digests the rows there are: none). */
static void digest_stub(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_null(ctx);
}

/* The migrations before from, on a new file, as a rungd of then made it. */
static void migrations_upto(const char *path, size_t from)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_create_function(db, "rung_digest", -1, SQLITE_UTF8, NULL, digest_stub, NULL, NULL),
        SQLITE_OK);
    for (size_t m = 0; m < from; m++) {
        char *msg = NULL;
        if (sqlite3_exec(db, schema_migrations[m], NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("migration %zu: %s", m + 1, msg);
    }
    char set[48];
    snprintf(set, sizeof set, "PRAGMA user_version = %zu", from);
    assert_int_equal(sqlite3_exec(db, set, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Migration 013 (issue 14): a database at 012 with grouped items gets its
 * group log filled from them and loses the index items_group; the store
 * finds the groups' samples from the log, and new items are logged. */
static void migration_logs_existing_groups(void **state)
{
    struct fx *f = *state;
    drop_db(f);
    migrations_upto(f->path, 12);
    for (int i = 0; i < 3; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "INSERT INTO items(id, kind, prompt, response_a, status, created_ms, updated_ms, "
                 "\"group\") VALUES('old%d', 'single', 'p', 'r%d', 'awaiting_human', 0, 0, %s)",
                 i, i, i == 1 ? "NULL" : "'g'");
        sql_on(f->path, sql);
    }
    char err[256];
    f->s = store_open(f->path, 1, err, sizeof err);
    assert_non_null(f->s);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM item_groups"), 2);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = "
                                      "'items_group'"),
                     0);
    struct store_sample *v;
    size_t n;
    assert_int_equal(store_group_samples(f->s, 0, "g", 64, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].a, "r0");
    assert_string_equal(v[1].a, "r2");
    store_samples_free(v, n);
    struct store_item_in item = {.prompt = "p", .response_a = "r3", .group = "g", .group_seen = -1};
    struct store_item_ack ack;
    struct store_ingest req = {.items = &item, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM item_groups WHERE \"group\" = 'g'"), 3);
}

/* Migration 011 writes the hot tables' CHECK ... IN lists as ORs: a
 * database at 010 with rows keeps them, the file checks out, and the
 * CHECKs refuse and allow what they did, on the writer too. */
static void migration_rewrites_checks(void **state)
{
    struct fx *f = *state;
    drop_db(f);
    migrations_upto(f->path, CHECKS_FROM);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'items' "
                                      "AND sql LIKE '%status IN (%'"),
                     1);
    sql_on(f->path, "INSERT INTO items(id, kind, prompt, response_a, status, verdict_source, "
                    "created_ms, updated_ms) VALUES('old', 'single', 'p', 'r', 'resolved', "
                    "'human', 0, 0)");
    char err[256];
    f->s = store_open(f->path, 1, err, sizeof err);
    assert_non_null(f->s);
    assert_int_equal(store_schema_version(f->s), (int)schema_migration_count);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                      "('items', 'labels', 'subquestions', 'rollups', 'audits') "
                                      "AND (sql LIKE '%status IN (%' OR sql LIKE '%source IN (%' "
                                      "OR sql LIKE '%answer IN (%' OR sql LIKE '%kind IN (''step%' "
                                      "OR sql LIKE '%state IN (%' OR sql LIKE '%outcome IN (%')"),
                     0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM pragma_integrity_check "
                                      "WHERE integrity_check = 'ok'"),
                     1);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM items WHERE id = 'old'"), 1);
    const char *ins = "INSERT INTO items(id, kind, prompt, response_a, status, verdict_source, "
                      "created_ms, updated_ms) VALUES('%s', 'single', 'p', 'r', %s, %s, 0, 0)";
    const char *const cases[][3] = {{"'awaiting_human'", "NULL", "ok"}, {"'auto'", "'layer'", "ok"},
                                    {"'bogus'", "NULL", "no"},          {"'auto'", "'robot'", "no"},
                                    {"'AUTO'", "NULL", "no"},           {"NULL", "NULL", "no"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sql[512], id[16];
        snprintf(id, sizeof id, "n%zu", i);
        snprintf(sql, sizeof sql, ins, id, cases[i][0], cases[i][1]);
        int rc = sql_rc(f->path, sql);
        assert_int_equal(rc, !strcmp(cases[i][2], "ok") ? SQLITE_OK : SQLITE_CONSTRAINT);
    }
    /* The writer (which ran the migration) stores items as before. */
    struct store_item_in item = {.prompt = "p", .response_a = "x"};
    struct store_item_ack ack;
    struct store_ingest req = {.items = &item, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_string_equal(ack.status, "awaiting_human");
}

/* Imported items (unique_content) are stored once per prompt, pair of
 * responses (either order) and batch; others are not deduplicated. */
static void imported_items_deduplicated(void **state)
{
    struct fx *f = *state;
    struct store_item_in in[4] = {
        {.prompt = "p", .response_a = "x", .response_b = "y", .batch = "b", .unique_content = 1},
        {.prompt = "p", .response_a = "y", .response_b = "x", .batch = "b", .unique_content = 1},
        {.prompt = "p", .response_a = "x", .response_b = "y", .batch = "c", .unique_content = 1},
        {.prompt = "p", .response_a = "x", .response_b = "y", .batch = "b"},
    };
    struct store_item_ack acks[4];
    struct store_ingest req = {.items = in, .n = 4, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_false(acks[0].existed);
    assert_true(acks[1].existed);
    assert_string_equal(acks[1].id, acks[0].id);
    assert_string_equal(acks[1].batch, "b");
    assert_false(acks[2].existed);
    assert_false(acks[3].existed);
    req.n = 3;
    assert_int_equal(store_ingest(f->s, &req), 0);
    assert_true(acks[0].existed && acks[1].existed && acks[2].existed);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM items"), 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tasks"), 3);
}

/* GET /v1/items?external_id= in the store: by key, or across keys. */
static void items_listed_by_external_id(void **state)
{
    struct fx *f = *state;
    struct store_item_in in[3] = {
        {.prompt = "p1", .response_a = "r", .external_id = "e1"},
        {.prompt = "p2", .response_a = "r", .external_id = "e2"},
    };
    struct store_item_ack acks[3];
    struct store_ingest req = {.key_id = 0, .items = in, .n = 2, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);
    struct store_item_filter flt = {.external_id = "e2", .limit = 10};
    struct store_item *page;
    size_t n;
    char next[STORE_CURSOR_MAX];
    assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), 0);
    assert_int_equal(n, 1);
    assert_string_equal(page[0].prompt, "p2");
    store_items_free(page, n);
    flt.batch = "none";
    assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), 0);
    assert_int_equal(n, 0);
    store_items_free(page, n);
    flt = (struct store_item_filter){.external_id = "e1", .key_id = 42, .limit = 10};
    assert_int_equal(store_items_list(f->s, &flt, &page, &n, next), 0);
    assert_int_equal(n, 0);
    store_items_free(page, n);
}

/* Queued items are rescored: only those without a label or a live lease;
 * one the layer settles leaves the queue. */
static void rescore_pending_and_apply(void **state)
{
    struct fx *f = *state;
    store_set_defaults(f->s, 1, 600000, 0, false);
    struct store_item_in in[3] = {
        {.prompt = "p1", .response_a = "a", .response_b = "b"},
        {.prompt = "p2", .response_a = "a", .response_b = "b"},
        {.prompt = "p3", .response_a = "a", .response_b = "b"},
    };
    struct store_item_ack acks[3];
    struct store_ingest req = {.items = in, .n = 3, .acks = acks};
    assert_int_equal(store_ingest(f->s, &req), 0);
    int64_t r = new_rater(f->s, "r");
    assert_true(claim(f->s, r) > 0); /* p1 is leased: a human has it */
    struct store_item *items;
    size_t n;
    assert_int_equal(store_rescore_pending(f->s, 5, 0, 10, &items, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(items[0].prompt, "p2");
    struct store_item *rest;
    size_t nrest;
    assert_int_equal(store_rescore_pending(f->s, 5, items[0].seq, 10, &rest, &nrest), 0);
    assert_int_equal(nrest, 1); /* the cursor resumes after p2 */
    assert_string_equal(rest[0].prompt, "p3");
    store_items_free(rest, nrest);
    store_items_free(items, n);
    assert_int_equal(store_rescore_pending(f->s, 5, 0, 10, &items, &n), 0);
    struct store_rescore v[2] = {
        {.seq = items[0].seq,
         .layer_id = 5,
         .route_auto = true,
         .verdict = "a",
         .confidence = 0.99,
         .scores = "{\"p_a\":0.99}"},
        {.seq = items[1].seq, .layer_id = 5, .confidence = 0.6, .scores = "{\"p_a\":0.6}"},
    };
    sql_on(f->path, "PRAGMA foreign_keys = OFF; INSERT INTO layers(id, status, created_ms) "
                    "VALUES(5, 'candidate', 0)");
    size_t updated = 0, settled = 0;
    assert_int_equal(store_rescore_apply(f->s, v, 2, &updated, &settled), 0);
    assert_int_equal(updated, 2);
    assert_int_equal(settled, 1);
    struct store_item it;
    assert_int_equal(store_item_get(f->s, items[0].id, 0, &it), 0);
    assert_string_equal(it.status, "auto");
    assert_string_equal(it.verdict, "a");
    assert_string_equal(it.verdict_source, "layer");
    assert_int_equal(it.layer_id, 5);
    store_item_clear(&it);
    assert_int_equal(store_item_get(f->s, items[1].id, 0, &it), 0);
    assert_string_equal(it.status, "awaiting_human");
    assert_string_equal(it.scores, "{\"p_a\":0.6}");
    store_item_clear(&it);
    store_items_free(items, n);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tasks WHERE state = 'open'"), 2);
    assert_int_equal(store_rescore_pending(f->s, 5, 0, 10, &items, &n), 0);
    assert_int_equal(n, 0); /* scored by 5 already: nothing left for 5 */
    assert_int_equal(store_rescore_apply(f->s, v, 2, &updated, &settled), 0);
    assert_int_equal(updated, 1); /* the settled one is no longer rescorable */
    /* The open count followed: the other rater gets p3, then nothing. */
    int64_t r2 = new_rater(f->s, "r2");
    assert_true(claim(f->s, r2) > 0);
    assert_int_equal(claim(f->s, r2), claim(f->s, r2));
}

/* A layer demoted by its audits settles nothing when it scores again:
 * the item stays with people, and the count of settled items says so. */
static void rescore_by_a_demoted_layer_settles_nothing(void **state)
{
    struct fx *f = *state;
    struct store_item_in in = {.prompt = "p1", .response_a = "a", .response_b = "b"};
    struct store_item_ack ack;
    struct store_ingest req = {.items = &in, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    sql_on(f->path, "PRAGMA foreign_keys = OFF; INSERT INTO layers(id, status, created_ms, "
                    "demoted_ms) VALUES(5, 'active', 0, 1)");
    struct store_item *items;
    size_t n, updated = 0, settled = 0;
    assert_int_equal(store_rescore_pending(f->s, 5, 0, 10, &items, &n), 0);
    assert_int_equal(n, 1);
    struct store_rescore v = {.seq = items[0].seq,
                              .layer_id = 5,
                              .route_auto = true,
                              .verdict = "a",
                              .confidence = 0.99,
                              .scores = "{\"p_a\":0.99}"};
    assert_int_equal(store_rescore_apply(f->s, &v, 1, &updated, &settled), 0);
    assert_int_equal(updated, 1);
    assert_int_equal(settled, 0);
    struct store_item it;
    assert_int_equal(store_item_get(f->s, items[0].id, 0, &it), 0);
    assert_string_equal(it.status, "awaiting_human");
    assert_null(it.verdict);
    store_item_clear(&it);
    store_items_free(items, n);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tasks WHERE state = 'open'"), 1);
}

/* Overlap rules are listed; scopes know whether items have them. */
static void overlap_rules_listed(void **state)
{
    struct fx *f = *state;
    struct store_item_in in = {.prompt = "p", .response_a = "r", .batch = "b1", .domain = "math"};
    struct store_item_ack ack;
    struct store_ingest req = {.items = &in, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(f->s, &req), 0);
    bool any = false;
    assert_int_equal(store_scope_has_items(f->s, "batch", "b1", &any), 0);
    assert_true(any);
    assert_int_equal(store_scope_has_items(f->s, "batch", "b2", &any), 0);
    assert_false(any);
    assert_int_equal(store_scope_has_items(f->s, "domain", "math", &any), 0);
    assert_true(any);
    assert_int_equal(store_scope_has_items(f->s, "nope", "math", &any), -EINVAL);
    assert_int_equal(store_overlap_set(f->s, "domain", "math", 3), 0);
    assert_int_equal(store_overlap_set(f->s, "batch", "b2", 2), 0);
    struct store_overlap_rule *rules;
    size_t n;
    assert_int_equal(store_overlap_list(f->s, &rules, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rules[0].scope, "batch");
    assert_string_equal(rules[0].value, "b2");
    assert_int_equal(rules[0].overlap, 2);
    assert_string_equal(rules[1].scope, "domain");
    free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(key_cache_follows_revocations, setup, teardown),
        cmocka_unit_test_setup_teardown(key_cache_entry_filed_under_the_earlier_stamp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ingest_idempotent_and_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(comparisons_and_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_claim_label_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_from_another_writer_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_query_uses_the_partial_index, setup, teardown),
        cmocka_unit_test_setup_teardown(retracted_items_leave_training, setup, teardown),
        cmocka_unit_test_setup_teardown(limited_claim_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_and_domain_indexes_are_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_refused_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_bounded_and_truncated_when_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(comparisons_deduplicated_by_content, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_fills_digests_of_old_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_rewrites_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_logs_existing_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(imported_items_deduplicated, setup, teardown),
        cmocka_unit_test_setup_teardown(items_listed_by_external_id, setup, teardown),
        cmocka_unit_test_setup_teardown(rescore_pending_and_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(rescore_by_a_demoted_layer_settles_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(overlap_rules_listed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
