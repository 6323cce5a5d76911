/* decompose.h - split a response into segments a person can judge one at a time.
 *
 * Pure functions: text in, byte spans out. No allocation in decompose(), no
 * store, no I/O. Every decomposer returns spans that are
 *   - valid: 0 <= start < end <= len, in increasing order, non-overlapping
 *     (criteria excepted: each of their spans is the whole trimmed text);
 *   - trimmed: text[start] and text[end - 1] are not ASCII whitespace
 *     (space, \t, \n, \v, \f, \r);
 *   - exhaustive: every non-whitespace byte of the text lies in a span, so no
 *     part of a response goes unexamined;
 *   - bounded: at most `cap` of them, whatever the input;
 *   - UTF-8 safe: no boundary falls inside a well-formed UTF-8 sequence.
 * Texts need not be NUL-terminated nor valid UTF-8; a byte of an invalid
 * sequence is an ordinary non-whitespace byte. Unicode spaces (U+00A0, ...)
 * count as text, not whitespace.
 *
 * Cap and merge: while a text yields no more than `cap` segments they are
 * returned as found. Past the cap, neighbours are merged, all to one width:
 * no group spans more than the width (unless it is one segment that long
 * by itself) and any two neighbours together span more, so the groups come
 * out of like sizes rather than one giant tail. Time is linear in len and
 * memory O(cap), however many raw segments the text holds.
 *
 * Long segments: a segment longer than max_seg_bytes is cut into pieces of
 * at most that many bytes, at the last newline in the second half of the
 * window, else the last sentence end, else the last whitespace, else the
 * last UTF-8 character boundary (a 1 MB line with no spaces becomes pieces
 * of max_seg_bytes). The count cap wins over the length limit: when pieces
 * must be merged to fit the cap, a merged segment may be longer.
 */
#ifndef RUNG_DECOMPOSE_H
#define RUNG_DECOMPOSE_H

#include <stdbool.h>
#include <stddef.h>

#define DECOMPOSE_MAX_SEGMENTS 64          /* suggested cap on segments per response */
#define DECOMPOSE_MAX_SEG_BYTES 16384      /* default length past which a segment is cut */
#define DECOMPOSE_MIN_SEG_BYTES 64         /* smallest accepted max_seg_bytes */
#define DECOMPOSE_LONG_PARAGRAPH 1200      /* default bytes past which prose is cut in sentences */
#define DECOMPOSE_QUESTION_MAX (64 * 1024) /* longest criterion text in a question */

/* How a domain's responses are split (the domain setting "decomposer"). */
enum decompose_kind {
    DECOMPOSE_NONE,       /* judged whole: no segments */
    DECOMPOSE_STEPS,      /* reasoning steps, one per line or numbered/bulleted step */
    DECOMPOSE_CODE,       /* fenced blocks, top-level code units, the prose between */
    DECOMPOSE_PARAGRAPHS, /* blank-line separated paragraphs, long ones as sentences */
    DECOMPOSE_CRITERIA,   /* one segment per rubric criterion, over the whole response */
};

/* What one segment is; the names are subquestions.kind in the schema. */
enum decompose_seg_kind {
    DECOMPOSE_SEG_STEP,
    DECOMPOSE_SEG_CODE,
    DECOMPOSE_SEG_PARAGRAPH,
    DECOMPOSE_SEG_CRITERION,
};

/* One segment: a byte span into the response. */
struct decompose_seg {
    size_t start;                 /* offset of the first byte */
    size_t end;                   /* offset one past the last byte */
    enum decompose_seg_kind kind; /* what the segment holds */
    bool final_answer;            /* steps: holds a final-answer line */
};

/* Per-call settings; a NULL pointer or a zero field means the default. */
struct decompose_opts {
    size_t max_seg_bytes;  /* cut longer segments; DECOMPOSE_MAX_SEG_BYTES */
    size_t long_paragraph; /* paragraphs and steps: cut longer ones into
                              sentences; DECOMPOSE_LONG_PARAGRAPH */
    size_t ncriteria;      /* criteria: number of configured criteria (0: none) */
};

/* Splits text[0..len) the way kind says into out[0..*n), *n <= cap.
 *
 * steps: every non-blank line is a step, except that an indented line right
 *   after a numbered or bulleted step ("1.", "2)", "Step 3:", "- ", "* ",
 *   "+ ", U+2022 and a space, a "#".."###" heading) continues it; a blank
 *   line ends a step. A final-answer line ("A: 18", "Answer: 18", "Final
 *   answer: 18", "#### 18", "The answer is 18", "So, the final answer is
 *   18", or any line holding "\boxed{") is a step of its own with
 *   final_answer set. A fenced block (see code) is one step, blank lines
 *   and all, or part of a listed step when its opening fence is indented
 *   under it. A step longer than long_paragraph bytes (a solution written
 *   on one line) is cut into sentences, as paragraphs are, each a step; a
 *   sentence that reads as a final answer is one. When the text ends with
 *   a final-answer step and cap >= 2, that step is never merged with its
 *   neighbours.
 * code: fenced blocks (a line that starts with 3 or more ` or ~, closed by
 *   a fence of the same character at least as long with nothing after it;
 *   an unclosed fence runs to the end) are code, split into top-level units; the prose between two
 * fences is one paragraph segment. A text without a fence line indented by at most 3 bytes is all
 * code. A unit ends where a line brings the bracket depth of ([{ back to 0, or before a blank line
 * or a return from indentation; the next unit starts at an unindented line at depth 0 (not "else",
 * "elif", "except", "finally" nor a closing bracket). Brackets in
 *   '...' and "..." strings closed on their line, Python triple-quoted
 *   strings and comments are not counted: # in Python (a block whose fence
 *   says py..., or any unlabelled block of a text with an unindented
 *   "def ...:" or "class ...:" line), else C and C++ comments and "# ".
 *   Fence lines belong to the first and last unit of their block. A merged
 *   group that mixes code and prose is a code segment.
 * paragraphs: blank-line separated paragraphs, each fenced block one code
 *   segment (blank lines inside it included); a prose paragraph longer than
 *   long_paragraph bytes is cut into sentences: after . ! ? and up to three
 *   closing quotes or brackets, when whitespace and then a byte other than
 *   an ASCII lower-case letter follow ("e.g. the" goes on); or after the
 *   ideographic full stop, exclamation or question mark (U+3002, U+FF01,
 *   U+FF1F).
 * criteria: o->ncriteria segments, each the whole trimmed text.
 * none: no segments.
 *
 * A text that is empty or all whitespace has no segments, in every kind.
 * Returns 0; -EINVAL when kind is unknown, text is NULL with len > 0, out or
 * n is NULL, cap is 0, or max_seg_bytes is below DECOMPOSE_MIN_SEG_BYTES;
 * -E2BIG when criteria are asked for and o->ncriteria > cap. *n is 0 on
 * error. Runs in time linear in len; never reads text[len]. The spans refer
 * to text, which is not kept. */
int decompose(enum decompose_kind kind, const char *text, size_t len,
              const struct decompose_opts *o, struct decompose_seg *out, size_t cap, size_t *n);

/* Reads a decomposer name ("steps", "code", "paragraphs", "criteria",
 * "none"; exact, lower case) into *out. Returns 0, or -EINVAL for any other
 * string or NULL (*out is then unchanged). */
int decompose_kind_parse(const char *name, enum decompose_kind *out);

/* Name of a decomposer kind, as decompose_kind_parse reads it; a static
 * string, NULL for a value outside the enum. */
const char *decompose_kind_name(enum decompose_kind kind);

/* Name of a segment kind, as subquestions.kind stores it ("step", "code",
 * "paragraph", "criterion"); a static string, NULL outside the enum. */
const char *decompose_seg_kind_name(enum decompose_seg_kind kind);

/* The question a person (or the layer) answers about one segment:
 *   step:      "Is this step correct, given the question and the steps before it?"
 *   code:      "Is this code unit correct, given the task and the code before it?"
 *   paragraph: "Is this paragraph correct and appropriate, given the prompt and
 *               what comes before it?"
 *   criterion: "Does the response satisfy: <criterion>?", the criterion with
 *              surrounding whitespace and trailing . ? ! removed.
 * criterion is read only for DECOMPOSE_SEG_CRITERION (a NUL-terminated
 * string, not kept). Returns a malloc'd NUL-terminated string the caller
 * frees with free(), or NULL when kind is unknown, a criterion is NULL,
 * empty once trimmed or longer than DECOMPOSE_QUESTION_MAX bytes, or memory
 * runs out. */
char *decompose_question(enum decompose_seg_kind kind, const char *criterion);

/* True when the response is hard enough to decompose: it has more than
 * hard_tokens tokens, a token being a maximal run of bytes that are not
 * ASCII whitespace (so hard_tokens 0 means any response with a
 * non-whitespace byte). Stops counting once past hard_tokens. A NULL
 * response counts as empty. */
bool decompose_is_hard(const char *response, size_t len, size_t hard_tokens);

#endif
