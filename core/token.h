/* API tokens: generation from the OS's random source and hashing, both by
 * libsodium. A token reads "rung_<lookup>_<secret>": the 12 hex characters
 * of lookup find the key row, the 32 random bytes of secret (base64url) are
 * the credential. Only a BLAKE2b-256 hash of the whole token is stored; for a
 * 256-bit random secret a fast hash is enough (nothing to brute-force). */
#ifndef RUNG_TOKEN_H
#define RUNG_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_LOOKUP_LEN 12 /* hex characters */
#define TOKEN_HASH_LEN 32   /* bytes */
#define TOKEN_MAX 96        /* longest token text, NUL included */

/* Initialises libsodium; call once before threads start. 0 or -EIO. */
int token_init(void);

/* Makes a new token into token[TOKEN_MAX] and its lookup part into
 * lookup[TOKEN_LOOKUP_LEN + 1]. Returns 0 or -EIO. */
int token_new(char token[TOKEN_MAX], char lookup[TOKEN_LOOKUP_LEN + 1]);

/* Extracts the lookup part of a presented token. Returns 0, or -EINVAL when
 * the token does not have the rung shape (then it cannot match any key). */
int token_lookup(const char *token, char lookup[TOKEN_LOOKUP_LEN + 1]);

/* Hashes a token into out. */
void token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN]);

/* Compares two hashes in constant time. */
bool token_hash_equal(const unsigned char a[TOKEN_HASH_LEN], const unsigned char b[TOKEN_HASH_LEN]);

#endif
