/* check_memo.c - see check_memo.h. */
#include "check_memo.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "feat.h"

struct memo_slot {
    char *text; /* a copy of the text, then the prompt's (NULL: the slot is free) */
    size_t cap; /* bytes allocated at text */
    size_t len, prompt_len;
    int has_prompt;
    uint64_t hash;
    struct check_sample s;
    int has_v;               /* v holds the text's checker features */
    double v[CHECK_NFEAT];   /* check_run_all's, with no others (check_memo_run) */
    unsigned long long used; /* the memo's tick when last filled or found */
};

/* A prompt check_memo_prompt read, and its numbers. */
struct memo_prompt {
    char *text; /* a copy of its bytes (NULL: the slot is free) */
    size_t len;
    uint64_t hash;
    unsigned long long used; /* the memo's tick when last filled or found */
    struct check_prompt p;
};

struct memo {
    struct memo_slot slot[CHECK_MEMO_SLOTS];
    unsigned long long hits, misses, tick;
    struct check_result r;                         /* check_memo_run's, read into v */
    struct memo_prompt prompt[CHECK_MEMO_PROMPTS]; /* check_memo_prompt's, by hash */
};

static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;
static int memo_key_ok;

static void memo_free(void *p)
{
    struct memo *m = p;
    for (size_t i = 0; m && i < CHECK_MEMO_SLOTS; i++)
        free(m->slot[i].text);
    for (size_t i = 0; m && i < CHECK_MEMO_PROMPTS; i++)
        free(m->prompt[i].text);
    free(m);
}

static void memo_init(void)
{
    memo_key_ok = pthread_key_create(&memo_key, memo_free) == 0;
}

/* The calling thread's memo, made on first use; NULL when none can be. */
static struct memo *memo_get(void)
{
    pthread_once(&memo_once, memo_init);
    if (!memo_key_ok)
        return NULL;
    struct memo *m = pthread_getspecific(memo_key);
    if (!m) {
        m = calloc(1, sizeof(*m));
        if (m && pthread_setspecific(memo_key, m)) {
            free(m);
            m = NULL;
        }
    }
    return m;
}

/* The key of resp[0..len) read with the prompt whose feat_fx64_wide is ph
 * (has_prompt 0: none). */
static uint64_t key_hash_of(uint64_t ph, int has_prompt, const char *resp, size_t len)
{
    uint64_t h = feat_fx64_wide(resp, len);
    return has_prompt ? h ^ (ph * 0x9E3779B97F4A7C15ULL + 1) : h;
}

static uint64_t key_hash(const char *prompt, size_t plen, const char *resp, size_t len)
{
    return key_hash_of(prompt ? feat_fx64_wide(prompt, plen) : 0, prompt != NULL, resp, len);
}

#define SETS (CHECK_MEMO_SLOTS / CHECK_MEMO_WAYS)

static size_t set_of(uint64_t hash)
{
    return (size_t)(hash >> 32) % SETS; /* the hash is finalised: any bits will do */
}

size_t check_memo_slot(const char *prompt, const char *resp, size_t len)
{
    return set_of(key_hash(prompt, prompt ? strlen(prompt) : 0, resp, len));
}

/* Whether slot e holds resp[0..len) read with prompt[0..plen). */
static int slot_holds(const struct memo_slot *e, uint64_t h, const char *prompt, size_t plen,
                      const char *resp, size_t len)
{
    return e->text && e->hash == h && e->len == len && e->has_prompt == (prompt != NULL) &&
           e->prompt_len == plen && !memcmp(e->text, resp, len) &&
           (!prompt || !memcmp(e->text + len, prompt, plen));
}

/* Keeps resp and prompt with their sample s in slot e (not when out of
 * memory: the sample is read, just not kept), in the slot's buffer when
 * it is large enough. Returns 1 when kept. */
static int slot_fill(struct memo_slot *e, uint64_t h, const char *prompt, size_t plen,
                     const char *resp, size_t len, const struct check_sample *s,
                     unsigned long long tick)
{
    char *copy = e->text;
    size_t cap = e->cap;
    if (!copy || cap < len + plen + 1) {
        cap = len + plen + 1 < 512 ? 512 : len + plen + 1;
        copy = malloc(cap);
        if (!copy)
            return 0;
        free(e->text);
    }
    memcpy(copy, resp, len);
    if (prompt)
        memcpy(copy + len, prompt, plen);
    copy[len + plen] = '\0';
    *e = (struct memo_slot){copy, cap, len, plen, prompt != NULL, h, *s, 0, {0}, tick};
    return 1;
}

/* The slot of h's set that holds resp[0..len) read with prompt[0..plen),
 * marked used, or NULL; *fill gets the slot to keep the text in: the one
 * that holds it, else a free one, else the one used least lately. */
static struct memo_slot *set_find(struct memo *m, uint64_t h, const char *prompt, size_t plen,
                                  const char *resp, size_t len, struct memo_slot **fill)
{
    struct memo_slot *set = &m->slot[set_of(h) * CHECK_MEMO_WAYS];
    m->tick++;
    *fill = &set[0];
    for (size_t w = 0; w < CHECK_MEMO_WAYS; w++) {
        struct memo_slot *e = &set[w];
        if (slot_holds(e, h, prompt, plen, resp, len)) {
            e->used = m->tick;
            *fill = e;
            return e;
        }
        if ((*fill)->text && (!e->text || e->used < (*fill)->used))
            *fill = e;
    }
    return NULL;
}

/* The sample of resp[0..len) read with prompt (plen bytes, hash ph when
 * has_prompt) and its numbers p, from the memo or read and kept. */
static int sample_lookup(struct memo *m, uint64_t ph, const char *prompt, size_t plen,
                         const struct check_prompt *p, const char *resp, size_t len,
                         struct check_sample *s)
{
    uint64_t h = key_hash_of(ph, prompt != NULL, resp, len);
    struct memo_slot *e, *hit = set_find(m, h, prompt, plen, resp, len, &e);
    if (hit) {
        m->hits++;
        *s = hit->s;
        return 0;
    }
    m->misses++;
    int rc = check_sample_read_prompt(resp, len, p, s);
    if (!rc)
        slot_fill(e, h, prompt, plen, resp, len, s, m->tick);
    return rc;
}

int check_sample_memo(const char *prompt, const struct check_prompt *p, const char *resp,
                      size_t len, struct check_sample *s)
{
    size_t plen = prompt ? strlen(prompt) : 0;
    /* A prompt without its numbers reads otherwise than with them: not kept. */
    struct memo *m =
        resp && s && (!prompt || p) && len <= CHECK_MEMO_TEXT_MAX && plen <= CHECK_MEMO_TEXT_MAX
            ? memo_get()
            : NULL;
    if (!m)
        return check_sample_read_prompt(resp, len, p, s);
    return sample_lookup(m, prompt ? feat_fx64_wide(prompt, plen) : 0, prompt, plen, p, resp, len,
                         s);
}

int check_memo_sample(const struct check_memo_prompt *mp, const char *resp, size_t len,
                      struct check_sample *s)
{
    if (!mp || !mp->text || !mp->p || !resp || !s)
        return -EINVAL;
    struct memo *m =
        len <= CHECK_MEMO_TEXT_MAX && mp->len <= CHECK_MEMO_TEXT_MAX ? memo_get() : NULL;
    if (!m)
        return check_sample_read_prompt(resp, len, mp->p, s);
    return sample_lookup(m, mp->hash, mp->text, mp->len, mp->p, resp, len, s);
}

/* check_sample_run of resp[0..len) with prompt's numbers p, no others and
 * no sentences, into *s and v (r is scratch). */
static int sample_run(const char *prompt, size_t plen, const struct check_prompt *p,
                      const char *resp, size_t len, struct check_result *r, struct check_sample *s,
                      double *v)
{
    struct check_input in = {.prompt = prompt,
                             .prompt_len = plen,
                             .resp = resp,
                             .resp_len = len,
                             .prepared = p,
                             .no_text = true};
    int rc = check_sample_run(&in, r, s);
    if (!rc)
        memcpy(v, r->v, sizeof(r->v));
    return rc;
}

int check_memo_run(const struct check_memo_prompt *mp, const char *resp, size_t len,
                   struct check_sample *s, double *v)
{
    if (!mp || !mp->text || !mp->p || !resp || !s || !v)
        return -EINVAL;
    const char *prompt = mp->text;
    size_t plen = mp->len;
    struct memo *m = memo_get();
    if (!m) { /* no memo: a result of its own */
        struct check_result *r = malloc(sizeof(*r));
        int rc = r ? sample_run(prompt, plen, mp->p, resp, len, r, s, v) : -ENOMEM;
        free(r);
        return rc;
    }
    if (len > CHECK_MEMO_TEXT_MAX || plen > CHECK_MEMO_TEXT_MAX)
        return sample_run(prompt, plen, mp->p, resp, len, &m->r, s, v);
    uint64_t h = key_hash_of(mp->hash, 1, resp, len);
    struct memo_slot *e, *hit = set_find(m, h, prompt, plen, resp, len, &e);
    if (hit && hit->has_v) {
        m->hits++;
        *s = hit->s;
        memcpy(v, hit->v, sizeof(hit->v));
        return 0;
    }
    m->misses++; /* read again for its features when kept without them */
    int rc = sample_run(prompt, plen, mp->p, resp, len, &m->r, s, v);
    if (!rc && slot_fill(e, h, prompt, plen, resp, len, s, m->tick)) { /* with its features */
        memcpy(e->v, v, sizeof(e->v));
        e->has_v = 1;
    }
    return rc;
}

/* The numbers of prompt[0..len) (hash h) from its set of the memo's
 * prompts, read into the one used least lately first when no slot holds
 * it; NULL when out of memory. */
static const struct check_prompt *prompt_slot(struct memo *m, const char *prompt, size_t len,
                                              uint64_t h)
{
    struct memo_prompt *set =
        &m->prompt[(size_t)(h >> 32) % (CHECK_MEMO_PROMPTS / CHECK_MEMO_PROMPT_WAYS) *
                   CHECK_MEMO_PROMPT_WAYS];
    struct memo_prompt *e = &set[0];
    m->tick++;
    for (size_t w = 0; w < CHECK_MEMO_PROMPT_WAYS; w++) {
        if (set[w].text && set[w].hash == h && set[w].len == len &&
            !memcmp(set[w].text, prompt, len)) {
            set[w].used = m->tick;
            return &set[w].p;
        }
        if (e->text && (!set[w].text || set[w].used < e->used))
            e = &set[w];
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, prompt, len);
    copy[len] = '\0';
    free(e->text);
    e->text = copy;
    e->len = len;
    e->hash = h;
    e->used = m->tick;
    check_prompt_init(&e->p, prompt, len); /* 0: neither argument is NULL */
    return &e->p;
}

int check_memo_prompt(const char *prompt, size_t len, struct check_memo_prompt *mp)
{
    if (!prompt || !mp)
        return -EINVAL;
    uint64_t h = feat_fx64_wide(prompt, len);
    *mp = (struct check_memo_prompt){prompt, len, h, NULL};
    struct memo *m = len <= CHECK_MEMO_TEXT_MAX ? memo_get() : NULL;
    if (m)
        mp->p = prompt_slot(m, prompt, len, h);
    return 0;
}

void check_memo_counts(unsigned long long *hits, unsigned long long *misses)
{
    struct memo *m = memo_get();
    *hits = m ? m->hits : 0;
    *misses = m ? m->misses : 0;
}
