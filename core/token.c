#include "token.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define TOKEN_PREFIX "rung_"
#define TOKEN_SECRET_BYTES 32

int token_init(void)
{
    return sodium_init() < 0 ? -EIO : 0;
}

int token_new(char token[TOKEN_MAX], char lookup[TOKEN_LOOKUP_LEN + 1])
{
    unsigned char id[TOKEN_LOOKUP_LEN / 2], secret[TOKEN_SECRET_BYTES];
    char secret_b64[sodium_base64_ENCODED_LEN(TOKEN_SECRET_BYTES,
                                              sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

    randombytes_buf(id, sizeof id);
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(lookup, TOKEN_LOOKUP_LEN + 1, id, sizeof id);
    sodium_bin2base64(secret_b64, sizeof secret_b64, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof secret);

    size_t need = strlen(TOKEN_PREFIX) + TOKEN_LOOKUP_LEN + 1 + strlen(secret_b64) + 1;
    if (need > TOKEN_MAX)
        return -EIO;
    memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
    memcpy(token + strlen(TOKEN_PREFIX), lookup, TOKEN_LOOKUP_LEN);
    token[strlen(TOKEN_PREFIX) + TOKEN_LOOKUP_LEN] = '_';
    memcpy(token + strlen(TOKEN_PREFIX) + TOKEN_LOOKUP_LEN + 1, secret_b64, strlen(secret_b64) + 1);
    sodium_memzero(secret_b64, sizeof secret_b64);
    return 0;
}

int token_lookup(const char *token, char lookup[TOKEN_LOOKUP_LEN + 1])
{
    size_t plen = strlen(TOKEN_PREFIX);
    size_t len = strnlen(token, TOKEN_MAX);
    if (len >= TOKEN_MAX || len < plen + TOKEN_LOOKUP_LEN + 2)
        return -EINVAL;
    if (memcmp(token, TOKEN_PREFIX, plen) != 0 || token[plen + TOKEN_LOOKUP_LEN] != '_')
        return -EINVAL;
    for (size_t i = 0; i < TOKEN_LOOKUP_LEN; i++) {
        char c = token[plen + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -EINVAL;
        lookup[i] = c;
    }
    lookup[TOKEN_LOOKUP_LEN] = '\0';
    return 0;
}

void token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN])
{
    crypto_generichash(out, TOKEN_HASH_LEN, (const unsigned char *)token, strlen(token), NULL, 0);
}

bool token_hash_equal(const unsigned char a[TOKEN_HASH_LEN], const unsigned char b[TOKEN_HASH_LEN])
{
    return sodium_memcmp(a, b, TOKEN_HASH_LEN) == 0;
}
