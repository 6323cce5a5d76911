/* The store's limits (issue 15): pages of items filled up to a byte budget,
 * a cap on the database's size that fails writes with -ENOSPC and loses
 * nothing committed, SQLite's codes as errno, GET /v1/status's groups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "fixture.h"
#include "limits.h"
#include "store.h"
#include "store_internal.h"
#include "token.h"

#define TEXT 10000 /* bytes of each stored prompt */

/* Stores n items of TEXT-byte prompts in batch (NULL: none) in one
 * request. Returns store_ingest's result. */
static int put_items(struct store *s, int64_t key_id, int n, const char *batch)
{
    static char text[TEXT + 1];
    memset(text, 'p', TEXT);
    struct store_item_in *in = calloc((size_t)n, sizeof *in);
    struct store_item_ack *acks = calloc((size_t)n, sizeof *acks);
    for (int i = 0; i < n; i++)
        in[i] = (struct store_item_in){.prompt = text, .response_a = "r", .batch = batch};
    struct store_ingest req = {.key_id = key_id, .items = in, .n = (size_t)n, .acks = acks};
    int rc = store_ingest(s, &req);
    free(in);
    free(acks);
    return rc;
}

static int64_t pipeline_key(struct store *s)
{
    char tok[TOKEN_MAX];
    struct store_key k;
    assert_int_equal(store_key_create(s, "pipe", "pipeline", tok), 0);
    assert_int_equal(store_key_auth(s, tok, &k), 0);
    return k.id;
}

static void pages_end_at_the_byte_budget(void **state)
{
    struct fixture_db *f = *state;
    int64_t key = pipeline_key(f->s);
    assert_int_equal(put_items(f->s, key, 10, NULL), 0);
    /* Three items' texts fit in 3.5 items' worth; the fourth would not. */
    size_t one = TEXT + 1 + STORE_ITEM_ROW_OVERHEAD;
    struct store_item_filter flt = {.limit = 100, .max_bytes = one * 7 / 2};
    char next[STORE_CURSOR_MAX], after[STORE_CURSOR_MAX];
    int total = 0, pages = 0;
    do {
        struct store_item *items;
        size_t n;
        assert_int_equal(store_items_list(f->s, &flt, &items, &n, next), 0);
        assert_true(n >= 1 && n <= 3);
        total += (int)n;
        pages++;
        store_items_free(items, n);
        memcpy(after, next, sizeof after);
        flt.after = after;
    } while (next[0] && pages < 100);
    assert_int_equal(total, 10);
    assert_int_equal(pages, 4);
    /* A budget below one item still moves: one item a page. */
    struct store_item_filter tiny = {.limit = 100, .max_bytes = 1};
    struct store_item *items;
    size_t n;
    assert_int_equal(store_items_list(f->s, &tiny, &items, &n, next), 0);
    assert_int_equal(n, 1);
    assert_true(next[0] != '\0');
    store_items_free(items, n);
}

static void a_capped_database_fails_with_enospc(void **state)
{
    struct fixture_db *f = *state;
    int64_t key = pipeline_key(f->s);
    assert_int_equal(put_items(f->s, key, 5, NULL), 0);
    struct store_status st;
    assert_int_equal(store_status(f->s, &st), 0);
    assert_int_equal(store_set_max_bytes(f->s, st.db_bytes + 4 * TEXT), 0);
    store_status_clear(&st);
    int rc = 0, stored = 5;
    for (int i = 0; i < 100 && !rc; i++) {
        rc = put_items(f->s, key, 1, NULL);
        stored += !rc;
    }
    assert_int_equal(rc, -ENOSPC);
    /* A whole request is refused: nothing of it stays. */
    assert_int_equal(put_items(f->s, key, 3, NULL), -ENOSPC);
    assert_int_equal(store_status(f->s, &st), 0);
    assert_int_equal(st.items, stored);
    store_status_clear(&st);
    assert_int_equal(store_set_max_bytes(f->s, 0), -EINVAL);
}

static void sqlite_codes_as_errno(void **state)
{
    (void)state;
    assert_int_equal(store_sqlite_errno(SQLITE_OK), 0);
    assert_int_equal(store_sqlite_errno(SQLITE_FULL), -ENOSPC);
    assert_int_equal(store_sqlite_errno(SQLITE_TOOBIG), -EFBIG);
    assert_int_equal(store_sqlite_errno(SQLITE_NOMEM), -ENOMEM);
    assert_int_equal(store_sqlite_errno(SQLITE_IOERR_WRITE), -EIO);
    assert_int_equal(store_sqlite_errno(SQLITE_CORRUPT), -EIO);
    int first = SQLITE_OK;
    bind_chk(&first, SQLITE_OK);
    bind_chk(&first, SQLITE_TOOBIG);
    bind_chk(&first, SQLITE_RANGE);
    assert_int_equal(first, SQLITE_TOOBIG);
}

static int64_t rows_in(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

/* Issue 15: a bind over SQLite's limits is reported by the statement's
 * next store_step (as conn_step_done's errno) and the statement does not
 * run; the failure is the statement's own and is forgotten once reported
 * or reset. */
static void a_failing_bind_writes_nothing(void **state)
{
    (void)state;
    struct conn c = {0};
    assert_int_equal(sqlite3_open(":memory:", &c.db), SQLITE_OK);
    assert_int_equal(conn_exec(&c, "CREATE TABLE t(n INTEGER, s TEXT)"), 0);
    sqlite3_limit(c.db, SQLITE_LIMIT_LENGTH, 10);
    struct dbst ins_st = {.c = &c}, other_st = {.c = &c};
    struct dbst *ins = &ins_st, *other = &other_st;
    const char *sql = "INSERT INTO t VALUES (?1, ?2)";
    assert_int_equal(sqlite3_prepare_v2(c.db, sql, -1, &ins->lite, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(c.db, sql, -1, &other->lite, NULL), SQLITE_OK);
    char big[101];
    memset(big, 'x', 100);
    big[100] = '\0';
    assert_int_equal(bind_int64(ins, 1, 1), SQLITE_OK);
    assert_int_equal(bind_text(ins, 2, big, -1, SQLITE_STATIC), SQLITE_TOOBIG);
    /* Another statement steps as usual meanwhile. */
    assert_int_equal(bind_int64(other, 1, 2), SQLITE_OK);
    assert_int_equal(bind_text(other, 2, "ok", -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(conn_step_done(other), 0);
    assert_int_equal(store_step(ins), SQLITE_TOOBIG);
    assert_int_equal(rows_in(c.db), 1);
    /* Reported once: the statement, with its earlier (NULL) binding, runs. */
    assert_int_equal(sqlite3_clear_bindings(ins->lite), SQLITE_OK);
    assert_int_equal(bind_text(ins, 2, big, -1, SQLITE_STATIC), SQLITE_TOOBIG);
    assert_int_equal(bind_int64(ins, 1, 3), SQLITE_OK); /* a later bind keeps the failure */
    assert_int_equal(conn_step_done(ins), -EFBIG);
    assert_int_equal(rows_in(c.db), 1);
    /* conn_done forgets a failure that was never stepped. */
    assert_int_equal(bind_blob(ins, 2, big, 100, SQLITE_STATIC), SQLITE_TOOBIG);
    conn_done(ins);
    assert_int_equal(bind_double(ins, 2, 0.5), SQLITE_OK);
    assert_int_equal(conn_step_done(ins), 0);
    assert_int_equal(rows_in(c.db), 2);
    sqlite3_finalize(ins->lite);
    sqlite3_finalize(other->lite);
    sqlite3_close(c.db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pages_end_at_the_byte_budget, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(a_capped_database_fails_with_enospc, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test(sqlite_codes_as_errno),
        cmocka_unit_test(a_failing_bind_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
