/* fuzz_group - libFuzzer target for the checker block of a sample group as
 * the daemon scores it (core/reward_check.c: reward_check_group with its
 * thread's memo, which persists from one input to the next; the group
 * signals of core/check_group.c), checked against the training path
 * (reward_check_pairs, which reads every response afresh).
 *
 * Input: byte 0 picks the scored texts, the rest splits at bytes 0xff into
 * the prompt, then the samples (NUL bytes read as spaces; a sample equal to
 * an earlier one is dropped: a group's samples are distinct), at most
 * FUZZ_SAMPLES + 1 of them. Byte 0's low bit asks for a second scored
 * text; bits 1-3 and 4-6 choose each text: k < 7 the sample at k / 8 of
 * the group, 7 the last sample. When bit 7 is set and a text is the last
 * sample, the last sample is taken out of the group: a text outside it.
 * Every call checks that:
 *   - every feature is finite;
 *   - the same call again (now from the memo) gives the same bytes;
 *   - the scored texts swapped give their blocks swapped;
 *   - a text in the group gets the block that training gives it from the
 *     pairs (s0, s1), (s2, s3), ... (an odd last one with s0), which hold
 *     the group's samples in their order;
 *   - a text outside the group gets the block that training gives it as
 *     the group's next sample (past the kept ones when the group is full),
 *     and, in a group of at most 62, the block it gets when the group holds
 *     it twice more (both copies left out of its others).
 * See tests/fuzz/README.md for building and running it.
 */
#include "reward.h"
#include "reward_check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SAMPLES 80 /* past CHECK_GROUP_DEFAULT: texts beyond the kept samples */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef float block[REWARD_CHECK_NFEAT];

/* The samples of one input: NUL-terminated copies, distinct. */
struct group {
    char *prompt;
    char *s[FUZZ_SAMPLES + 1];
    size_t n;
};

/* A NUL-terminated copy of p[0..len) with NUL bytes read as spaces. */
static char *copy_text(const uint8_t *p, size_t len)
{
    char *s = malloc(len + 1);
    if (!s)
        abort();
    for (size_t i = 0; i < len; i++)
        s[i] = p[i] ? (char)p[i] : ' ';
    s[len] = '\0';
    return s;
}

static void read_group(const uint8_t *p, size_t len, struct group *g)
{
    const uint8_t *end = p + len, *sep = memchr(p, 0xff, len);
    g->prompt = copy_text(p, sep ? (size_t)(sep - p) : len);
    g->n = 0;
    while (sep && g->n <= FUZZ_SAMPLES) {
        const uint8_t *s = sep + 1;
        sep = memchr(s, 0xff, (size_t)(end - s));
        char *t = copy_text(s, sep ? (size_t)(sep - s) : (size_t)(end - s));
        int dup = 0;
        for (size_t i = 0; i < g->n && !dup; i++)
            dup = !strcmp(g->s[i], t);
        if (dup)
            free(t);
        else
            g->s[g->n++] = t;
    }
}

static void free_group(struct group *g)
{
    free(g->prompt);
    for (size_t i = 0; i < g->n; i++)
        free(g->s[i]);
}

static void check_finite(const block b)
{
    for (size_t k = 0; k < REWARD_CHECK_NFEAT; k++)
        if (!isfinite(b[k]))
            abort();
}

/* Text t's block as training gives it from the group's pairs. */
static void as_training(const struct group *g, size_t ns, size_t t, block out)
{
    struct reward_pair_ex pairs[FUZZ_SAMPLES / 2 + 1];
    size_t np = 0;
    for (size_t i = 0; i < ns; i += 2)
        pairs[np++] =
            (struct reward_pair_ex){g->prompt, g->s[i], g->s[i + 1 < ns ? i + 1 : 0], 1, 1, 0};
    struct reward_check_table tab;
    if (reward_check_pairs(pairs, np, 0, 0, &tab))
        abort();
    memcpy(out, tab.v[tab.side[t]], sizeof(block)); /* pair t / 2, side t % 2 */
    reward_check_table_free(&tab);
}

/* Text x's block against samples[0..ns) when the group holds x twice more. */
static void as_twice(const struct group *g, size_t ns, const char *x, block out)
{
    const char *twice[FUZZ_SAMPLES + 2];
    block got[1];
    memcpy(twice, g->s, ns * sizeof(*twice));
    twice[ns] = twice[ns + 1] = x;
    if (reward_check_group(g->prompt, twice, ns + 2, &x, 1, got))
        abort();
    memcpy(out, got[0], sizeof(block));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct group g;
    if (size < 1)
        return 0;
    read_group(data + 1, size - 1, &g);
    size_t nt = 1 + (data[0] & 1), ns = g.n, pick[2];
    int outside = 0;
    for (size_t t = 0; t < nt && g.n; t++) {
        size_t sel = data[0] >> (1 + 3 * t) & 7; /* 7: the last sample */
        pick[t] = sel == 7 ? g.n - 1 : sel * g.n / 8;
        outside |= (data[0] >> 7 & 1) && pick[t] == g.n - 1;
    }
    if (!g.n || (outside && g.n < 2)) {
        free_group(&g);
        return 0;
    }
    ns = outside ? g.n - 1 : g.n; /* the last sample is no sample when outside */
    const char *texts[2] = {g.s[pick[0]], g.s[pick[nt - 1]]}, *samples[FUZZ_SAMPLES + 1];
    memcpy(samples, g.s, ns * sizeof(*samples));
    block got[2], again[2], swapped[2], want;
    if (reward_check_group(g.prompt, samples, ns, texts, nt, got) ||
        reward_check_group(g.prompt, samples, ns, texts, nt, again))
        abort();
    const char *rev[2] = {texts[nt - 1], texts[0]};
    if (reward_check_group(g.prompt, samples, ns, rev, nt, swapped))
        abort();
    for (size_t t = 0; t < nt; t++) {
        check_finite(got[t]);
        if (memcmp(got[t], again[t], sizeof(block)) ||
            memcmp(got[t], swapped[nt - 1 - t], sizeof(block)))
            abort();
        if (pick[t] < ns && ns >= 2) {
            as_training(&g, ns, pick[t], want);
            if (memcmp(got[t], want, sizeof(block)))
                abort();
        } else if (pick[t] == ns) {
            as_training(&g, ns + 1, ns, want); /* g.s[ns] is the text */
            if (memcmp(got[t], want, sizeof(block)))
                abort();
            if (ns + 2 <= CHECK_GROUP_DEFAULT) {
                as_twice(&g, ns, texts[t], want);
                if (memcmp(got[t], want, sizeof(block)))
                    abort();
            }
        }
    }
    free_group(&g);
    return 0;
}
