/* PostgreSQL's SQL (core/store_pg_sql.c): the rewriting rules of
 * sql_to_pg, and what every statement's PostgreSQL text keeps of its
 * SQLite text. That each one prepares on PostgreSQL is checked by
 * tests/unit/pg_prepare.c against a running database. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_internal.h"

static void expect_pg(const char *sqlite_sql, const char *want)
{
    char *got = sql_to_pg(sqlite_sql);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void parameters_are_numbered_with_dollars(void **state)
{
    (void)state;
    expect_pg("SELECT a FROM t WHERE b = ?1 AND c > ?12 LIMIT ?3",
              "SELECT a FROM t WHERE b = $1 AND c > $12 LIMIT $3");
    expect_pg("VALUES(?1,?2)", "VALUES($1,$2)");
    /* a ? that is no numbered parameter is left alone (jsonb's ? operator) */
    expect_pg("SELECT p ? 'k' FROM t", "SELECT p ? 'k' FROM t");
    expect_pg("", "");
}

static void is_between_values_becomes_distinct(void **state)
{
    (void)state;
    expect_pg("SELECT 1 FROM t WHERE key_id IS ?1 AND x = 2",
              "SELECT 1 FROM t WHERE key_id IS NOT DISTINCT FROM $1 AND x = 2");
    expect_pg("WHERE layer_id IS NOT ?2", "WHERE layer_id IS DISTINCT FROM $2");
    expect_pg("WHERE a is not\n  ?2", "WHERE a IS DISTINCT FROM $2");
    /* two columns */
    expect_pg("WHERE OLD.v IS NOT NEW.v OR a IS b",
              "WHERE OLD.v IS DISTINCT FROM NEW.v OR a IS NOT "
              "DISTINCT FROM b");
    expect_pg("WHERE a IS \"group\"", "WHERE a IS NOT DISTINCT FROM \"group\"");
}

static void tests_postgresql_has_are_kept(void **state)
{
    (void)state;
    const char *same[] = {
        "WHERE a IS NULL AND b IS NOT NULL",
        "WHERE a IS DISTINCT FROM b AND c IS NOT DISTINCT FROM d",
        "WHERE a IS TRUE OR b IS NOT FALSE OR c IS UNKNOWN",
        "SELECT ISNULL, THIS, IS_X, x_is FROM t",
        "WHERE a IS(1)",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        expect_pg(same[i], same[i]);
}

static void quoted_text_and_comments_are_left_alone(void **state)
{
    (void)state;
    expect_pg("SELECT 'a ?1 IS ?2', x FROM t WHERE y = ?1",
              "SELECT 'a ?1 IS ?2', x FROM t WHERE y = $1");
    expect_pg("SELECT 'it''s ?1', ?2", "SELECT 'it''s ?1', $2");
    expect_pg("SELECT \"IS ?1\", \"a\"\"?2\" FROM t WHERE z IS ?3",
              "SELECT \"IS ?1\", \"a\"\"?2\" FROM t WHERE z IS NOT DISTINCT FROM $3");
    expect_pg("SELECT 1 -- is ?1\nFROM t /* a IS ?2 */ WHERE ?3",
              "SELECT 1 -- is ?1\nFROM t /* a IS ?2 */ WHERE $3");
    /* an unterminated string is copied to the end, not past it */
    expect_pg("SELECT 'abc ?1", "SELECT 'abc ?1");
}

/* The highest ?N (sqlite: true) or $N outside quotes; -1 when a SQLite
 * parameter is left in PostgreSQL text. */
static int highest_param(const char *sql, bool sqlite)
{
    int max = 0;
    char quote = 0;
    for (const char *s = sql; *s; s++) {
        if (quote) {
            quote = *s == quote ? 0 : quote;
        } else if (*s == '\'' || *s == '"') {
            quote = *s;
        } else if ((*s == '?' || *s == '$') && isdigit((unsigned char)s[1])) {
            if ((*s == '?') != sqlite)
                return -1;
            int n = (int)strtol(s + 1, NULL, 10);
            max = n > max ? n : max;
        }
    }
    return max;
}

static void every_statement_has_postgresql_text(void **state)
{
    (void)state;
    int overrides = 0;
    for (int id = 0; id < STMT_COUNT; id++) {
        char *pg = store_pg_text((enum stmt_id)id);
        assert_non_null(pg);
        /* the same parameters as the SQLite text: an override written for
         * an older version of its statement shows here */
        int want = highest_param(store_sql((enum stmt_id)id), true);
        if (highest_param(pg, false) != want)
            fail_msg("statement %d: parameters $1..$%d, SQLite's ?1..?%d: %s", id,
                     highest_param(pg, false), want, pg);
        overrides += store_pg_overridden((enum stmt_id)id);
        free(pg);
    }
    assert_true(overrides > 0 && overrides < STMT_COUNT);
    assert_null(store_pg_text(STMT_COUNT));
}

static void inserts_whose_id_is_read_return_it(void **state)
{
    (void)state;
    /* the INSERTs after which the C code calls sqlite3_last_insert_rowid */
    const enum stmt_id ids[] = {ST_KEY_INSERT,   ST_ITEM_INSERT,        ST_TASK_INSERT,
                                ST_LAYER_INSERT, ST_LAYER_TRAIN_INSERT, ST_WEBHOOK_INSERT};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *pg = store_pg_text(ids[i]);
        assert_non_null(pg);
        assert_non_null(strstr(pg, " AS last_insert_rowid"));
        free(pg);
    }
    char *pg = store_pg_text(ST_BEGIN);
    assert_string_equal(pg, "BEGIN");
    free(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parameters_are_numbered_with_dollars),
        cmocka_unit_test(is_between_values_becomes_distinct),
        cmocka_unit_test(tests_postgresql_has_are_kept),
        cmocka_unit_test(quoted_text_and_comments_are_left_alone),
        cmocka_unit_test(every_statement_has_postgresql_text),
        cmocka_unit_test(inserts_whose_id_is_read_return_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
