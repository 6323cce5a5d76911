/* check_answer.c - the final answer and its normal form (see check.h). */
#include "check.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ANSWER_SPAN_MAX 256 /* bytes of an answer's text, from its marker */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* 1 when s[i..] starts with the lowercase word w, in any case. */
static int starts_ci(const char *s, size_t len, size_t i, const char *w)
{
    size_t n = strlen(w);
    if (len - i < n)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (lower(s[i + k]) != w[k])
            return 0;
    return 1;
}

/* Where an answer's text sits: s[start..end). */
struct span {
    size_t start, end;
};

/* The text after a marker ending at i: to the end of the line, at most
 * ANSWER_SPAN_MAX bytes (never cutting a UTF-8 sequence), blanks and a final
 * '.' trimmed. With sentence set it also stops at ". " and "! ". */
static struct span answer_text(const char *s, size_t len, size_t i, int sentence)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t e = i, lim = len - i > ANSWER_SPAN_MAX ? i + ANSWER_SPAN_MAX : len;
    while (e < lim && s[e] != '\n' && s[e] != '\r') {
        if (sentence && (s[e] == '.' || s[e] == '!') && (e + 1 >= len || s[e + 1] == ' '))
            break;
        e++;
    }
    while (e > i && e < len && (u[e] & 0xc0) == 0x80)
        e--;
    while (i < e && (s[i] == ' ' || s[i] == '\t' || s[i] == ':'))
        i++;
    while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '.'))
        e--;
    return (struct span){i, e};
}

/* The text inside "\boxed{" ending at i, to its matching '}' (nested braces
 * counted), or an empty span when it does not close on the line. */
static struct span boxed_text(const char *s, size_t len, size_t i)
{
    int depth = 1;
    for (size_t e = i; e < len && e - i < ANSWER_SPAN_MAX && s[e] != '\n'; e++) {
        depth += (s[e] == '{') - (s[e] == '}');
        if (depth == 0)
            return (struct span){i, e};
    }
    return (struct span){i, i};
}

/* 1 when only blanks stand between the line start and s[i]. Reads back
 * over blanks only, so that all calls together stay linear. */
static int line_start(const char *s, size_t i)
{
    while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
        i--;
    return i == 0 || s[i - 1] == '\n';
}

/* Length of the answer marker at the word start s[i], or 0. *sentence is
 * set for "the answer is", whose answer ends with its sentence. */
static size_t marker_at(const char *s, size_t len, size_t i, int *sentence)
{
    *sentence = 0;
    switch (lower(s[i])) {
    case '#':
        return starts_ci(s, len, i, "####") ? 4 : 0;
    case 'a':
        if (starts_ci(s, len, i, "answer:"))
            return 7;
        return starts_ci(s, len, i, "a:") && line_start(s, i) ? 2 : 0;
    case 't':
        *sentence = 1;
        return starts_ci(s, len, i, "the answer is") ? 13 : 0;
    default:
        return 0;
    }
}

/* The last \boxed{...} with something inside; returns 1 when found. The
 * search jumps from backslash to backslash (memchr). */
static int find_boxed(const char *s, size_t len, struct span *sp)
{
    int found = 0;
    const char *p = s;
    while (p && (size_t)(p - s) < len) {
        size_t i = (size_t)(p - s);
        if (starts_ci(s, len, i, "\\boxed{")) {
            struct span b = boxed_text(s, len, i + 7);
            if (b.end > b.start) {
                *sp = b;
                found = 1;
            }
        }
        p = memchr(s + i + 1, '\\', len - i - 1);
    }
    return found;
}

/* 1 for the bytes a marker starts with: '#', 'a', 'A', 't', 'T'. */
static const unsigned char MARKER_START[256] = {
    ['#'] = 1, ['a'] = 1, ['A'] = 1, ['t'] = 1, ['T'] = 1};

/* The marked answer whose marker starts at s[i] (a MARKER_START byte after
 * no ASCII letter or digit), when its text is not empty: 1 and *sp. */
static int marked_at(const char *s, size_t len, size_t i, struct span *sp)
{
    int sentence;
    size_t m = marker_at(s, len, i, &sentence);
    if (m == 0)
        return 0;
    struct span t = answer_text(s, len, i + m, sentence);
    if (t.end <= t.start)
        return 0;
    *sp = t;
    return 1;
}

/* The high bit of each byte of w in [lo, hi], exact for every byte (the
 * sums stay below 0x100: no carry reaches the next byte); bytes >= 0x80
 * are never flagged. */
static inline uint64_t bytes_in(uint64_t w, unsigned lo, unsigned hi)
{
    uint64_t x = w & ~CHECK_HIGH8;
    return (x + CHECK_ONES8 * (0x80u - lo)) & ~(x + CHECK_ONES8 * (0x7fu - hi)) & ~w & CHECK_HIGH8;
}

/* The flags of the bytes of the 8 at s + j - 8 where a marker may start,
 * by tests every marker passes: a word start (the byte before is no ASCII
 * letter or digit) and the bytes that tell the markers apart ("##" at
 * '#'; ':' after 'a' or, after "an", 6 bytes on; "th" and an 'a' 4 bytes
 * on at 't'; letters in any case). Reads s[j - 9 .. j + 6). */
static inline uint64_t marker_starts8(const char *s, size_t j)
{
    const uint64_t lc = CHECK_ONES8 * 0x20u; /* ASCII letters lowercased */
    uint64_t w = check_load8(s + j - 8), p = check_load8(s + j - 9);
    uint64_t n1 = check_load8(s + j - 7), n4 = check_load8(s + j - 4);
    uint64_t n6 = check_load8(s + j - 2);
    uint64_t hash = bytes_in(w, '#', '#') & bytes_in(n1, '#', '#');
    uint64_t a = bytes_in(w | lc, 'a', 'a') &
                 (bytes_in(n1, ':', ':') | (bytes_in(n1 | lc, 'n', 'n') & bytes_in(n6, ':', ':')));
    uint64_t t =
        bytes_in(w | lc, 't', 't') & bytes_in(n1 | lc, 'h', 'h') & bytes_in(n4 | lc, 'a', 'a');
    uint64_t alnum = bytes_in(p, '0', '9') | bytes_in(p | lc, 'a', 'z');
    return (hash | a | t) & ~alnum;
}

/* The last marked answer whose marker starts in s[lo..hi), tried byte by
 * byte from the end: 1 and *sp when found. */
static int marked_bytes(const char *s, size_t len, size_t lo, size_t hi, struct span *sp)
{
    for (size_t i = hi; i-- > lo;) {
        /* Only '#', 'a' and 't' (any case) start a marker. */
        if (!MARKER_START[(unsigned char)s[i]] || (i > 0 && is_alnum(s[i - 1])))
            continue;
        if (marked_at(s, len, i, sp))
            return 1;
    }
    return 0;
}

/* Finds the last boxed answer, else the last marked one, reading markers
 * from the end (a final "A: 18" is found in a few steps). Where the byte
 * order is little-endian, 8 bytes at a time past the last 6: only the
 * places marker_starts8 flags are tried, from the last. Returns its kind
 * (NONE when none). */
static enum check_answer_kind find_marked(const char *s, size_t len, struct span *sp)
{
    if (len && find_boxed(s, len, sp))
        return CHECK_ANS_BOXED;
    size_t j = len; /* s[j..len) is done */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (len >= 15) {
        if (marked_bytes(s, len, len - 6, len, sp))
            return CHECK_ANS_MARKED;
        for (j = len - 6; j >= 9; j -= 8) {
            uint64_t m = marker_starts8(s, j);
            while (m) {
                unsigned k = (63u - (unsigned)__builtin_clzll(m)) / 8;
                if (marked_at(s, len, j - 8 + k, sp))
                    return CHECK_ANS_MARKED;
                m &= ~(UINT64_C(0xff) << (8 * k));
            }
        }
    }
#endif
    return marked_bytes(s, len, 0, j, sp) ? CHECK_ANS_MARKED : CHECK_ANS_NONE;
}

/* The last number of s that does not sit inside a word, with a '-' sign
 * right before it; an empty span when there is none. */
static struct span last_number(const char *s, size_t len)
{
    struct span sp = {0, 0};
    struct check_num num;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len && !check_digit8(check_load8(s + i))) {
            i += 8; /* no digit in s[i..i + 8) */
            continue;
        }
        if (is_digit(s[i]) && (i == 0 || !is_alnum(s[i - 1])) &&
            check_scan_number(s, len, i, &num)) {
            sp.start = i > 0 && s[i - 1] == '-' ? i - 1 : i;
            sp.end = i + num.len;
            i += num.len;
        } else {
            i++;
        }
    }
    return sp;
}

/* Bytes of a currency sign at s[i] ($ € £ ¥, "\$"), or 0. */
static size_t currency(const char *s, size_t end, size_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    if (s[i] == '$')
        return 1;
    if (s[i] == '\\' && i + 1 < end && s[i + 1] == '$')
        return 2;
    if (i + 1 < end && u[i] == 0xc2 && (u[i + 1] == 0xa3 || u[i + 1] == 0xa5))
        return 2;
    if (i + 2 < end && u[i] == 0xe2 && u[i + 1] == 0x82 && u[i + 2] == 0xac)
        return 3;
    return 0;
}

/* Reads "a/b" or "\frac{a}{b}" at s[i] into *v; returns its end or 0. */
static size_t fraction(const char *s, size_t end, size_t i, double *v)
{
    struct check_num a, b;
    int tex = end - i > 6 && !memcmp(s + i, "\\frac{", 6);
    size_t j = tex ? i + 6 : i;
    if (!check_scan_number(s, end, j, &a) || !a.ok)
        return 0;
    j += a.len;
    if (j + 1 >= end || (tex ? memcmp(s + j, "}{", 2) : s[j] != '/'))
        return 0;
    j += tex ? 2 : 1;
    if (!check_scan_number(s, end, j, &b) || !b.ok || b.v == 0)
        return 0;
    j += b.len;
    if (tex && (j >= end || s[j++] != '}'))
        return 0;
    *v = a.v / b.v;
    return j;
}

/* Reads the first number of s[i..end): a sign, a currency sign, a number, a
 * fraction or a mixed number ("1 1/2"), a percent. Returns 1 when found. */
static int numeric_value(const char *s, size_t i, size_t end, struct check_answer *out)
{
    struct check_num num;
    double frac;
    for (; i < end; i++) {
        int neg = s[i] == '-';
        size_t j = i + neg, c = j < end ? currency(s, end, j) : 0, k;
        j += c;
        if (!neg && c == 0 && j < end && s[j] == '-')
            neg = 1, j++;
        if ((k = fraction(s, end, j, &out->value)) != 0) {
            j = k;
        } else if (j < end && check_scan_number(s, end, j, &num)) {
            if (!num.ok) { /* too long for a value: skip it, never rescan it */
                i = j + num.len - 1;
                continue;
            }
            out->value = num.v;
            j += num.len;
            if (num.decimals == 0 && j + 1 < end && s[j] == ' ' &&
                (k = fraction(s, end, j + 1, &frac)) != 0 && frac < 1.0)
                out->value += frac, j = k;
        } else {
            continue;
        }
        out->value = neg ? -out->value : out->value;
        out->percent = j < end && s[j] == '%';
        out->numeric = 1;
        return 1;
    }
    return 0;
}

/* canon of a text answer: lowercased ASCII, blanks collapsed, cut at a
 * UTF-8 boundary to fit. */
static void text_canon(const char *s, size_t i, size_t end, char *canon)
{
    size_t n = 0;
    for (; i < end && n + 1 < CHECK_CANON_MAX; i++) {
        char c = s[i] == '\t' || s[i] == '\r' ? ' ' : lower(s[i]);
        if (c == ' ' && (n == 0 || canon[n - 1] == ' '))
            continue;
        canon[n++] = c;
    }
    if (i < end)
        while (n > 0 && ((unsigned char)canon[n - 1] & 0xc0) == 0x80)
            n--;
    if (i < end && n > 0 && ((unsigned char)canon[n - 1] & 0xc0) == 0xc0)
        n--;
    while (n > 0 && canon[n - 1] == ' ')
        n--;
    canon[n] = '\0';
}

int check_answer(const char *resp, size_t len, struct check_answer *out, struct check_result *r)
{
    if (!out || (!resp && len))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    struct span sp = {0, 0};
    out->kind = resp ? find_marked(resp, len, &sp) : CHECK_ANS_NONE;
    if (out->kind == CHECK_ANS_NONE && resp) {
        sp = last_number(resp, len);
        if (sp.end > sp.start)
            out->kind = CHECK_ANS_FALLBACK;
    }
    if (out->kind == CHECK_ANS_NONE)
        return 0;
    out->start = sp.start;
    out->len = sp.end - sp.start;
    if (numeric_value(resp, sp.start, sp.end, out))
        check_format_number(out->value, out->canon, sizeof(out->canon));
    else
        text_canon(resp, sp.start, sp.end, out->canon);
    if (!r)
        return 0;
    int fb = out->kind == CHECK_ANS_FALLBACK;
    r->v[CHECK_ANSWER_FOUND] = !fb;
    r->v[CHECK_ANSWER_FALLBACK] = fb;
    r->v[CHECK_ANSWER_NUMERIC] = out->numeric;
    check_add(r, "answer", fb ? "answer_fallback" : "answer", CHECK_INFO, out->start, out->len,
              "%s %s", fb ? "no marked answer; last number" : "final answer",
              out->numeric ? out->canon : "(text)");
    return 0;
}

int check_answer_equal(const struct check_answer *a, const struct check_answer *b)
{
    if (!a || !b || a->kind == CHECK_ANS_NONE || b->kind == CHECK_ANS_NONE)
        return 0;
    if (a->numeric != b->numeric)
        return 0;
    if (!a->numeric)
        return !strcmp(a->canon, b->canon);
    double x = fabs(a->value), y = fabs(b->value), big = x > y ? x : y;
    return fabs(a->value - b->value) <= 1e-6 * (big > 1.0 ? big : 1.0);
}
