/* decompose.c - responses into judgeable segments (see decompose.h). */
#include "decompose.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"none", "steps", "code", "paragraphs", "criteria"};
static const char *const seg_names[] = {"step", "code", "paragraph", "criterion"};
static const char *const seg_questions[] = {
    "Is this step correct, given the question and the steps before it?",
    "Is this code unit correct, given the task and the code before it?",
    "Is this paragraph correct and appropriate, given the prompt and what comes before it?",
};
static const char criterion_prefix[] = "Does the response satisfy: ";

/* ASCII whitespace: the only bytes a segment may leave uncovered. */
static bool is_ws(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* First non-whitespace offset in s[from..to), or to. */
static size_t skip_ws(const unsigned char *s, size_t from, size_t to)
{
    while (from < to && is_ws(s[from]))
        from++;
    return from;
}

/* One past the last non-whitespace byte of s[from..to), or from. */
static size_t trim_end(const unsigned char *s, size_t from, size_t to)
{
    while (to > from && is_ws(s[to - 1]))
        to--;
    return to;
}

/* When s[i..b) starts with lit (lower-case ASCII, matched without case),
 * returns the offset just past it, else 0 (never a valid answer, as lit is
 * not empty). */
static size_t starts_ci(const unsigned char *s, size_t i, size_t b, const char *lit)
{
    size_t n = strlen(lit);
    if (b - i < n)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (lower(s[i + k]) != (unsigned char)lit[k])
            return 0;
    return i + n;
}

/* One line of the text. */
struct line {
    size_t start; /* first byte */
    size_t end;   /* its '\n', or the end of the text */
    size_t lead;  /* first non-whitespace byte (== tail when blank) */
    size_t tail;  /* one past the last non-whitespace byte */
};

/* Reads the line at *pos into *l and moves *pos past it; false at the end. */
static bool line_next(const unsigned char *s, size_t len, size_t *pos, struct line *l)
{
    if (*pos >= len)
        return false;
    const unsigned char *nl = memchr(s + *pos, '\n', len - *pos);
    l->start = *pos;
    l->end = nl ? (size_t)(nl - s) : len;
    l->lead = skip_ws(s, l->start, l->end);
    l->tail = trim_end(s, l->lead, l->end);
    *pos = nl ? l->end + 1 : len;
    return true;
}

static bool line_blank(const struct line *l)
{
    return l->lead == l->tail;
}

/* Collects segments into the caller's array, merging past the cap. */
struct acc {
    const unsigned char *s;    /* the text */
    struct decompose_seg *out; /* the caller's array */
    size_t n;                  /* segments in out */
    size_t cap;                /* room in out, >= 1 */
    size_t width;              /* bytes a group may span and still absorb its next
                                  neighbour; 0 until the cap is first reached */
    size_t max_seg;            /* longer segments are cut */
    size_t long_text;          /* prose past this many bytes is cut into sentences */
    struct decompose_seg held; /* the latest final-answer step, kept apart */
    bool has_held;
};

static void seg_absorb(struct decompose_seg *g, const struct decompose_seg *x)
{
    g->end = x->end;
    if (g->kind != x->kind)
        g->kind = DECOMPOSE_SEG_CODE; /* only the code decomposer mixes kinds */
    g->final_answer = g->final_answer || x->final_answer;
}

/* Merges neighbours of out[0..n) greedily: a group absorbs the next segment
 * while its span stays within width. */
static void acc_regroup(struct acc *a)
{
    size_t w = 0;
    for (size_t r = 1; r < a->n; r++) {
        if (a->out[r].end - a->out[w].start <= a->width)
            seg_absorb(&a->out[w], &a->out[r]);
        else
            a->out[++w] = a->out[r];
    }
    a->n = w + 1;
}

/* Frees a slot (or leaves one group when cap is 1) by widening the groups.
 * upto ends the segment about to be added, so the width follows all the
 * text seen so far. After greedy grouping any two neighbours together span
 * more than the width, so a width of 2 * span / cap leaves at most cap
 * groups, and doubling it until a slot is free at most cap / 2 + 1. Each
 * call at least doubles the width, so a text of len bytes costs at most
 * log2(len) compactions of O(cap) each. */
static void acc_compact(struct acc *a, size_t upto)
{
    size_t span = upto - a->out[0].start;
    size_t w = (span / a->cap + 1) * 2;
    a->width = a->width > SIZE_MAX / 2 ? SIZE_MAX : a->width * 2;
    if (a->width < w)
        a->width = w;
    acc_regroup(a);
    while (a->n >= a->cap && a->n > 1) {
        a->width = a->width > SIZE_MAX / 2 ? SIZE_MAX : a->width * 2;
        acc_regroup(a);
    }
}

static void acc_put(struct acc *a, struct decompose_seg seg)
{
    if (a->n == a->cap)
        acc_compact(a, seg.end);
    if (a->n && (a->n == a->cap || seg.end - a->out[a->n - 1].start <= a->width))
        seg_absorb(&a->out[a->n - 1], &seg);
    else
        a->out[a->n++] = seg;
}

/* When p falls inside a well-formed UTF-8 sequence of s[start..end) that
 * began before it, returns where that sequence starts; else p. */
static size_t char_boundary(const unsigned char *s, size_t start, size_t end, size_t p)
{
    for (size_t k = 1; k <= 3 && p - start >= k; k++) {
        unsigned char c = s[p - k];
        if (c < 0x80)
            return p; /* ASCII: no sequence crosses p */
        if (c >= 0xc0) {
            size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            bool inside = n > k && p - k + n <= end && util_utf8_valid((const char *)s + p - k, n);
            return inside ? p - k : p;
        }
    }
    return p;
}

/* Where to cut s[start..end), longer than max bytes, so the first piece
 * has at most max bytes: the last newline, else sentence end, else
 * whitespace in the window's second half, else a character boundary. */
static size_t cut_point(const unsigned char *s, size_t start, size_t end, size_t max)
{
    size_t hi = start + max, lo = start + max / 2, sentence = 0, space = 0;
    for (size_t p = hi; p > lo; p--) {
        if (s[p] == '\n')
            return p;
        if (!is_ws(s[p]))
            continue;
        if (!space)
            space = p;
        if (!sentence && (s[p - 1] == '.' || s[p - 1] == '!' || s[p - 1] == '?'))
            sentence = p;
    }
    if (sentence)
        return sentence;
    return space ? space : char_boundary(s, start, end, hi);
}

/* Adds the trimmed span s[start..end), cut into pieces of at most max_seg. */
static void acc_add(struct acc *a, size_t start, size_t end, enum decompose_seg_kind kind,
                    bool final)
{
    while (end - start > a->max_seg) {
        size_t p = cut_point(a->s, start, end, a->max_seg);
        acc_put(a, (struct decompose_seg){start, trim_end(a->s, start, p), kind, final});
        start = skip_ws(a->s, p, end);
    }
    acc_put(a, (struct decompose_seg){start, end, kind, final});
}

/* Adds a step. A final-answer step is held back until the next step comes:
 * if none does, acc_finish adds it on its own, never merged. */
static void acc_step(struct acc *a, size_t start, size_t end, bool final)
{
    if (a->has_held) {
        a->has_held = false;
        acc_add(a, a->held.start, a->held.end, DECOMPOSE_SEG_STEP, true);
    }
    if (final && a->cap >= 2 && end - start <= a->max_seg) {
        a->held = (struct decompose_seg){start, end, DECOMPOSE_SEG_STEP, true};
        a->has_held = true;
        return;
    }
    acc_add(a, start, end, DECOMPOSE_SEG_STEP, final);
}

static void acc_finish(struct acc *a)
{
    if (!a->has_held)
        return;
    if (a->n == a->cap)
        acc_compact(a, a->held.end); /* leaves a free slot, as cap >= 2 */
    a->out[a->n++] = a->held;
    a->has_held = false;
}

/* ---- fenced blocks ---- */

/* Length of the run of 3 or more backticks or tildes that begins s[a..b),
 * or 0. */
static size_t fence_len(const unsigned char *s, size_t a, size_t b)
{
    unsigned char f = s[a];
    size_t i = a;
    if (f != '`' && f != '~')
        return 0;
    while (i < b && s[i] == f)
        i++;
    return i - a >= 3 ? i - a : 0;
}

/* An open fenced block: its fence character (0 when none) and length. */
struct fence {
    unsigned char ch;
    size_t n;
};

enum fence_role { FENCE_OUTSIDE, FENCE_OPENS, FENCE_INSIDE, FENCE_CLOSES };

/* Where line l stands with respect to fenced blocks; moves *f past it. A
 * block is closed by a fence of its character, at least as long, with
 * nothing after it. */
static enum fence_role fence_next(struct fence *f, const unsigned char *s, const struct line *l)
{
    size_t n = line_blank(l) ? 0 : fence_len(s, l->lead, l->tail);
    if (!f->ch) {
        if (!n)
            return FENCE_OUTSIDE;
        f->ch = s[l->lead];
        f->n = n;
        return FENCE_OPENS;
    }
    if (n >= f->n && s[l->lead] == f->ch && l->lead + n == l->tail) {
        f->ch = 0;
        return FENCE_CLOSES;
    }
    return FENCE_INSIDE;
}

/* ---- final answers and step markers ---- */

/* "so", "thus", ... and a comma: skipped before "the answer is". */
static size_t skip_connective(const unsigned char *s, size_t i, size_t b)
{
    static const char *const words[] = {"so", "thus", "therefore", "hence"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t p = starts_ci(s, i, b, words[k]);
        if (p && p < b && (s[p] == ',' || is_ws(s[p])))
            return skip_ws(s, s[p] == ',' ? p + 1 : p, b);
    }
    return i;
}

/* Is the line content s[a..b) a final answer (see decompose.h)? */
static bool is_final_answer(const unsigned char *s, size_t a, size_t b)
{
    if (memmem(s + a, b - a, "\\boxed{", 7))
        return true;
    if (b - a >= 4 && memcmp(s + a, "####", 4) == 0)
        return a + 4 == b || is_ws(s[a + 4]);
    size_t i = a;
    while (i < b && i - a < 2 && s[i] == '*')
        i++; /* "**Answer:**" */
    if (b - i >= 2 && s[i] == 'A' && s[i + 1] == ':')
        return true;
    if (starts_ci(s, i, b, "answer:") || starts_ci(s, i, b, "final answer:"))
        return true;
    i = skip_connective(s, i, b);
    size_t p = starts_ci(s, i, b, "the answer is");
    if (!p)
        p = starts_ci(s, i, b, "the final answer is");
    return p && (p == b || is_ws(s[p]) || s[p] == ':');
}

/* Does the line content s[a..b) open a numbered or bulleted step? */
static bool is_step_marker(const unsigned char *s, size_t a, size_t b)
{
    size_t i = a;
    while (i < b && i - a < 3 && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i > a)
        return i < b && (s[i] == '.' || s[i] == ')') && (i + 1 == b || is_ws(s[i + 1]));
    if (s[a] == '-' || s[a] == '*' || s[a] == '+')
        return a + 1 < b && is_ws(s[a + 1]);
    if (b - a > 3 && memcmp(s + a, "\xe2\x80\xa2", 3) == 0) /* U+2022 bullet */
        return is_ws(s[a + 3]);
    while (i < b && i - a < 4 && s[i] == '#')
        i++;
    if (i > a)
        return i - a <= 3 && i < b && is_ws(s[i]);
    if (b - a > 2 && s[a] == '*' && s[a + 1] == '*')
        i += 2; /* "**Step 2:**" */
    size_t p = starts_ci(s, i, b, "step ");
    return p && p < b && s[p] >= '0' && s[p] <= '9';
}

/* ---- sentences ---- */

static bool is_closer(unsigned char c)
{
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '*';
}

/* When a sentence ends at s[i], returns one past its end (closers
 * included), else 0. Never at the paragraph's end pe: the caller adds the
 * rest itself. */
static size_t sentence_end(const unsigned char *s, size_t i, size_t pe)
{
    static const char cjk[][4] = {"\xe3\x80\x82", "\xef\xbc\x81", "\xef\xbc\x9f"}; /* 。！？ */
    unsigned char c = s[i];
    if (c >= 0x80) {
        for (size_t k = 0; k < sizeof cjk / sizeof cjk[0]; k++)
            if (pe - i > 3 && memcmp(s + i, cjk[k], 3) == 0)
                return i + 3;
        return 0;
    }
    if (c != '.' && c != '!' && c != '?')
        return 0;
    size_t j = i + 1;
    while (j < pe && j - i <= 3 && is_closer(s[j]))
        j++;
    if (j == pe || !is_ws(s[j]))
        return 0;
    size_t k = skip_ws(s, j, pe);
    return (s[k] >= 'a' && s[k] <= 'z') ? 0 : j;
}

/* Adds one sentence; as a step, one that reads as a final answer is
 * flagged (and held back, see acc_step). */
static void sentence_add(struct acc *a, size_t start, size_t end, enum decompose_seg_kind kind)
{
    if (kind == DECOMPOSE_SEG_STEP)
        acc_step(a, start, end, is_final_answer(a->s, start, end));
    else
        acc_add(a, start, end, kind, false);
}

/* Adds the sentences of s[ps..pe) as segments of the given kind. */
static void sentences(struct acc *a, size_t ps, size_t pe, enum decompose_seg_kind kind)
{
    size_t st = ps;
    for (size_t i = ps; i < pe; i++) {
        size_t e = sentence_end(a->s, i, pe);
        if (!e)
            continue;
        sentence_add(a, st, e, kind);
        st = skip_ws(a->s, e, pe);
        i = st - 1;
    }
    sentence_add(a, st, pe, kind);
}

/* ---- steps ---- */

/* Adds a step that is not a final-answer line: one longer than long_text
 * (a solution written on one line) as its sentences. */
static void step_close(struct acc *a, size_t start, size_t end)
{
    if (end - start > a->long_text)
        sentences(a, start, end, DECOMPOSE_SEG_STEP);
    else
        acc_step(a, start, end, false);
}

static void steps_run(struct acc *a, size_t len)
{
    const unsigned char *s = a->s;
    struct fence f = {0, 0};
    struct line l;
    size_t pos = 0, cs = 0, ce = 0;
    bool open = false, listed = false; /* a step is open; it began with a marker */

    while (line_next(s, len, &pos, &l)) {
        enum fence_role role = fence_next(&f, s, &l);
        if (role == FENCE_INSIDE || role == FENCE_CLOSES) {
            ce = line_blank(&l) ? ce : l.tail; /* the block's opening line opened a step */
            continue;
        }
        if (line_blank(&l)) {
            if (open)
                step_close(a, cs, ce);
            open = false;
            continue;
        }
        bool text = role == FENCE_OUTSIDE;
        bool final = text && is_final_answer(s, l.lead, l.tail);
        bool marker = text && !final && is_step_marker(s, l.lead, l.tail);
        if (open && listed && !final && !marker && l.lead > l.start) {
            ce = l.tail; /* an indented line continues a listed step */
            continue;
        }
        if (open)
            step_close(a, cs, ce);
        open = !final;
        if (final)
            acc_step(a, l.lead, l.tail, true);
        cs = l.lead;
        ce = l.tail;
        listed = marker;
    }
    if (open)
        step_close(a, cs, ce);
    acc_finish(a);
}

/* ---- code ---- */

/* Is the text Markdown with fenced code: does a fence open a line indented
 * by at most 3 bytes? Deeper ones (a ~~~ in an indented docstring of a bare
 * source file) do not make prose of the code around them; once a text has
 * fences, fences at any indentation (in list items) count. */
static bool has_fence(const unsigned char *s, size_t len)
{
    struct line l;
    size_t pos = 0;
    while (line_next(s, len, &pos, &l))
        if (!line_blank(&l) && l.lead - l.start <= 3 && fence_len(s, l.lead, l.tail))
            return true;
    return false;
}

/* Splits code into top-level units, one line at a time. */
struct code_state {
    struct acc *a;
    size_t us, ue;        /* span of the open unit */
    size_t base;          /* indentation of the enclosing fence, in bytes */
    size_t depth;         /* bracket depth of ([{ */
    unsigned char triple; /* quote of the open """ or ''' string, or 0 */
    bool comment;         /* inside a block comment */
    bool unit;            /* a unit is open */
    bool fresh;           /* the open unit holds only its opening fence */
    bool blank;           /* a blank line at depth 0 came since the last line */
    bool prev_indented;   /* the last line was indented */
    bool python;          /* the block is Python: // divides, # comments */
    bool text_python;     /* the whole text looks like Python */
    bool block_ended;     /* the last line closed a multi-line bracket */
    struct fence fence;   /* the open fenced block */
    size_t ps, pe;        /* span of the open prose stretch */
    bool prose;           /* a prose stretch is open */
};

static void code_close(struct code_state *c)
{
    if (c->unit)
        acc_add(c->a, c->us, c->ue, DECOMPOSE_SEG_CODE, false);
    c->unit = false;
}

static bool triple_at(const unsigned char *s, size_t i, size_t b, unsigned char q)
{
    return i + 2 < b && s[i] == q && s[i + 1] == q && s[i + 2] == q;
}

/* Offset of the quote that closes the string or character literal opened
 * by the quote at s[i] on this line (escapes skipped), or 0 when the line
 * has none: the quote is then an apostrophe, a Rust lifetime or the start
 * of a string continued on the next line, and counts for nothing. */
static size_t quote_end(const unsigned char *s, size_t i, size_t b)
{
    for (size_t j = i + 1; j < b; j++) {
        if (s[j] == '\\')
            j++;
        else if (s[j] == s[i])
            return j;
    }
    return 0;
}

/* Does a comment to the end of the line start at s[i]? */
static bool line_comment(const struct code_state *c, const unsigned char *s, size_t i, size_t b)
{
    if (c->python)
        return s[i] == '#';
    return i + 1 < b && ((s[i] == '/' && s[i + 1] == '/') || (s[i] == '#' && s[i + 1] == ' '));
}

/* Moves the bracket depth over the line content s[a..b). Once a quote
 * finds no partner, later quotes of its kind on the line are not looked
 * at: one search per kind and line keeps a line of a million quotes
 * linear. */
static void lex_line(struct code_state *c, const unsigned char *s, size_t a, size_t b)
{
    bool lone[2] = {false, false}; /* a ' or a " found no partner */
    for (size_t i = a; i < b; i++) {
        unsigned char ch = s[i];
        if (c->comment) {
            if (ch == '*' && i + 1 < b && s[i + 1] == '/') {
                c->comment = false;
                i++;
            }
        } else if (c->triple) {
            if (triple_at(s, i, b, c->triple)) {
                c->triple = 0;
                i += 2;
            }
        } else if (ch == '(' || ch == '[' || ch == '{') {
            c->depth++;
        } else if (ch == ')' || ch == ']' || ch == '}') {
            c->depth -= c->depth > 0;
        } else if ((ch == '"' || ch == '\'') && triple_at(s, i, b, ch)) {
            c->triple = ch;
            i += 2;
        } else if ((ch == '"' || ch == '\'') && !lone[ch == '"']) {
            size_t e = quote_end(s, i, b);
            lone[ch == '"'] = e == 0;
            i = e ? e : i;
        } else if (line_comment(c, s, i, b)) {
            return;
        } else if (ch == '/' && i + 1 < b && s[i + 1] == '*') {
            c->comment = true;
            i++;
        }
    }
}

/* Does the line content s[a..b) carry on the statement before it ("else",
 * "elif", "except", "finally", a closing bracket)? */
static bool continues(const unsigned char *s, size_t a, size_t b)
{
    static const char *const words[] = {"else", "elif", "except", "finally"};
    if (s[a] == ')' || s[a] == ']' || s[a] == '}')
        return true;
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t p = starts_ci(s, a, b, words[k]);
        if (p && (p == b || s[p] == ':' || s[p] == ' ' || s[p] == '{' || s[p] == '('))
            return true;
    }
    return false;
}

/* One line inside code: starts a new unit or extends the open one. */
static void code_line(struct code_state *c, const unsigned char *s, const struct line *l)
{
    if (line_blank(l)) {
        c->blank = c->blank || c->depth == 0;
        return;
    }
    bool indented = l->lead - l->start > c->base;
    bool top = c->depth == 0 && !c->comment && !c->triple && !indented;
    if (!c->unit || (top && !c->fresh && (c->blank || c->block_ended || c->prev_indented) &&
                     !continues(s, l->lead, l->tail))) {
        code_close(c);
        c->unit = true;
        c->us = l->lead;
    }
    c->ue = l->tail;
    size_t d0 = c->depth;
    lex_line(c, s, l->lead, l->tail);
    c->block_ended = d0 > 0 && c->depth == 0;
    c->prev_indented = indented;
    c->blank = false;
    c->fresh = false;
}

/* Opens a unit at the opening fence line l of a block. */
static void code_open_fence(struct code_state *c, const struct line *l)
{
    struct acc *a = c->a;
    if (c->prose)
        acc_add(a, c->ps, c->pe, DECOMPOSE_SEG_PARAGRAPH, false);
    c->prose = false;
    size_t info = skip_ws(a->s, l->lead + c->fence.n, l->tail);
    c->python = info < l->tail ? starts_ci(a->s, info, l->tail, "py") != 0 : c->text_python;
    c->base = l->lead - l->start;
    c->depth = 0;
    c->triple = 0;
    c->comment = c->blank = c->prev_indented = c->block_ended = false;
    c->unit = c->fresh = true;
    c->us = l->lead;
    c->ue = l->tail;
}

/* One line of a text that has fences. */
static void code_fenced_line(struct code_state *c, const unsigned char *s, const struct line *l)
{
    enum fence_role role = fence_next(&c->fence, s, l);
    if (role == FENCE_CLOSES) {
        c->ue = l->tail; /* the closing fence ends the last unit */
        code_close(c);
    } else if (role == FENCE_INSIDE) {
        code_line(c, s, l);
    } else if (role == FENCE_OPENS) {
        code_open_fence(c, l);
    } else if (!line_blank(l)) {
        if (!c->prose)
            c->ps = l->lead;
        c->prose = true;
        c->pe = l->tail;
    }
}

/* Does the text hold a Python definition: an unindented line that starts
 * with "def " or "class " and ends with ':'? (A JS or C++ class line ends
 * with '{'.) */
static bool looks_python(const unsigned char *s, size_t len)
{
    struct line l;
    size_t pos = 0;
    while (line_next(s, len, &pos, &l))
        if (l.lead == l.start && l.lead < l.tail && s[l.tail - 1] == ':' &&
            (starts_ci(s, l.lead, l.tail, "def ") || starts_ci(s, l.lead, l.tail, "class ")))
            return true;
    return false;
}

static void code_run(struct acc *a, size_t len)
{
    struct code_state c = {.a = a};
    struct line l;
    size_t pos = 0;
    bool fenced = has_fence(a->s, len);
    c.text_python = c.python = looks_python(a->s, len);

    while (line_next(a->s, len, &pos, &l)) {
        if (fenced)
            code_fenced_line(&c, a->s, &l);
        else
            code_line(&c, a->s, &l);
    }
    if (c.prose)
        acc_add(a, c.ps, c.pe, DECOMPOSE_SEG_PARAGRAPH, false);
    code_close(&c);
}

/* ---- paragraphs ---- */

/* Adds one paragraph: a fenced block whole, prose cut into sentences when
 * longer than long_text. */
static void paragraph_add(struct acc *a, size_t ps, size_t pe, bool code)
{
    if (code)
        acc_add(a, ps, pe, DECOMPOSE_SEG_CODE, false);
    else if (pe - ps > a->long_text)
        sentences(a, ps, pe, DECOMPOSE_SEG_PARAGRAPH);
    else
        acc_add(a, ps, pe, DECOMPOSE_SEG_PARAGRAPH, false);
}

static void paragraphs_run(struct acc *a, size_t len)
{
    struct fence f = {0, 0};
    struct line l;
    size_t pos = 0, ps = 0, pe = 0;
    bool open = false, code = false; /* a paragraph is open; it is a fenced block */

    while (line_next(a->s, len, &pos, &l)) {
        enum fence_role role = fence_next(&f, a->s, &l);
        if (role == FENCE_OPENS || (role == FENCE_OUTSIDE && line_blank(&l))) {
            if (open)
                paragraph_add(a, ps, pe, code);
            open = code = role == FENCE_OPENS;
            ps = l.lead;
        }
        if (line_blank(&l))
            continue;
        if (!open)
            ps = l.lead;
        open = true;
        pe = l.tail;
        if (role == FENCE_CLOSES) {
            paragraph_add(a, ps, pe, true);
            open = code = false;
        }
    }
    if (open)
        paragraph_add(a, ps, pe, code);
}

/* ---- the interface ---- */

static void criteria_run(struct acc *a, size_t len, size_t ncriteria)
{
    size_t start = skip_ws(a->s, 0, len), end = trim_end(a->s, start, len);
    if (start == end)
        return;
    for (a->n = 0; a->n < ncriteria; a->n++)
        a->out[a->n] = (struct decompose_seg){start, end, DECOMPOSE_SEG_CRITERION, false};
}

int decompose(enum decompose_kind kind, const char *text, size_t len,
              const struct decompose_opts *o, struct decompose_seg *out, size_t cap, size_t *n)
{
    struct decompose_opts d = {0, 0, 0};
    if (n)
        *n = 0;
    if (o)
        d = *o;
    if (!d.max_seg_bytes)
        d.max_seg_bytes = DECOMPOSE_MAX_SEG_BYTES;
    if (!d.long_paragraph)
        d.long_paragraph = DECOMPOSE_LONG_PARAGRAPH;
    if (!n || !out || !cap || (!text && len) || (unsigned)kind > DECOMPOSE_CRITERIA ||
        d.max_seg_bytes < DECOMPOSE_MIN_SEG_BYTES)
        return -EINVAL;
    if (kind == DECOMPOSE_CRITERIA && d.ncriteria > cap)
        return -E2BIG;

    struct acc a = {.s = (const unsigned char *)text,
                    .out = out,
                    .cap = cap,
                    .max_seg = d.max_seg_bytes,
                    .long_text = d.long_paragraph};
    if (kind == DECOMPOSE_STEPS)
        steps_run(&a, len);
    else if (kind == DECOMPOSE_CODE)
        code_run(&a, len);
    else if (kind == DECOMPOSE_PARAGRAPHS)
        paragraphs_run(&a, len);
    else if (kind == DECOMPOSE_CRITERIA)
        criteria_run(&a, len, d.ncriteria);
    *n = a.n;
    return 0;
}

int decompose_kind_parse(const char *name, enum decompose_kind *out)
{
    for (size_t k = 0; name && k < sizeof kind_names / sizeof kind_names[0]; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (enum decompose_kind)k;
            return 0;
        }
    }
    return -EINVAL;
}

const char *decompose_kind_name(enum decompose_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : NULL;
}

const char *decompose_seg_kind_name(enum decompose_seg_kind kind)
{
    return (unsigned)kind < sizeof seg_names / sizeof seg_names[0] ? seg_names[kind] : NULL;
}

char *decompose_question(enum decompose_seg_kind kind, const char *criterion)
{
    if ((unsigned)kind < sizeof seg_questions / sizeof seg_questions[0])
        return strdup(seg_questions[kind]);
    if (kind != DECOMPOSE_SEG_CRITERION || !criterion)
        return NULL;
    const unsigned char *c = (const unsigned char *)criterion;
    size_t a = skip_ws(c, 0, strlen(criterion)), b = strlen(criterion);
    while (b > a && (is_ws(c[b - 1]) || c[b - 1] == '.' || c[b - 1] == '?' || c[b - 1] == '!'))
        b--;
    if (a == b || b - a > DECOMPOSE_QUESTION_MAX)
        return NULL;
    size_t np = sizeof criterion_prefix - 1;
    char *q = malloc(np + (b - a) + 2);
    if (!q)
        return NULL;
    memcpy(q, criterion_prefix, np);
    memcpy(q + np, criterion + a, b - a);
    q[np + (b - a)] = '?';
    q[np + (b - a) + 1] = '\0';
    return q;
}

bool decompose_is_hard(const char *response, size_t len, size_t hard_tokens)
{
    const unsigned char *s = (const unsigned char *)response;
    size_t tokens = 0;
    if (!s)
        return false;
    for (size_t i = skip_ws(s, 0, len); i < len; i = skip_ws(s, i, len)) {
        if (++tokens > hard_tokens)
            return true;
        while (i < len && !is_ws(s[i]))
            i++;
    }
    return false;
}
