/* group_seqs.c - see group_seqs.h. An open-addressing table with linear
 * probing; a group of one item keeps its seq in the slot itself, larger
 * groups an array of their own. */
#include "group_seqs.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    uint64_t h;      /* 0: empty */
    uint32_t n, cap; /* seqs held; cap 0: the one seq is in one */
    union {
        int64_t one;
        int64_t *v;
    } u;
};

#define GROUP_SEQS_NAME_INLINE 256 /* longer names are hashed in two steps */

struct group_seqs {
    struct slot *slots;
    size_t cap; /* a power of two */
    size_t used;
    size_t seqs;
    size_t heap; /* bytes of the groups' own arrays */
};

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    if (sodium_init() < 0)
        abort(); /* libsodium cannot start: nothing of rung's secrets works */
    randombytes_buf(hash_key, sizeof hash_key);
}

uint64_t group_seqs_hash(int64_t key_id, const char *group)
{
    pthread_once(&hash_once, hash_key_init);
    size_t len = strlen(group);
    unsigned char in[8 + GROUP_SEQS_NAME_INLINE], out[crypto_shorthash_BYTES];
    memcpy(in, &key_id, 8);
    if (len > GROUP_SEQS_NAME_INLINE) { /* a long name: hashed on its own first */
        crypto_shorthash(in + 8, (const unsigned char *)group, len, hash_key);
        len = crypto_shorthash_BYTES;
    } else {
        memcpy(in + 8, group, len);
    }
    crypto_shorthash(out, in, 8 + len, hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h ? h : 1; /* 0 marks an empty slot */
}

struct group_seqs *group_seqs_new(void)
{
    struct group_seqs *m = calloc(1, sizeof *m);
    if (m && !(m->slots = calloc(m->cap = 64, sizeof *m->slots))) {
        free(m);
        m = NULL;
    }
    return m;
}

void group_seqs_free(struct group_seqs *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].h && m->slots[i].cap)
            free(m->slots[i].u.v);
    free(m->slots);
    free(m);
}

static struct slot *find(struct slot *slots, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].h && slots[i].h != h)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow_table(struct group_seqs *m)
{
    size_t cap = m->cap * 2;
    struct slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].h)
            *find(slots, cap, m->slots[i].h) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* The slot's seqs as an array (its own, or the one inline). */
static int64_t *seqs_of(struct slot *s)
{
    return s->cap ? s->u.v : &s->u.one;
}

/* The position of the first of the n ascending seqs v above `after`
 * (n when none is): a binary search. */
static size_t first_above(const int64_t *v, size_t n, int64_t after)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] > after)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Makes room for one more seq in s. 0 or -ENOMEM. */
static int make_room(struct group_seqs *m, struct slot *s)
{
    if (s->n < (s->cap ? s->cap : 1))
        return 0;
    uint32_t cap = s->cap ? s->cap * 2 : 4;
    int64_t *v = s->cap ? realloc(s->u.v, cap * sizeof *v) : malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    if (!s->cap)
        v[0] = s->u.one;
    m->heap += (cap - s->cap) * sizeof *v;
    s->u.v = v;
    s->cap = cap;
    return 0;
}

int group_seqs_add(struct group_seqs *m, uint64_t h, int64_t seq)
{
    if ((m->used + 1) * 4 > m->cap * 3 && grow_table(m))
        return -ENOMEM;
    struct slot *s = find(m->slots, m->cap, h);
    if (!s->h) {
        *s = (struct slot){.h = h, .n = 1, .u.one = seq};
        m->used++;
        m->seqs++;
        return 0;
    }
    /* Items mostly come in seq order: the common case appends. */
    int64_t *v = seqs_of(s);
    size_t at = s->n && v[s->n - 1] < seq ? s->n : first_above(v, s->n, seq);
    if (at > 0 && v[at - 1] == seq)
        return 0;
    if (make_room(m, s))
        return -ENOMEM;
    v = seqs_of(s);
    memmove(v + at + 1, v + at, (s->n - at) * sizeof *v);
    v[at] = seq;
    s->n++;
    m->seqs++;
    return 0;
}

size_t group_seqs_get(const struct group_seqs *m, uint64_t h, int64_t after, int64_t below,
                      int64_t *out, size_t max)
{
    struct slot *s = find(m->slots, m->cap, h);
    if (!s->h)
        return 0;
    const int64_t *v = seqs_of(s);
    size_t k = 0;
    for (size_t at = first_above(v, s->n, after); k < max && at < s->n && v[at] < below; at++)
        out[k++] = v[at];
    return k;
}

void group_seqs_stats(const struct group_seqs *m, struct group_seqs_stats *st)
{
    st->groups = m->used;
    st->seqs = m->seqs;
    st->bytes = sizeof *m + m->cap * sizeof *m->slots + m->heap;
}
