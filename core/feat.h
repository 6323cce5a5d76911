/* feat.h - tokenizer and signed hashed features for the built-in reward layer.
 *
 * phi(prompt, response) is a sparse vector over 2^bits buckets: unigrams and
 * bigrams of the response, response unigrams that also occur in the prompt,
 * and a few dense length / structure / prompt-overlap features. Every index
 * comes from a fixed token hash (enum feat_hash) and a murmur3-style
 * finaliser, no seed, so the same text gives the same vector in every process
 * and on every run. A trained layer records which token hash it was trained
 * with (reward.h) and is always scored with that one.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef RUNG_FEAT_H
#define RUNG_FEAT_H

#define FEAT_BITS_MIN 4u  /* smallest accepted log2 bucket count */
#define FEAT_BITS_MAX 28u /* largest accepted log2 bucket count */

/* Sparse feature vector: sorted unique indices < 2^bits, float values. */
struct feat_vec {
    uint32_t *idx; /* strictly increasing bucket indices */
    float *val;    /* value of each bucket, never 0 */
    size_t n;      /* entries in use */
    size_t cap;    /* entries allocated in idx and val */
};

/* The hash of a token's normalised bytes (see feat_tokenize). */
enum feat_hash {
    FEAT_HASH_FNV1A = 1, /* FNV-1a 64, one byte at a time: the layers of blob versions 1 and 2 */
    FEAT_HASH_FX = 2,    /* feat_fx64, 8 bytes at a time: the default from blob version 3 */
};

/* Makes *v an empty vector owning nothing. Cannot fail. */
void feat_vec_init(struct feat_vec *v);

/* Frees the arrays of *v and leaves it empty (as after feat_vec_init). */
void feat_vec_clear(struct feat_vec *v);

/* Extracts phi(prompt, response) into out (reset first, its arrays reused and
 * grown as needed; the caller frees them with feat_vec_clear). Texts need not
 * be NUL-terminated nor valid UTF-8: invalid bytes act as separators. A NULL
 * text counts as empty when its length is 0. Deterministic.
 * Returns 0, -EINVAL when bits is outside [FEAT_BITS_MIN, FEAT_BITS_MAX] or a
 * text is NULL with a nonzero length, or -ENOMEM (out is then empty). */
int feat_extract(unsigned bits, const char *prompt, size_t prompt_len, const char *resp,
                 size_t resp_len, struct feat_vec *out);

/* feat_extract with the given token hash (feat_extract is FEAT_HASH_FNV1A).
 * Same results and errors; -EINVAL also for an unknown hash. */
int feat_extract_hash(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *resp, size_t resp_len, struct feat_vec *out);

/* feat_extract_hash of n responses resp[k] (resp_len[k] bytes) of one
 * prompt into out[k], the prompt tokenized once: the same vectors as n
 * calls. The same errors; on any error every out[k] is empty. */
int feat_extract_many(enum feat_hash hash, unsigned bits, const char *prompt, size_t prompt_len,
                      const char *const *resp, const size_t *resp_len, size_t n,
                      struct feat_vec *out);

/* One token of normalised text, as seen by the hashing. */
struct feat_token {
    uint64_t hash; /* enum feat_hash of the normalised bytes */
    size_t start;  /* byte offset in the input */
    size_t len;    /* bytes of input covered */
    int kind;      /* FEAT_TOK_* */
};
enum { FEAT_TOK_WORD = 1, FEAT_TOK_NUMBER = 2, FEAT_TOK_PUNCT = 3 };

/* Splits text into tokens: runs of ASCII letters/digits/apostrophes and whole
 * valid multi-byte UTF-8 sequences form words (ASCII lowercased, U+2018/U+2019
 * read as '), an all-digit word is a number, each other visible ASCII byte is a
 * one-byte punctuation token, whitespace, control and invalid or truncated
 * UTF-8 bytes separate tokens. *toks is a malloc'd array of *ntoks entries
 * (NULL when none); the caller frees it. Returns 0 or -ENOMEM (*toks NULL). */
int feat_tokenize(const char *text, size_t len, struct feat_token **toks, size_t *ntoks);

/* feat_tokenize with the given token hash (feat_tokenize is FEAT_HASH_FNV1A):
 * the same tokens (start, len, kind), each hash that hash of the token's
 * normalised bytes. Returns 0, -EINVAL for an unknown hash or -ENOMEM. */
int feat_tokenize_hash(enum feat_hash hash, const char *text, size_t len, struct feat_token **toks,
                       size_t *ntoks);

/* FNV-1a 64 of len bytes: exposed so tests can pin known hashes. */
uint64_t feat_fnv1a64(const void *data, size_t len);

/* The FEAT_HASH_FX hash of len bytes, the multiply-rotate scheme of FxHash
 * (rustc, Firefox) taken 8 bytes at a time: h = 0, then for each 8-byte
 * little-endian chunk w (the last one padded with zero bytes) h = (rotl(h, 5)
 * ^ w) * 0x517cc1b727220a95. A token's normalised bytes are never NUL, so the
 * padding is unambiguous; mixing the bits further is left to the bucket
 * finaliser. Exposed so tests can pin known hashes. */
uint64_t feat_fx64(const void *data, size_t len);

/* A hash of len bytes for in-memory tables (never stored, never a
 * feature): feat_fx64's step on four lanes that run side by side (about
 * 1.8x faster on 250 bytes, 3x on 1 KB, slower below 64 bytes). Lanes
 * h0..h3 start at 1, 2, 3, 4; each 32-byte block gives its four
 * little-endian words to h0..h3; the whole words left give theirs to h0,
 * h1, h2 in turn. Then x = step(step(step(h0, h1), h2), h3), x = step(x,
 * the last len % 8 bytes zero-padded, 0 when none), x = step(x, len), and
 * murmur3's fmix64 of x, so every bit of the result depends on every
 * input bit. */
uint64_t feat_fx64_wide(const void *data, size_t len);

#endif
