/* test_store_groups.c - SQLite's sample-group lookup (issue 14): the
 * groups' items in memory, caught up from the log item_groups. Real SQLite
 * file in a temporary directory; a second store on the same file stands
 * in for another process (rungd import beside the daemon): its own map,
 * the same rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "store.h"
#include "store_internal.h"
#include "token.h"

/* Ingests one single-response item of key_id's group with its text;
 * seen and joined as the API sets them. */
static void put(struct store *s, int64_t key_id, const char *group, const char *text, int seen,
                bool joined)
{
    struct store_item_in it = {.prompt = "q",
                               .response_a = text,
                               .group = group,
                               .group_seen = seen,
                               .group_joined = joined};
    struct store_item_ack ack;
    struct store_ingest req = {.key_id = key_id, .items = &it, .n = 1, .acks = &ack};
    assert_int_equal(store_ingest(s, &req), 0);
}

/* A new pipeline key's id. */
static int64_t new_key(struct store *s, const char *name)
{
    char tok[TOKEN_MAX];
    struct store_key k;
    assert_int_equal(store_key_create(s, name, "pipeline", tok), 0);
    assert_int_equal(store_key_auth(s, tok, &k), 0);
    return k.id;
}

/* The group's samples' texts, joined by spaces, into out. */
static size_t texts(struct store *s, int64_t key_id, const char *group, size_t max, char *out,
                    size_t size)
{
    struct store_sample *v;
    size_t n;
    assert_int_equal(store_group_samples(s, key_id, group, max, &v, &n), 0);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", i ? " " : "", v[i].a);
        if (i)
            assert_true(v[i - 1].seq < v[i].seq);
    }
    store_samples_free(v, n);
    return n;
}

static size_t stale_count(struct store *s)
{
    struct store_item *items;
    size_t n;
    assert_int_equal(store_group_stale_pending(s, 0, 100, &items, &n), 0);
    store_items_free(items, n);
    return n;
}

/* The group's size as a read finds it, polled until it is want or 5 s
 * have passed (the idle writer catches up once a second). */
static size_t wait_for(struct store *s, int64_t key_id, const char *group, size_t want)
{
    char got[256];
    size_t n = 0;
    for (int i = 0; i < 100 && (n = texts(s, key_id, group, 64, got, sizeof got)) != want; i++)
        usleep(50 * 1000);
    return n;
}

/* Items another store wrote are found: from the writer's next transaction
 * on, or its next idle second; a sample joining the group marks them
 * stale, and an item scored before the writer knew them is marked itself
 * (the writer catches up when its transaction begins); groups are per
 * key. */
static void other_process_items_are_found(void **state)
{
    struct fixture_db *f = *state;
    char err[256], got[256];
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    put(f->s, 0, "g", "mine", -1, false);
    put(other, 0, "g", "x1", -1, false);
    put(other, 0, "g", "x2", -1, false);
    int64_t key = new_key(f->s, "pipe");
    put(other, key, "g", "keyed", -1, false);
    put(f->s, 0, "h", "h1", -1, false); /* a transaction of this store's writer */
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 3);
    assert_string_equal(got, "mine x1 x2");
    assert_int_equal(texts(f->s, key, "g", 64, got, sizeof got), 1);
    assert_string_equal(got, "keyed");
    assert_int_equal(texts(f->s, 0, "nothing", 64, got, sizeof got), 0);
    put(other, 0, "g", "x3", -1, false); /* this store stays idle */
    assert_int_equal(wait_for(f->s, 0, "g", 4), 4);
    assert_int_equal(stale_count(f->s), 0);
    put(f->s, 0, "g", "joins", 4, true);
    assert_int_equal(stale_count(f->s), 4); /* mine x1 x2 x3; not itself: it saw 4 */
    /* scored with the 5 this store knew; the other's x4 came in between */
    put(other, 0, "g", "x4", -1, false);
    put(f->s, 0, "g", "late", 5, false);
    assert_int_equal(stale_count(f->s), 5); /* late itself: the group held 6 before it */
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 7);
    assert_string_equal(got, "mine x1 x2 x3 joins x4 late");
    store_close(other);
}

/* A re-score reads a stale item's group as soon as it sees the mark:
 * the sample that another store committed with the mark is in it, though
 * this store's writer has not run since (rev6's case: the watcher scoring
 * the item without the sample and clearing the mark for good). */
static void read_after_another_store_sees_its_items(void **state)
{
    struct fixture_db *f = *state;
    char err[256], got[256];
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    put(f->s, 0, "g", "y", -1, false);
    put(other, 0, "g", "x2", 1, true); /* joins y's samples: y is marked */
    assert_int_equal(stale_count(f->s), 1);
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 2);
    assert_string_equal(got, "y x2");
    store_close(other);
}

/* The map is a hint: an entry naming another group's item, or no item,
 * is checked against the rows and left out. */
static void hints_are_checked_against_rows(void **state)
{
    struct fixture_db *f = *state;
    char got[256];
    put(f->s, 0, "h", "h1", -1, false);
    struct store_sample *v;
    size_t n;
    assert_int_equal(store_group_samples(f->s, 0, "h", 64, &v, &n), 0);
    assert_int_equal(n, 1);
    int64_t seq = v[0].seq;
    store_samples_free(v, n);
    /* as if a rolled-back transaction had given seq to group g, and 999
     * had never been stored */
    assert_int_equal(store_groups_hint(f->s, 0, "g", seq), 0);
    assert_int_equal(store_groups_hint(f->s, 0, "g", 999), 0);
    put(f->s, 0, "g", "g1", -1, false);
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 1);
    assert_string_equal(got, "g1");
    assert_int_equal(texts(f->s, 0, "h", 64, got, sizeof got), 1);
    assert_string_equal(got, "h1");
    /* joining g counts and marks g's own item alone */
    put(f->s, 0, "g", "g2", 1, true);
    assert_int_equal(stale_count(f->s), 1);
}

/* A reopened store loads its groups from the log (more rows than one
 * statement of the catch-up reads); a group's first max items are read,
 * in order. */
static void reopened_store_loads_the_log(void **state)
{
    struct fixture_db *f = *state;
    char text[16], got[1024];
    int64_t key = new_key(f->s, "pipe");
    for (int i = 0; i < 2 * STORE_GROUP_ITEMS_MAX + 6; i++) {
        snprintf(text, sizeof text, "s%d", i);
        put(f->s, key, "big", text, -1, false);
        put(f->s, key, i % 2 ? "odd" : "even", text, -1, false);
    }
    put(f->s, key, "tail", "last", -1, false);
    store_close(f->s);
    char err[256];
    f->s = store_open(f->path, 2, err, sizeof err);
    assert_non_null(f->s);
    assert_int_equal(texts(f->s, key, "big", 3, got, sizeof got), 3);
    assert_string_equal(got, "s0 s1 s2");
    assert_int_equal(texts(f->s, key, "big", 1000, got, sizeof got), STORE_GROUP_ITEMS_MAX);
    assert_non_null(strstr(got, " s63"));
    assert_null(strstr(got, "s64"));
    assert_int_equal(texts(f->s, key, "odd", 1000, got, sizeof got), STORE_GROUP_ITEMS_MAX);
    assert_int_equal(strncmp(got, "s1 s3 s5 ", 9), 0);
    assert_int_equal(texts(f->s, key, "tail", 64, got, sizeof got), 1);
    assert_string_equal(got, "last");
    struct store_group_stats gs;
    store_group_stats(f->s, &gs);
    assert_int_equal(gs.groups, 4);
    assert_int_equal(gs.items, 2 * (2 * STORE_GROUP_ITEMS_MAX + 6) + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(other_process_items_are_found, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(read_after_another_store_sees_its_items, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(hints_are_checked_against_rows, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(reopened_store_loads_the_log, fixture_db_setup,
                                        fixture_db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
