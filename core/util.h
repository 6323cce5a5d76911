/* Small helpers shared by core and server: clocks, ids, text checks. */
#ifndef RUNG_UTIL_H
#define RUNG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Wall-clock milliseconds since the Unix epoch. */
int64_t util_now_ms(void);

/* Monotonic microseconds from an arbitrary origin, for durations. */
uint64_t util_mono_us(void);

/* Writes a new time-ordered (version 7) UUID in lower-case text form into
 * out. Needs libsodium initialised (token_init). */
void util_uuid(char out[UUID_STR_LEN]);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool util_utf8_valid(const char *s, size_t len);

/* Makes s[0..len) valid UTF-8 in place: each byte that does not start a
 * well-formed sequence becomes '?'. For text from a request (a path, a
 * truncated message) that must go into JSON. */
void util_utf8_sanitize(char *s, size_t len);

/* Parses a whole decimal string into *out. Returns 0, or -EINVAL when s is
 * empty, has trailing bytes, or is outside [min, max]. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* A step's context, as layers score a step and as step verdicts train
 * them: prompt, then each of the n earlier steps (len[i] bytes at step[i];
 * len NULL: NUL-terminated) after a '\n'. Returns a malloc'd string (the
 * caller frees it), NULL when out of memory. */
char *util_step_context(const char *prompt, const char *const *step, const size_t *len, size_t n);

/* Copies at most cap-1 bytes of src into dst and NUL-terminates. Returns
 * 0, or -ENAMETOOLONG when src did not fit (dst then holds a prefix). */
int util_strlcpy(char *dst, const char *src, size_t cap);

#endif
