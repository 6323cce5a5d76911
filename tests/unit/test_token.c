#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "token.h"

static int setup(void **state)
{
    (void)state;
    return token_init();
}

static void new_tokens_differ_and_parse(void **state)
{
    (void)state;
    char t1[TOKEN_MAX], t2[TOKEN_MAX], l1[TOKEN_LOOKUP_LEN + 1], l2[TOKEN_LOOKUP_LEN + 1];
    assert_int_equal(token_new(t1, l1), 0);
    assert_int_equal(token_new(t2, l2), 0);
    assert_string_not_equal(t1, t2);
    /* 5 prefix + 12 lookup + 1 + 43 base64url characters of 32 bytes */
    assert_int_equal(strlen(t1), 61);
    char back[TOKEN_LOOKUP_LEN + 1];
    assert_int_equal(token_lookup(t1, back), 0);
    assert_string_equal(back, l1);
}

static void malformed_tokens_rejected(void **state)
{
    (void)state;
    char lk[TOKEN_LOOKUP_LEN + 1];
    assert_int_not_equal(token_lookup("", lk), 0);
    assert_int_not_equal(token_lookup("rung_", lk), 0);
    assert_int_not_equal(token_lookup("rung_ZZZZZZZZZZZZ_abc", lk), 0);
    assert_int_not_equal(token_lookup("bearer_0123456789ab_abc", lk), 0);
    assert_int_not_equal(token_lookup("rung_0123456789abXabc", lk), 0);
}

static void hash_matches_only_same_token(void **state)
{
    (void)state;
    char t[TOKEN_MAX], l[TOKEN_LOOKUP_LEN + 1];
    assert_int_equal(token_new(t, l), 0);
    unsigned char h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN];
    token_hash(t, h1);
    token_hash(t, h2);
    assert_true(token_hash_equal(h1, h2));
    t[strlen(t) - 1] ^= 1;
    token_hash(t, h2);
    assert_false(token_hash_equal(h1, h2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_tokens_differ_and_parse),
        cmocka_unit_test(malformed_tokens_rejected),
        cmocka_unit_test(hash_matches_only_same_token),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
