/* replay.c - the oracle, rater errors and figures of `rungd replay`. */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NUMBER_MAX 64 /* a number's digits kept for comparison, bytes incl. NUL */

struct replay_key {
    uint64_t hash; /* of prompt, a and b */
    size_t i;      /* the item */
};

struct replay_oracle {
    uint64_t seed;
    struct replay_item *v;
    size_t n, cap;
    struct replay_key *index; /* sorted by hash then item; built on demand */
    size_t indexed;           /* items the index covers */
};

/* splitmix64's finaliser: a well-mixed 64-bit function of x. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A uniform draw in [0, 1) fixed by seed, item and what is asked. */
static double draw(uint64_t seed, uint64_t item, uint64_t what)
{
    uint64_t h = mix(mix(mix(seed) ^ item) ^ what);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t fnv_add(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        h = (h ^ *p) * 0x100000001b3ull;
        if (!*p)
            return h;
    }
}

static uint64_t item_hash(const char *prompt, const char *a, const char *b)
{
    return fnv_add(fnv_add(fnv_add(0xcbf29ce484222325ull, prompt), a), b);
}

struct replay_oracle *replay_oracle_new(uint64_t seed)
{
    struct replay_oracle *o = calloc(1, sizeof *o);
    if (o)
        o->seed = seed;
    return o;
}

void replay_oracle_free(struct replay_oracle *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].prompt);
        free(o->v[i].a);
        free(o->v[i].b);
    }
    free(o->v);
    free(o->index);
    free(o);
}

size_t replay_oracle_count(const struct replay_oracle *o)
{
    return o->n;
}

const struct replay_item *replay_oracle_item(const struct replay_oracle *o, size_t i)
{
    return i < o->n ? &o->v[i] : NULL;
}

int replay_oracle_add(struct replay_oracle *o, const char *prompt, const char *chosen,
                      const char *rejected, const char *reference)
{
    if (!o || !prompt || !chosen || !rejected)
        return -EINVAL;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct replay_item *v = realloc(o->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    struct replay_item *it = &o->v[o->n];
    int swap = (int)(mix(o->seed ^ mix(o->n + 1)) & 1);
    it->prompt = strdup(prompt);
    it->a = strdup(swap ? rejected : chosen);
    it->b = strdup(swap ? chosen : rejected);
    it->correct = swap ? 'b' : 'a';
    it->wrong_step =
        reference ? replay_wrong_step(rejected, reference, prompt) : REPLAY_NO_STEP_RULE;
    if (!it->prompt || !it->a || !it->b) {
        free(it->prompt);
        free(it->a);
        free(it->b);
        return -ENOMEM;
    }
    o->n++;
    return 0;
}

static int key_cmp(const void *x, const void *y)
{
    const struct replay_key *a = x, *b = y;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int index_build(struct replay_oracle *o)
{
    if (o->indexed == o->n && o->index)
        return 0;
    struct replay_key *k = realloc(o->index, (o->n ? o->n : 1) * sizeof *k);
    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < o->n; i++)
        k[i] = (struct replay_key){item_hash(o->v[i].prompt, o->v[i].a, o->v[i].b), i};
    qsort(k, o->n, sizeof *k, key_cmp);
    o->index = k;
    o->indexed = o->n;
    return 0;
}

long replay_oracle_find(struct replay_oracle *o, const char *prompt, const char *a, const char *b)
{
    if (!prompt || !a || !b)
        return -ENOENT;
    int rc = index_build(o);
    if (rc)
        return rc;
    uint64_t h = item_hash(prompt, a, b);
    size_t lo = 0, hi = o->n;
    while (lo < hi) { /* the first key with hash >= h */
        size_t mid = lo + (hi - lo) / 2;
        if (o->index[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < o->n && o->index[lo].hash == h; lo++) {
        const struct replay_item *it = &o->v[o->index[lo].i];
        if (!strcmp(it->prompt, prompt) && !strcmp(it->a, a) && !strcmp(it->b, b))
            return (long)o->index[lo].i;
    }
    return -ENOENT;
}

const char *replay_answer_pair(const struct replay_oracle *o, size_t i, bool swapped, double err,
                               bool *flipped)
{
    char side = o->v[i].correct;
    *flipped = draw(o->seed, i, 0) < err;
    if (*flipped != swapped) /* either one turns the side over; both cancel */
        side = side == 'a' ? 'b' : 'a';
    return side == 'a' ? "a" : "b";
}

const char *replay_answer_step(const struct replay_oracle *o, size_t i, char side,
                               size_t span_start, double err, bool *flipped)
{
    const struct replay_item *it = &o->v[i];
    bool right = true;
    if (side != it->correct)
        right = it->wrong_step != REPLAY_NO_STEP_RULE &&
                replay_step_index(side == 'a' ? it->a : it->b, span_start) < it->wrong_step;
    *flipped = draw(o->seed, i, 1 + (uint64_t)(side == 'b') + 2 * (uint64_t)span_start) < err;
    return right != *flipped ? "yes" : "no";
}

/* ---- the step rule ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Copies s[0..len) to out without commas (and, with trim, without leading
 * and trailing whitespace), cut to NUMBER_MAX - 1 bytes. */
static void number_copy(const char *s, size_t len, bool trim, char out[NUMBER_MAX])
{
    size_t n = 0;
    for (size_t k = 0; k < len && n < NUMBER_MAX - 1; k++)
        if (s[k] != ',')
            out[n++] = s[k];
    out[n] = '\0';
    if (!trim)
        return;
    while (n && is_space(out[n - 1]))
        out[--n] = '\0';
    size_t lead = 0;
    while (is_space(out[lead]))
        lead++;
    memmove(out, out + lead, n - lead + 1);
}

/* The next number in s[*pos..end) as the pattern -?\d[\d,]*(\.\d+)? finds
 * it (ASCII digits), commas dropped, into out; *pos moves past it.
 * Returns true when one was found. */
static bool number_next(const char *s, size_t end, size_t *pos, char out[NUMBER_MAX])
{
    for (size_t i = *pos; i < end; i++) {
        bool minus = s[i] == '-' && i + 1 < end && is_digit(s[i + 1]);
        if (!minus && !is_digit(s[i]))
            continue;
        size_t j = i + (minus ? 2 : 1);
        while (j < end && (is_digit(s[j]) || s[j] == ','))
            j++;
        if (j + 1 < end && s[j] == '.' && is_digit(s[j + 1]))
            for (j++; j < end && is_digit(s[j]);)
                j++;
        number_copy(s + i, j - i, false, out);
        *pos = j;
        return true;
    }
    *pos = end;
    return false;
}

/* The value R of the last calculator annotation <<...=R>> in s[0..end)
 * (R after the annotation's last '=', commas dropped, trimmed), else the
 * last number. Returns false when the step has neither. */
static bool step_result(const char *s, size_t end, char out[NUMBER_MAX])
{
    bool found = false;
    for (size_t i = 0; i + 1 < end;) {
        size_t j = i + 2, eq = 0;
        if (s[i] != '<' || s[i + 1] != '<') {
            i++;
            continue;
        }
        for (; j < end && s[j] != '<' && s[j] != '>'; j++)
            if (s[j] == '=')
                eq = j;
        if (eq && j + 1 < end && s[j] == '>' && s[j + 1] == '>') {
            number_copy(s + eq + 1, j - eq - 1, true, out);
            found = true;
            i = j + 2;
        } else
            i++;
    }
    if (found)
        return true;
    char num[NUMBER_MAX];
    for (size_t pos = 0; number_next(s, end, &pos, num);) {
        memcpy(out, num, NUMBER_MAX);
        found = true;
    }
    return found;
}

struct numbers {
    char (*v)[NUMBER_MAX];
    size_t n, cap;
};

/* Adds every number of s to set. 0 or -ENOMEM. */
static int numbers_add(struct numbers *set, const char *s)
{
    char num[NUMBER_MAX];
    size_t end = strlen(s);
    for (size_t pos = 0; number_next(s, end, &pos, num);) {
        if (set->n == set->cap) {
            size_t cap = set->cap ? set->cap * 2 : 32;
            char(*v)[NUMBER_MAX] = realloc(set->v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            set->v = v;
            set->cap = cap;
        }
        memcpy(set->v[set->n++], num, NUMBER_MAX);
    }
    return 0;
}

static bool numbers_has(const struct numbers *set, const char *num)
{
    for (size_t k = 0; k < set->n; k++)
        if (!strcmp(set->v[k], num))
            return true;
    return false;
}

static bool blank(const char *s, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (!is_space(s[k]))
            return false;
    return true;
}

long replay_wrong_step(const char *solution, const char *reference, const char *question)
{
    struct numbers ref = {0};
    long steps = 0, wrong = -1;
    /* Out of memory, the set is short: more steps depart, none is missed. */
    if (numbers_add(&ref, reference) == 0)
        numbers_add(&ref, question);
    for (const char *line = solution; wrong < 0;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char result[NUMBER_MAX];
        if (!blank(line, len)) {
            if (step_result(line, len, result) && !numbers_has(&ref, result))
                wrong = steps;
            steps++;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    free(ref.v);
    if (wrong >= 0)
        return wrong;
    return steps ? steps - 1 : 0;
}

long replay_step_index(const char *text, size_t off)
{
    long n = 0;
    size_t len = strlen(text), start = 0;
    if (off > len)
        off = len;
    for (size_t k = 0; k <= off; k++)
        if (k == off || text[k] == '\n') {
            n += !blank(text + start, k - start);
            start = k + 1;
        }
    return n;
}

/* ---- figures ---- */

void replay_count_item(struct replay_row *row, const struct replay_item *it, const char *status,
                       const char *verdict, int64_t human_tasks)
{
    bool decided = status && (!strcmp(status, "resolved") || !strcmp(status, "auto")) && verdict &&
                   (!strcmp(verdict, "a") || !strcmp(verdict, "b") || !strcmp(verdict, "tie"));
    if (!decided)
        return;
    row->resolved++;
    row->auto_resolved += !strcmp(status, "auto") || human_tasks == 0;
    row->agreeing += verdict[0] == it->correct && verdict[1] == '\0';
}

static double share(int64_t num, int64_t den)
{
    return den > 0 ? (double)num / (double)den : 0.0;
}

static double saved(double ratio, int64_t den)
{
    if (den <= 0)
        return 0.0;
    double s = 1.0 - ratio;
    return s < 0.0 ? 0.0 : s > 1.0 ? 1.0 : s;
}

void replay_figures(const struct replay_row *row, int64_t overlap, struct replay_figures *f)
{
    int64_t judgements = row->items * (overlap > 0 ? overlap : 1);
    int64_t bytes = row->baseline_bytes * (overlap > 0 ? overlap : 1);
    f->tasks_per_resolved = share(row->human_tasks, row->resolved);
    f->auto_share = share(row->auto_resolved, row->items);
    f->agreement = share(row->agreeing, row->items);
    f->judgements_ratio = share(row->human_tasks, judgements);
    f->bytes_ratio = share(row->bytes_read, bytes);
    f->human_judgements_saved = saved(f->judgements_ratio, judgements);
    f->bytes_read_saved = saved(f->bytes_ratio, bytes);
}

void replay_rows_sum(const struct replay_row *rows, size_t n, struct replay_row *sum)
{
    for (size_t i = 0; i < n; i++) {
        sum->items += rows[i].items;
        sum->human_tasks += rows[i].human_tasks;
        sum->bytes_read += rows[i].bytes_read;
        sum->baseline_bytes += rows[i].baseline_bytes;
        sum->resolved += rows[i].resolved;
        sum->auto_resolved += rows[i].auto_resolved;
        sum->agreeing += rows[i].agreeing;
        sum->flipped += rows[i].flipped;
        sum->layer_answers += rows[i].layer_answers;
    }
}
