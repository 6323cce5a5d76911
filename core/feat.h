/* feat.h - tokenizer and signed hashed features for the built-in reward layer.
 *
 * phi(prompt, response) is a sparse vector over 2^bits buckets: unigrams and
 * bigrams of the response, response unigrams that also occur in the prompt,
 * and a few dense length / structure / prompt-overlap features. Every index
 * comes from a fixed hash (FNV-1a 64 + a murmur3-style finaliser, no seed), so
 * the same text gives the same vector in every process and on every run.
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

/* One token of normalised text, as seen by the hashing. */
struct feat_token {
    uint64_t hash; /* FNV-1a 64 of the normalised bytes */
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

/* FNV-1a 64 of len bytes: exposed so tests can pin known hashes. */
uint64_t feat_fnv1a64(const void *data, size_t len);

#endif
