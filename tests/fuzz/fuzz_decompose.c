/* fuzz_decompose - libFuzzer target for core/decompose. See
 * tests/fuzz/README.md for building and running it.
 *
 * The first three bytes choose the decomposer, the cap (1..80) and the
 * longest segment (64 bytes or the default); the rest is the response.
 * Every call checks what decompose.h promises and aborts on a breach, so
 * libFuzzer keeps the input that broke it.
 */
#include "decompose.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CAP_MAX 80

static bool blank(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Marks in starts[] every offset that a forward decode of s[0..len) reaches:
 * the first byte of each well-formed character or stray byte, and len. */
static void mark_char_starts(const uint8_t *s, size_t len, bool *starts)
{
    for (size_t i = 0; i < len;) {
        size_t step = 1;
        for (size_t w = 2; s[i] >= 0xc0 && w <= 4 && i + w <= len; w++)
            if (util_utf8_valid((const char *)s + i, w)) {
                step = w;
                break;
            }
        starts[i] = true;
        i += step;
    }
    starts[len] = true;
}

/* Aborts unless g[0..n) are valid, ordered, trimmed, exhaustive spans on
 * character boundaries. */
static void check_spans(const uint8_t *s, size_t len, const struct decompose_seg *g, size_t n)
{
    bool *starts = calloc(len + 1, 1);
    size_t prev = 0;
    if (!starts)
        abort();
    mark_char_starts(s, len, starts);
    for (size_t i = 0; i <= n; i++) {
        size_t from = i < n ? g[i].start : len;
        if (from < prev)
            abort();
        for (size_t p = prev; p < from; p++)
            if (!blank(s[p]))
                abort(); /* an uncovered byte */
        if (i == n)
            break;
        if (g[i].end <= g[i].start || g[i].end > len || blank(s[g[i].start]) ||
            blank(s[g[i].end - 1]) || !starts[g[i].start] || !starts[g[i].end])
            abort();
        prev = g[i].end;
    }
    free(starts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct decompose_seg segs[FUZZ_CAP_MAX];
    if (size < 3)
        return 0;
    enum decompose_kind kind = (enum decompose_kind)(data[0] % 5);
    size_t cap = (size_t)data[1] % FUZZ_CAP_MAX + 1, n = 0;
    struct decompose_opts o = {.max_seg_bytes = data[2] & 1 ? DECOMPOSE_MIN_SEG_BYTES : 0,
                               .long_paragraph = data[2] & 2 ? 80 : 0,
                               .ncriteria = (size_t)(data[2] >> 2) % (cap + 1)};
    const uint8_t *text = data + 3;
    size_t len = size - 3;
    if (decompose(kind, (const char *)text, len, &o, segs, cap, &n) || n > cap)
        abort();
    if (kind == DECOMPOSE_CRITERIA) {
        for (size_t i = 0; i < n; i++)
            if (segs[i].start != segs[0].start || segs[i].end != segs[0].end)
                abort();
        n = n ? 1 : 0; /* without criteria: no spans, nothing to cover */
    }
    if (kind == DECOMPOSE_NONE && n)
        abort();
    if (kind != DECOMPOSE_NONE && (kind != DECOMPOSE_CRITERIA || n))
        check_spans(text, len, segs, n);
    (void)decompose_is_hard((const char *)text, len, data[1]);
    return 0;
}
