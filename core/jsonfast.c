/* jsonfast.c - see jsonfast.h. A recursive descent over the bytes: plain
 * string runs are skipped a byte at a time with one compare each and built
 * with one copy; escapes are decoded into a scratch buffer. Every failure,
 * whatever its cause, is "let jansson do it" (NULL). */
#include "jsonfast.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JF_DEPTH_MAX 64 /* deeper nesting: jansson's parser (its limit is 2048) */
#define JF_DIGITS_MAX 18

struct jf {
    const unsigned char *p, *end;
    char *scratch; /* decoded text of a string with escapes */
    size_t used, cap;
    int depth;
};

static json_t *value(struct jf *j);

static void ws(struct jf *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

/* The length of the well-formed UTF-8 sequence at p (p[0] >= 0x80), or 0:
 * no overlong forms, no surrogates, nothing past U+10FFFF (what jansson
 * accepts). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

static bool put(struct jf *j, const void *s, size_t n)
{
    if (j->used + n > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->used + n)
            cap *= 2;
        char *t = realloc(j->scratch, cap);
        if (!t)
            return false;
        j->scratch = t;
        j->cap = cap;
    }
    memcpy(j->scratch + j->used, s, n);
    j->used += n;
    return true;
}

/* Four hex digits at p into *v. */
static bool hex4(const unsigned char *p, const unsigned char *end, unsigned *v)
{
    if (end - p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return false;
        *v = *v << 4 | d;
    }
    return true;
}

/* A \uXXXX escape (a surrogate pair: two) at *r, just past the 'u', as
 * UTF-8 into the scratch buffer; moves *r past it. No U+0000 (jansson
 * refuses it without JSON_ALLOW_NUL), no lone surrogate. */
static bool unicode_escape(struct jf *j, const unsigned char **r)
{
    unsigned cp, lo;
    if (!hex4(*r, j->end, &cp))
        return false;
    *r += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return false;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (j->end - *r < 6 || (*r)[0] != '\\' || (*r)[1] != 'u' || !hex4(*r + 2, j->end, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
            return false;
        *r += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (!cp)
        return false;
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xc0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xe0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xf0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return put(j, u, n);
}

/* The escape at *r (the backslash) decoded into the scratch buffer. */
static bool escape(struct jf *j, const unsigned char **r)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (j->end - *r < 2)
        return false;
    unsigned char c = (*r)[1];
    *r += 2;
    if (c == 'u')
        return unicode_escape(j, r);
    const char *k = c ? strchr(from, c) : NULL;
    return k && put(j, &to[k - from], 1);
}

/* The string whose opening quote j->p is just past: its text in *s, *n
 * (the input itself, or the scratch buffer when it has escapes: *escaped).
 * Moves j->p past the closing quote. */
static bool string(struct jf *j, const char **s, size_t *n, bool *escaped)
{
    const unsigned char *start = j->p, *q = start;
    *escaped = false;
    for (;;) {
        const unsigned char *r = q;
        for (;;) {
            while (r < j->end && *r >= 0x20 && *r < 0x80 && *r != '"' && *r != '\\')
                r++;
            if (r >= j->end || *r < 0x80)
                break;
            size_t k = utf8_seq(r, j->end);
            if (!k)
                return false;
            r += k;
        }
        if (r >= j->end || *r < 0x20)
            return false;
        if (*escaped && !put(j, q, (size_t)(r - q)))
            return false;
        if (*r == '"') {
            j->p = r + 1;
            *s = *escaped ? j->scratch : (const char *)start;
            *n = *escaped ? j->used : (size_t)(r - start);
            return true;
        }
        if (!*escaped) { /* the first escape: the text so far to the buffer */
            *escaped = true;
            j->used = 0;
            if (!put(j, start, (size_t)(r - start)))
                return false;
        }
        if (!escape(j, &r))
            return false;
        q = r;
    }
}

/* An integer of at most JF_DIGITS_MAX digits, no fraction or exponent. */
static json_t *integer(struct jf *j)
{
    const unsigned char *p = j->p;
    bool neg = *p == '-';
    p += neg;
    const unsigned char *d = p;
    int64_t v = 0;
    while (p < j->end && *p >= '0' && *p <= '9' && p - d < JF_DIGITS_MAX)
        v = v * 10 + (*p++ - '0');
    size_t nd = (size_t)(p - d);
    if (!nd || nd > JF_DIGITS_MAX || (*d == '0' && nd > 1))
        return NULL;
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        return NULL;
    j->p = p;
    return json_integer(neg ? -v : v);
}

static json_t *literal(struct jf *j, const char *word, json_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n))
        return NULL;
    j->p += n;
    return v;
}

static json_t *object(struct jf *j)
{
    json_t *o = json_object();
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return o;
    }
    while (o) {
        const char *key;
        size_t klen;
        bool escaped;
        if (j->p >= j->end || *j->p != '"')
            break;
        j->p++;
        /* A key with escapes (rare) is left to jansson: the scratch
         * buffer is needed for the value. A duplicate is jansson's error. */
        if (!string(j, &key, &klen, &escaped) || escaped || json_object_getn(o, key, klen))
            break;
        ws(j);
        if (j->p >= j->end || *j->p++ != ':')
            break;
        json_t *v = value(j);
        if (!v || json_object_setn_new_nocheck(o, key, klen, v))
            break;
        ws(j);
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return o;
        }
        if (j->p >= j->end || *j->p++ != ',')
            break;
        ws(j);
    }
    json_decref(o);
    return NULL;
}

static json_t *array(struct jf *j)
{
    json_t *a = json_array();
    j->p++;
    ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return a;
    }
    while (a) {
        json_t *v = value(j);
        if (!v || json_array_append_new(a, v))
            break;
        ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return a;
        }
        if (j->p >= j->end || *j->p++ != ',')
            break;
    }
    json_decref(a);
    return NULL;
}

static json_t *value(struct jf *j)
{
    ws(j);
    if (j->p >= j->end)
        return NULL;
    switch (*j->p) {
    case '{':
    case '[': {
        if (++j->depth > JF_DEPTH_MAX)
            return NULL;
        json_t *v = *j->p == '{' ? object(j) : array(j);
        j->depth--;
        return v;
    }
    case '"': {
        const char *s;
        size_t n;
        bool escaped;
        j->p++;
        return string(j, &s, &n, &escaped) ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't':
        return literal(j, "true", json_true());
    case 'f':
        return literal(j, "false", json_false());
    case 'n':
        return literal(j, "null", json_null());
    default:
        return *j->p == '-' || (*j->p >= '0' && *j->p <= '9') ? integer(j) : NULL;
    }
}

json_t *jsonfast_load(const char *buf, size_t len, bool any)
{
    struct jf j = {.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len};
    ws(&j);
    if (j.p >= j.end || (!any && *j.p != '{' && *j.p != '['))
        return NULL;
    json_t *v = value(&j);
    ws(&j);
    if (v && j.p != j.end) {
        json_decref(v);
        v = NULL;
    }
    free(j.scratch);
    return v;
}
