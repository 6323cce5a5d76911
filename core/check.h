/* check.h - pure checkers: signals an n-gram model cannot see.
 *
 * Five checkers read a response (and the prompt, and the answers of the other
 * samples of the same prompt) and give two things: a fixed set of named dense
 * features (enum check_feat, names in check_feat_name) for the reward layer,
 * and findings with exact byte spans into the response for raters.
 *
 *   answer     the final answer ("A: 18", "#### 18", "The answer is $1,200.",
 *              "\boxed{3/4}", else the last number, flagged as a fallback),
 *              normalised to a number or a canonical string;
 *   agreement  how many of the group's other samples share that answer;
 *   arithmetic calculator annotations <<48/2=24>> and inline "a op b = c"
 *              recomputed by a small evaluator of our own (check_eval);
 *   numbers    the share of the prompt's numbers the response uses, and the
 *              numbers it introduces from nowhere;
 *   form       repetition, truncation, unbalanced fences or brackets, refusals.
 *
 * All text is untrusted: it need not be NUL-terminated nor valid UTF-8, no
 * function reads past the length it is given, work is linear in the length
 * (each checker states its constant), and findings are capped. Nothing here
 * allocates memory the caller must free: results live in the caller's
 * struct check_result. Every function is thread-safe (no shared state).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef RUNG_CHECK_H
#define RUNG_CHECK_H

#define CHECK_FINDINGS_MAX 48  /* findings kept per result; more are counted */
#define CHECK_TEXT_MAX 96      /* bytes of a finding's sentence, with its NUL */
#define CHECK_CANON_MAX 48     /* bytes of a canonical answer, with its NUL */
#define CHECK_NUM_MAX 40       /* longest number (bytes) that gets a value */
#define CHECK_EXPR_MAX 256     /* longest expression check_eval accepts */
#define CHECK_DEPTH_MAX 64     /* deepest nesting check_eval accepts */
#define CHECK_GROUP_DEFAULT 64 /* samples of a group the agreement uses */

/* Dense features, in this order in check_result.v. Counts are raw counts;
 * shares are in [0, 1]; flags are 0 or 1. A checker that did not run leaves
 * its features at 0. */
enum check_feat {
    CHECK_ANSWER_FOUND,        /* flag: an explicit final answer was found */
    CHECK_ANSWER_FALLBACK,     /* flag: only the last number, as a fallback */
    CHECK_ANSWER_NUMERIC,      /* flag: the answer normalised to a number */
    CHECK_AGREE_SHARE,         /* share of the other samples with this answer */
    CHECK_AGREE_TOP_SHARE,     /* largest answer cluster / samples used */
    CHECK_AGREE_IN_TOP,        /* flag: this answer's cluster is a largest one */
    CHECK_ARITH_CHECKED,       /* count: equations evaluated */
    CHECK_ARITH_WRONG,         /* count: equations whose result is wrong */
    CHECK_ARITH_UNEVAL,        /* count: equations that cannot be evaluated */
    CHECK_NUMBERS_USED_SHARE,  /* share of the prompt's distinct numbers used */
    CHECK_NUMBERS_UNEXPLAINED, /* count: numbers from neither prompt nor result */
    CHECK_FORM_REPETITION,     /* share of word 4-grams seen before in the text */
    CHECK_FORM_TRUNCATED,      /* flag: ends mid-sentence or in an open fence */
    CHECK_FORM_UNBALANCED,     /* flag: unbalanced code fences or brackets */
    CHECK_FORM_REFUSAL,        /* count: refusal phrases */
    CHECK_NFEAT
};

/* The name of each feature ("answer_found", ...), indexed by enum check_feat. */
extern const char *const check_feat_name[CHECK_NFEAT];

/* The checkers, as a domain's settings name them (a bit each in a mask). */
enum check_kind {
    CHECK_KIND_ANSWER,
    CHECK_KIND_AGREEMENT,
    CHECK_KIND_ARITHMETIC,
    CHECK_KIND_NUMBERS,
    CHECK_KIND_FORM,
    CHECK_KINDS
};
#define CHECK_KINDS_ALL ((1u << CHECK_KINDS) - 1) /* every checker */

/* "answer", "agreement", "arithmetic", "numbers", "form": the names of the
 * checkers, as in struct check_finding.checker. */
extern const char *const check_kind_name[CHECK_KINDS];

/* The enum check_kind of name, or -1 when it names no checker. */
int check_kind_parse(const char *name);

enum check_verdict { CHECK_PASS, CHECK_FAIL, CHECK_INFO };

/* One finding: what a checker says about a span of the response. */
struct check_finding {
    const char *checker; /* static: "answer", "agreement", "arithmetic", ... */
    const char *code;    /* static short code: "arith_wrong", "refusal", ... */
    enum check_verdict verdict;
    size_t start;              /* byte offset of the span in the response */
    size_t len;                /* bytes of the span; 0 for the whole text */
    char text[CHECK_TEXT_MAX]; /* a short sentence; quotes no response bytes */
};

/* Features and findings of one response. Plain data: copy it, drop it. */
struct check_result {
    double v[CHECK_NFEAT];                      /* features, by enum check_feat */
    struct check_finding f[CHECK_FINDINGS_MAX]; /* findings, in checker order */
    size_t nf;                                  /* findings in use */
    size_t dropped;                             /* findings past the cap */
    bool no_text; /* check_add leaves the sentences out (check_input.no_text) */
};

/* Empties r: all features 0, no findings, sentences written. Cannot fail. */
void check_result_init(struct check_result *r);

/* The name of a verdict: "pass", "fail" or "info". */
const char *check_verdict_name(enum check_verdict v);

/* ---- numbers ---------------------------------------------------------- */

/* One number as written: digits with optional thousands commas (groups of
 * exactly three digits: "1,200" but not "1,20"), an optional fraction
 * (".5", "2.50"). No sign: callers decide what a '-' means. */
struct check_num {
    double v;     /* value; meaningful only when ok */
    size_t len;   /* bytes consumed from the start offset; 0 when none */
    int decimals; /* digits written after the point */
    int ok;       /* 0 when longer than CHECK_NUM_MAX (consumed, no value) */
};

/* Reads the number that starts at s[i] (i < len) into *out. Returns
 * out->len: 0 when s[i] starts no number. Reads no further than len. */
size_t check_scan_number(const char *s, size_t len, size_t i, struct check_num *out);

/* ---- answer ----------------------------------------------------------- */

enum check_answer_kind {
    CHECK_ANS_NONE,     /* nothing found */
    CHECK_ANS_MARKED,   /* after "A:", "Answer:", "####" or "the answer is" */
    CHECK_ANS_BOXED,    /* inside \boxed{...} */
    CHECK_ANS_FALLBACK, /* the last number of the text */
};

/* A final answer, normalised. Two answers compare with check_answer_equal. */
struct check_answer {
    enum check_answer_kind kind;
    size_t start, len;           /* span of the answer text in the response */
    int numeric;                 /* 1 when value holds the answer */
    int percent;                 /* 1 when written with '%' (value not / 100) */
    double value;                /* the number: "$1,200.00" 1200, "3/4" 0.75 */
    char canon[CHECK_CANON_MAX]; /* "1200", "0.75", or lowercased text */
};

/* Finds and normalises the final answer of resp[0..len). \boxed{} wins over
 * the markers, markers over the fallback; of several, the last one wins.
 * A marked answer is the rest of its line (of its sentence after "the
 * answer is"), at most 256 bytes after the marker. Normalising drops
 * currency signs ($ € £), thousands commas, trailing units and words, a
 * trailing '.'; reads fractions ("3/4", "\frac{3}{4}", "1 1/2") and percents
 * ("25%" stays 25: GSM8K writes percent answers without the sign). canon of
 * a number is its shortest decimal form with at most 6 decimals ("0.75",
 * "1200", "-3"); of text, up to 47 bytes lowercased, spaces collapsed.
 * Adds the answer finding to r when r is not NULL. Returns 0, or -EINVAL
 * when resp is NULL with len > 0 or out is NULL. Linear in len. */
int check_answer(const char *resp, size_t len, struct check_answer *out, struct check_result *r);

/* 1 when a and b are the same answer, else 0. Numbers are equal when they
 * differ by at most 1e-6 relative (of the larger, at least 1): "3/4",
 * "\frac{3}{4}" and "0.75" are equal ("75%" is 75, not 0.75). Text answers
 * are equal when their canon strings are. An absent answer equals nothing. */
int check_answer_equal(const struct check_answer *a, const struct check_answer *b);

/* ---- agreement -------------------------------------------------------- */

/* Counts of the agreement checker, for reports. */
struct check_agree_stats {
    size_t used;    /* samples used: self plus others, at most max_samples */
    size_t same;    /* others with the same answer as self */
    size_t largest; /* size of the largest answer cluster among used */
};

/* Compares self with the first others (at most max_samples - 1 of them;
 * max_samples 0 means CHECK_GROUP_DEFAULT) and sets CHECK_AGREE_* in r and
 * adds an info finding (no span). The share is 0 when there are no others.
 * Absent answers form no cluster. Work is O(max_samples^2). Fills *st when
 * st is not NULL. Returns 0, or -EINVAL when self or r is NULL or others is
 * NULL with n > 0. */
int check_agree(const struct check_answer *self, const struct check_answer *others, size_t n,
                size_t max_samples, struct check_result *r, struct check_agree_stats *st);

/* What check_agree sets and adds for cluster sizes it was given: used
 * samples (self among them, used >= 1), own the size of self's cluster (0
 * when self's answer equals nothing), largest the largest (own <= largest
 * <= used). For callers that count the clusters of a whole group once for
 * several of its samples. Returns 0, or -EINVAL when r is NULL or the
 * sizes cannot be. */
int check_agree_sizes(size_t used, size_t own, size_t largest, struct check_result *r,
                      struct check_agree_stats *st);

/* ---- arithmetic ------------------------------------------------------- */

/* Evaluates expr[0..len): numbers as check_scan_number reads them, '$' and
 * spaces ignored, binary + - * / x × ÷ ^ ** (power, right-associative) and %
 * (a '%' followed by an operand is the remainder, otherwise it is a percent:
 * x% = x / 100), parentheses, unary minus (-2^2 = -4). *ops gets the number
 * of binary operations (may be NULL). Returns 0 with *out finite; -EINVAL
 * when malformed; -E2BIG when longer than CHECK_EXPR_MAX bytes or nested
 * deeper than CHECK_DEPTH_MAX; -EDOM on division or remainder by zero, a
 * non-finite result or overflow (2^99999). Never evaluates anything else. */
int check_eval(const char *expr, size_t len, double *out, int *ops);

/* One equation found in a response. */
struct check_equation {
    size_t start, len; /* the whole equation: "16 - 3 = 13", "<<48/2=24>>" */
    size_t eq_off;     /* offset of its '=' */
    int annotation;    /* 1 for a <<...>> calculator annotation */
    int status;        /* 0 right, 1 wrong, or check_eval's negative errno */
    double lhs;        /* the left side's value, when status >= 0 */
    double rhs;        /* the written result, when status >= 0 */
};

/* Called for each equation in text order; a nonzero return stops the scan
 * and is returned by check_arith_scan. */
typedef int (*check_equation_cb)(void *cls, const struct check_equation *e);

/* Finds the equations of text[0..len): annotations "<<lhs=rhs>>" (at most
 * CHECK_EXPR_MAX bytes between the brackets; longer or unterminated ones are
 * skipped) and inline ones, an expression with at least one operator, '=',
 * then a number (after an optional '$' or annotation): "16 - 3 - 4 = 9",
 * "$2 * 9 = $18", "3*20=<<3*20=60>>60" (checks 3*20 against the 60 after the
 * annotation). Prose run into an inline left side is cut ("1. 3 + 4 = 7"
 * checks 3 + 4); an inline left side that is no expression is skipped, not
 * reported. A written result may be a fraction ("4/6 = 2/3") or a percent
 * ("25/100 = 25%" passes as 0.25). It is right when it is within 1e-6
 * relative of the value, or, written with d decimals, within 10^-d (rounded
 * or cut: 800/3 = 266.67 and 266.66 pass; 7/2 = 4 is wrong). Returns 0, or
 * the callback's nonzero value. Linear in len: each '=' looks back at most
 * CHECK_EXPR_MAX bytes and evaluates at most five times, each "<<" looks
 * ahead at most CHECK_EXPR_MAX + 2 bytes. */
int check_arith_scan(const char *text, size_t len, check_equation_cb cb, void *cls);

/* Offset of the ">>" closing the annotation whose "<<" is at text[i], or 0
 * when it does not close within CHECK_EXPR_MAX bytes on the same line. */
size_t check_annotation_close(const char *text, size_t len, size_t i);

/* Sets CHECK_ARITH_* in r and adds a finding per equation: pass when right,
 * fail when wrong, info when it cannot be evaluated. Returns 0, or -EINVAL
 * when resp is NULL with len > 0 or r is NULL. */
int check_arith(const char *resp, size_t len, struct check_result *r);

/* What check_arith does for one equation found by check_arith_scan. */
void check_arith_record(struct check_result *r, const struct check_equation *eq);

/* ---- numbers ---------------------------------------------------------- */

#define CHECK_KNOWN_MAX 256 /* prompt numbers and equation results kept */
#define CHECK_SEEN_MAX 2048 /* response numbers examined */

#define CHECK_NEAR_BITS 1024     /* bits of check_prompt.near */
#define CHECK_SMALL_INTS 1024    /* whole numbers check_prompt.small holds */
#define CHECK_SMALL_INDEX 0x1ffu /* check_prompt.small: index + 1 of the value */
#define CHECK_SMALL_MANY 0x200u  /* check_prompt.small: several values */
#define CHECK_SMALL_X100 0x400u  /* check_prompt.small: a value is k * 100 */

/* The numbers of a prompt: read once, used for every sample of its group. */
struct check_prompt {
    double v[CHECK_KNOWN_MAX]; /* distinct absolute values, in text order */
    size_t n;                  /* values in use */
    /* For each value below 65600 with integer part k: bits k - 1, k and
     * k + 1 (mod CHECK_NEAR_BITS). A number below 65536 whose integer part's
     * bit is clear equals none of the values (1e-6 relative), so most
     * lookups end here. */
    uint64_t near[CHECK_NEAR_BITS / 64];
    /* For each whole number k below CHECK_SMALL_INTS, what the numbers
     * checker's lookups of k find (check_prompt_init sets it; the sets of
     * results do not use it): the index + 1 of the one value that is the
     * same as k (0: none), CHECK_SMALL_MANY when more than one is, and
     * CHECK_SMALL_X100 when one is the same as k * 100. */
    uint16_t small[CHECK_SMALL_INTS];
};

/* Reads the distinct numbers of prompt[0..len) into *p: numbers in digits
 * and number words (see check_numbers), the first CHECK_KNOWN_MAX. Returns
 * 0, or -EINVAL when p is NULL or prompt is NULL with len > 0. */
int check_prompt_init(struct check_prompt *p, const char *prompt, size_t len);

/* check_numbers with the prompt read beforehand by check_prompt_init. */
int check_numbers_prepared(const struct check_prompt *p, const char *resp, size_t len,
                           struct check_result *r);

/* check_arith then check_numbers_prepared, with one scan of the
 * equations for both: the same features and findings. */
int check_arith_numbers(const struct check_prompt *p, const char *resp, size_t len,
                        struct check_result *r);

/* Sets CHECK_NUMBERS_* in r: the share of the prompt's distinct numbers
 * (digits, and the words "one" to "twelve", "twenty", ... "hundred",
 * "half", "twice", "double") that the response writes (1 when the prompt
 * has none), and the count of response numbers outside annotations that
 * are neither a prompt number (or it / 100), an earlier equation's value or
 * written result, nor a common constant (0, 1, 2, 7, 10, 12, 24, 30, 52, 60,
 * 100, 365, 1000, 0.5). Adds an info finding at each unexplained number. Counts only the
 * first CHECK_KNOWN_MAX known values and CHECK_SEEN_MAX response numbers.
 * Returns 0, or -EINVAL on a NULL text with a nonzero length or NULL r. */
int check_numbers(const char *prompt, size_t plen, const char *resp, size_t len,
                  struct check_result *r);

/* ---- form ------------------------------------------------------------- */

#define CHECK_NGRAM_MAX 65536 /* word 4-grams counted for repetition */

/* Sets CHECK_FORM_* in r and adds findings: repetition (share of word
 * 4-grams already seen, first CHECK_NGRAM_MAX), truncation (an open code
 * fence at the end, a cut UTF-8 sequence, or a last character or word that
 * cannot end a sentence: ',' ':' '(' an operator, "the", "and", ...; a text
 * ending in a letter with no stop is not flagged, GSM8K lines have none),
 * unbalanced ``` fences or () [] {} (a list label "1)" or "a)" at a line
 * start is not a bracket), and refusal phrases ("I can't", "I cannot help",
 * "As an AI", ...; ' and U+2019 alike, any case). Returns 0, -EINVAL on a
 * NULL text with a nonzero length or NULL r, or -ENOMEM (r then holds no
 * form features). Allocates at most 16 bytes per 4-gram, freed on return. */
int check_form(const char *resp, size_t len, struct check_result *r);

/* ---- all -------------------------------------------------------------- */

/* Inputs of check_run_all. */
struct check_input {
    const char *prompt;
    size_t prompt_len;
    const char *resp;
    size_t resp_len;
    const struct check_answer *others; /* the group's other samples' answers */
    size_t n_others;
    size_t max_samples;                  /* 0: CHECK_GROUP_DEFAULT */
    const struct check_prompt *prepared; /* the prompt's numbers; NULL: read them */
    bool no_text;                        /* findings without their sentences (text ""):
                                          * for callers that use the features only */
};
#define CHECK_INPUT_NO_TEXT 1 /* struct check_input has no_text (for benchmarks) */

/* Runs every checker on in into r (initialised first). The agreement runs
 * with no others when in->others is NULL. *ans gets the response's answer
 * when ans is not NULL (to pass on as others of the group's next sample).
 * Returns 0, -EINVAL or -ENOMEM as the checkers do. */
int check_run_all(const struct check_input *in, struct check_result *r, struct check_answer *ans);

/* Adds a finding to r. When r is full a fail replaces the last non-fail
 * finding, anything else is counted in r->dropped. text is a printf format.
 * For the checkers; exposed so they can live in one file each. */
void check_add(struct check_result *r, const char *checker, const char *code,
               enum check_verdict verdict, size_t start, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* 1 when c is one of the bytes of set, never for '\0'. Inline, so that a
 * test run on every byte is a few compares rather than a strchr call. */
static inline int check_one_of(char c, const char *set)
{
    for (; *set; set++)
        if (*set == c)
            return 1;
    return 0;
}

/* ---- eight bytes at a time, for the scans that skip most bytes ------- */

#define CHECK_ONES8 0x0101010101010101ULL
#define CHECK_HIGH8 0x8080808080808080ULL

/* The 8 bytes at s as a word (in memory order: the tests below ask whether
 * any byte is something, which does not depend on the order). */
static inline uint64_t check_load8(const char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return w;
}

/* Nonzero exactly when some byte of w is b. */
static inline uint64_t check_has8(uint64_t w, unsigned char b)
{
    uint64_t x = w ^ (CHECK_ONES8 * b);
    return (x - CHECK_ONES8) & ~x & CHECK_HIGH8;
}

/* The bytes of the word before the first one flagged in m, a nonzero
 * result of check_has8 (whose lowest flag is always exact; flags above a
 * true one may be false): 0 where the byte order is not known to be
 * little-endian, which only means stepping one byte at a time. */
static inline size_t check_first8(uint64_t m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(m) / 8;
#else
    (void)m;
    return 0;
#endif
}

/* Nonzero exactly when some byte of w is an ASCII digit. */
static inline uint64_t check_digit8(uint64_t w)
{
    uint64_t x = w & ~CHECK_HIGH8;
    return (x + CHECK_ONES8 * (0x80u - '0')) & ~(x + CHECK_ONES8 * (0x7fu - '9')) & ~w &
           CHECK_HIGH8;
}

/* The common number, 1 to 7 digits and then no ',' nor a '.' and a digit
 * (a group or a fraction), read 8 bytes at a time (little-endian only):
 * its length, or 0 when s[i..] is anything else or empty (check_scan_number's
 * general pass then reads it). Its value is the digits' integer, as the
 * general pass gives it. */
static inline size_t check_plain_integer(const char *s, size_t len, size_t i, struct check_num *out)
{
    if (i >= len)
        return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w, k = len - i;
    if (k >= 8) {
        w = check_load8(s + i);
    } else if (len >= 8) { /* the text's last 8 bytes, s[i..len) moved down */
        w = check_load8(s + len - 8) >> (8 * (8 - k));
    } else if (k >= 4) { /* two loads that may overlap (on the same bytes) */
        uint32_t a, b;
        memcpy(&a, s + i, 4);
        memcpy(&b, s + len - 4, 4);
        w = (uint64_t)a | (uint64_t)b << (8 * (k - 4));
    } else {
        w = (unsigned char)s[i];
        for (size_t j = 1; j < k; j++)
            w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
    }
    /* check_digit8 flags each digit byte exactly (no carries: bytes are
     * taken below 0x80); n is the count of leading digits, the bytes past
     * len being zeros. */
    uint64_t d = check_digit8(w);
    if (d == CHECK_HIGH8)
        return 0;
    size_t n = (size_t)__builtin_ctzll(~d & CHECK_HIGH8) / 8, j = i + n;
    if (n == 0 || (j < len && s[j] == ',') ||
        (j < len && s[j] == '.' && j + 1 < len && s[j + 1] >= '0' && s[j + 1] <= '9'))
        return 0;
    /* The n digits into the top bytes (leading zero digits below), then
     * pairs, quads and octets summed: the 8-digit integer. */
    uint64_t v = (w - CHECK_ONES8 * '0') << (8 * (8 - n));
    v = v * 10 + (v >> 8);
    v = (((v & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32))) +
         (((v >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32)))) >>
        32;
    out->len = n;
    out->ok = 1;
    out->decimals = 0;
    out->v = (double)v;
    return n;
#else
    (void)s, (void)len, (void)i, (void)out;
    return 0;
#endif
}

/* 0x80 in exactly the bytes of w that are ASCII letters. */
static inline uint64_t check_alpha8(uint64_t w)
{
    uint64_t x = (w & ~CHECK_HIGH8) | CHECK_ONES8 * 0x20; /* lowercased, below 0x80 */
    return (x + CHECK_ONES8 * (0x80u - 'a')) & ~(x + CHECK_ONES8 * (0x7fu - 'z')) & ~w &
           CHECK_HIGH8;
}

/* Byte classes of check_ctype, for the loops that see every byte. */
enum {
    CHECK_CT_DIGIT = 1, /* '0'-'9' */
    CHECK_CT_ALPHA = 2, /* ASCII letter */
    CHECK_CT_HIGH = 4,  /* 0x80 and above */
    CHECK_CT_DOT = 8,   /* '.' */
    CHECK_CT_LT = 16,   /* '<' */
    CHECK_CT_OPEN = 32, /* a bracket: ( ) [ ] { } */
    CHECK_CT_NL = 64,   /* '\n' */
};

/* The CHECK_CT_* bits of each byte. */
extern const unsigned char check_ctype[256];

/* Writes v rounded to 6 decimals, trailing zeros dropped, into buf of size
 * bytes ("0.75", "1200", "-3", "0.333333"; %g from 1e15 on and for inf and
 * nan). Returns buf. */
char *check_format_number(double v, char *buf, size_t size);

#endif
