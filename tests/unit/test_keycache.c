/* The token cache (core/keycache.c): what an entry answers for. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keycache.h"

struct val {
    int64_t id;
    char name[16];
};

static int setup(void **state)
{
    (void)state;
    return token_init();
}

/* A token's lookup and hash, made by the token module. */
static void new_token(char lookup[TOKEN_LOOKUP_LEN + 1], unsigned char hash[TOKEN_HASH_LEN])
{
    char tok[TOKEN_MAX];
    assert_int_equal(token_new(tok, lookup), 0);
    token_hash(tok, hash);
}

static void answers_only_its_token_stamp_and_lifetime(void **state)
{
    (void)state;
    struct keycache *kc = keycache_new(16, sizeof(struct val));
    assert_non_null(kc);
    char lk[TOKEN_LOOKUP_LEN + 1];
    unsigned char h[TOKEN_HASH_LEN];
    new_token(lk, h);
    struct val v = {.id = 7, .name = "alice"}, out;
    assert_int_equal(keycache_get(kc, lk, h, 1, 1000, 500, &out), -ENOENT);
    keycache_put(kc, lk, h, 1, 1000, &v);
    memset(&out, 0, sizeof out);
    assert_int_equal(keycache_get(kc, lk, h, 1, 1000, 500, &out), 0);
    assert_int_equal(out.id, 7);
    assert_string_equal(out.name, "alice");
    assert_int_equal(keycache_get(kc, lk, h, 1, 1500, 500, &out), 0);       /* the lifetime's end */
    assert_int_equal(keycache_get(kc, lk, h, 1, 1501, 500, &out), -ENOENT); /* past it */
    assert_int_equal(keycache_get(kc, lk, h, 1, 999, 500, &out), -ENOENT);  /* a clock behind */
    assert_int_equal(keycache_get(kc, lk, h, 2, 1000, 500, &out), -ENOENT); /* another stamp */
    unsigned char other[TOKEN_HASH_LEN];
    memcpy(other, h, sizeof other);
    other[TOKEN_HASH_LEN - 1] ^= 1; /* the same lookup, another secret */
    assert_int_equal(keycache_get(kc, lk, other, 1, 1000, 500, &out), -ENOENT);
    char lk2[TOKEN_LOOKUP_LEN + 1];
    memcpy(lk2, lk, sizeof lk2);
    lk2[0] = lk2[0] == 'a' ? 'b' : 'a';
    assert_int_equal(keycache_get(kc, lk2, h, 1, 1000, 500, &out), -ENOENT);
    keycache_free(kc);
}

static void a_slot_keeps_the_newest_token(void **state)
{
    (void)state;
    struct keycache *kc = keycache_new(1, sizeof(struct val)); /* one slot: every token meets */
    assert_non_null(kc);
    char a[TOKEN_LOOKUP_LEN + 1], b[TOKEN_LOOKUP_LEN + 1];
    unsigned char ha[TOKEN_HASH_LEN], hb[TOKEN_HASH_LEN];
    new_token(a, ha);
    new_token(b, hb);
    struct val va = {.id = 1}, vb = {.id = 2}, out;
    keycache_put(kc, a, ha, 0, 10, &va);
    keycache_put(kc, b, hb, 0, 10, &vb);
    assert_int_equal(keycache_get(kc, a, ha, 0, 10, 100, &out), -ENOENT);
    assert_int_equal(keycache_get(kc, b, hb, 0, 10, 100, &out), 0);
    assert_int_equal(out.id, 2);
    /* Filed again under a new stamp, it answers for that one only. */
    keycache_put(kc, b, hb, 5, 20, &vb);
    assert_int_equal(keycache_get(kc, b, hb, 0, 20, 100, &out), -ENOENT);
    assert_int_equal(keycache_get(kc, b, hb, 5, 20, 100, &out), 0);
    keycache_free(kc);
}

static void bad_sizes_refused(void **state)
{
    (void)state;
    assert_null(keycache_new(0, 8));
    assert_null(keycache_new(8, 0));
    keycache_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_only_its_token_stamp_and_lifetime),
        cmocka_unit_test(a_slot_keeps_the_newest_token),
        cmocka_unit_test(bad_sizes_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
