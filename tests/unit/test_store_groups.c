/* test_store_groups.c - SQLite's sample-group lookup (issue 14): the
 * groups' items in memory, caught up from the log item_groups. Real SQLite
 * file in a temporary directory; a second store on the same file stands
 * in for another process (rungd import beside the daemon): its own map,
 * the same rows. */
#include <pthread.h>
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

/* Ingests, in one request, items texts[from..to) named prefix<i> of key
 * 0's group, in batch (for a retraction), not scored with the group. */
static void put_many(struct store *s, const char *group, const char *prefix, int from, int to,
                     const char *batch)
{
    size_t n = (size_t)(to - from);
    struct store_item_in *items = calloc(n, sizeof *items);
    struct store_item_ack *acks = calloc(n, sizeof *acks);
    char(*text)[16] = calloc(n, sizeof *text);
    assert_true(items && acks && text);
    for (size_t i = 0; i < n; i++) {
        snprintf(text[i], sizeof text[i], "%s%d", prefix, from + (int)i);
        items[i] = (struct store_item_in){
            .prompt = "q", .response_a = text[i], .group = group, .batch = batch, .group_seen = -1};
    }
    struct store_ingest req = {.items = items, .n = n, .acks = acks};
    assert_int_equal(store_ingest(s, &req), 0);
    free(text);
    free(acks);
    free(items);
}

static void retract_batch(struct store *s, const char *batch)
{
    struct store_retract r = {.batch = batch};
    assert_int_equal(store_retract(s, &r), 0);
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

/* The items waiting to be scored again, every page of them. */
static size_t stale_count(struct store *s)
{
    size_t all = 0, n;
    int64_t after = 0;
    do {
        struct store_item *items;
        assert_int_equal(store_group_stale_pending(s, after, 100, &items, &n), 0);
        if (n)
            after = items[n - 1].seq;
        store_items_free(items, n);
        all += n;
    } while (n == 100);
    return all;
}

/* The items the map of s holds, polled until they are want or 5 s have
 * passed (the idle writer catches up once a second); nothing is read. */
static size_t wait_for_items(struct store *s, size_t want)
{
    struct store_group_stats gs;
    store_group_stats(s, &gs);
    for (int i = 0; i < 100 && gs.items != want; i++) {
        usleep(50 * 1000);
        store_group_stats(s, &gs);
    }
    return gs.items;
}

/* A second store on f's file, standing in for another process. */
static struct store *other_store(const struct fixture_db *f)
{
    char err[256];
    struct store *other = store_open(f->path, 1, err, sizeof err);
    assert_non_null(other);
    return other;
}

/* Items another store wrote are found: by this store's next read of the
 * group (which catches up first) and by its writer's next transaction; a
 * sample joining the group marks them stale, and an item scored before
 * the writer knew them is marked itself (the writer catches up when its
 * transaction begins); groups are per key. */
static void other_process_items_are_found(void **state)
{
    struct fixture_db *f = *state;
    char got[256];
    struct store *other = other_store(f);
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
    /* no transaction of this store between: its read catches up itself */
    put(other, 0, "g", "x3", -1, false);
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 4);
    assert_string_equal(got, "mine x1 x2 x3");
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

/* The writer, idle, catches up once a second: another store's items are
 * in this store's map though it neither writes nor reads a group. */
static void idle_writer_catches_up(void **state)
{
    struct fixture_db *f = *state;
    struct store *other = other_store(f);
    struct store_group_stats gs;
    store_group_stats(f->s, &gs);
    assert_int_equal(gs.items, 0);
    put(other, 0, "g", "x1", -1, false);
    put(other, 0, "h", "x2", -1, false);
    put(other, 0, "g", "x3", -1, false);
    assert_int_equal(wait_for_items(f->s, 3), 3);
    store_group_stats(f->s, &gs);
    assert_int_equal(gs.groups, 2);
    store_close(other);
}

/* A re-score reads a stale item's group as soon as it sees the mark:
 * the sample that another store committed with the mark is in it, though
 * this store's writer has not run since (rev6's case: the watcher scoring
 * the item without the sample and clearing the mark for good). */
static void read_after_another_store_sees_its_items(void **state)
{
    struct fixture_db *f = *state;
    char got[256];
    struct store *other = other_store(f);
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

/* A large group: a read takes its first max live items, past retracted
 * ones (more than a chunk of them); a sample joining past its first
 * STORE_GROUP_ITEMS_MAX live items marks nothing (no re-score would read
 * it), one among them marks the waiting items before it, as in a small
 * group. */
static void large_group_joins_past_its_first_items(void **state)
{
    struct fixture_db *f = *state;
    char got[4096];
    put_many(f->s, "big", "a", 0, 100, "first");
    put_many(f->s, "big", "b", 100, 290, "middle");
    put_many(f->s, "big", "c", 290, 300, NULL);
    assert_int_equal(texts(f->s, 0, "big", 1000, got, sizeof got), STORE_GROUP_ITEMS_MAX);
    assert_int_equal(strncmp(got, "a0 a1 a2 ", 9), 0);
    assert_non_null(strstr(got, " a63"));
    assert_null(strstr(got, "a64"));
    put(f->s, 0, "big", "past", STORE_GROUP_ITEMS_MAX, true);
    assert_int_equal(stale_count(f->s), 0);
    retract_batch(f->s, "first"); /* 100: more than a chunk of candidates */
    assert_int_equal(texts(f->s, 0, "big", 1000, got, sizeof got), STORE_GROUP_ITEMS_MAX);
    assert_int_equal(strncmp(got, "b100 b101 ", 10), 0);
    assert_non_null(strstr(got, " b163"));
    assert_null(strstr(got, "b164"));
    assert_int_equal(texts(f->s, 0, "big", 2, got, sizeof got), 2);
    assert_string_equal(got, "b100 b101");
    /* the retraction moved every item's samples: the 201 waiting (b100 ..
     * b289, c290 .. c299, past) are scored again; past2 adds none */
    assert_int_equal(stale_count(f->s), 201);
    put(f->s, 0, "big", "past2", STORE_GROUP_ITEMS_MAX, true);
    assert_int_equal(stale_count(f->s), 201);
    /* the group's first live items are now c290 .. c299, past, past2 */
    retract_batch(f->s, "middle");
    assert_int_equal(texts(f->s, 0, "big", 1000, got, sizeof got), 12);
    assert_string_equal(got, "c290 c291 c292 c293 c294 c295 c296 c297 c298 c299 past past2");
    put(f->s, 0, "big", "joins", 12, true);
    assert_int_equal(stale_count(f->s), 12); /* not itself: it saw 12 */
}

/* A join as the group's 64th live item marks the 63 before it; as its
 * 65th, nothing (a re-score reads the first 64 only). */
static void join_at_the_first_items_bound(void **state)
{
    struct fixture_db *f = *state;
    put_many(f->s, "a", "a", 0, STORE_GROUP_ITEMS_MAX - 1, NULL);
    put(f->s, 0, "a", "a-joins", STORE_GROUP_ITEMS_MAX - 1, true);
    assert_int_equal(stale_count(f->s), STORE_GROUP_ITEMS_MAX - 1);
    put_many(f->s, "b", "b", 0, STORE_GROUP_ITEMS_MAX, NULL);
    put(f->s, 0, "b", "b-joins", STORE_GROUP_ITEMS_MAX, true);
    assert_int_equal(stale_count(f->s), STORE_GROUP_ITEMS_MAX - 1);
}

#define RACE_ITEMS 400

/* Writes RACE_ITEMS single items x0, x1, ..., two of every three in group
 * "g" (x1 x2 x4 x5 ...), the others in "h"; one commit each. */
static void *race_writer(void *arg)
{
    struct store *s = arg;
    char text[16];
    for (int i = 0; i < RACE_ITEMS; i++) {
        snprintf(text, sizeof text, "x%d", i);
        struct store_item_in it = {
            .prompt = "q", .response_a = text, .group = i % 3 ? "g" : "h", .group_seen = -1};
        struct store_item_ack ack;
        struct store_ingest req = {.items = &it, .n = 1, .acks = &ack};
        if (store_ingest(s, &req))
            return "ingest failed";
    }
    return NULL;
}

/* Reads of a group while items join it are always its first items, none
 * missing: the read's chunks see one snapshot (rev7's review: an item
 * being committed while one chunk was checked was skipped, and a later
 * one committed before the next chunk read). Timing-dependent by nature:
 * it can only fail, never pass, by luck. */
static void reads_beside_writes_are_prefixes(void **state)
{
    struct fixture_db *f = *state;
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, race_writer, f->s), 0);
    size_t n = 0, reads = 0;
    while (n < STORE_GROUP_ITEMS_MAX) {
        struct store_sample *v;
        assert_int_equal(store_group_samples(f->s, 0, "g", STORE_GROUP_ITEMS_MAX, &v, &n), 0);
        for (size_t k = 0; k < n; k++) /* the k-th item of g is x(3 (k / 2) + 1 + k % 2) */
            assert_int_equal(strtol(v[k].a + 1, NULL, 10), (long)(k / 2 * 3 + 1 + k % 2));
        store_samples_free(v, n);
        reads++;
    }
    void *why;
    assert_int_equal(pthread_join(w, &why), 0);
    assert_null(why);
    assert_true(reads > 1);
}

/* A retracted sample among its group's first items: every item of the
 * group still waiting is scored again (their samples moved), other groups
 * are left alone. */
static void retraction_marks_its_group(void **state)
{
    struct fixture_db *f = *state;
    char got[64];
    put_many(f->s, "g", "a", 0, 1, NULL);
    put_many(f->s, "g", "a", 1, 2, "gone");
    put_many(f->s, "g", "a", 2, 5, NULL);
    put_many(f->s, "h", "h", 0, 3, NULL);
    retract_batch(f->s, "gone");
    assert_int_equal(stale_count(f->s), 4);
    assert_int_equal(texts(f->s, 0, "g", 64, got, sizeof got), 4);
    assert_string_equal(got, "a0 a2 a3 a4");
}

/* In a group past its first items: a retracted one past them marks
 * nothing; one among them marks every waiting item of the group, past the
 * first items too (each reads the first ones). */
static void retraction_in_a_large_group(void **state)
{
    struct fixture_db *f = *state;
    put_many(f->s, "big", "a", 0, 5, NULL);
    put_many(f->s, "big", "a", 5, 6, "early");
    put_many(f->s, "big", "a", 6, STORE_GROUP_ITEMS_MAX, NULL);
    put_many(f->s, "big", "b", 0, 1, "late");
    put_many(f->s, "big", "c", 0, 3, NULL);
    retract_batch(f->s, "late");
    assert_int_equal(stale_count(f->s), 0);
    retract_batch(f->s, "early");
    assert_int_equal(stale_count(f->s), STORE_GROUP_ITEMS_MAX - 1 + 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(other_process_items_are_found, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(idle_writer_catches_up, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(retraction_marks_its_group, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(retraction_in_a_large_group, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(join_at_the_first_items_bound, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(reads_beside_writes_are_prefixes, fixture_db_setup,
                                        fixture_db_teardown),
        cmocka_unit_test_setup_teardown(large_group_joins_past_its_first_items, fixture_db_setup,
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
