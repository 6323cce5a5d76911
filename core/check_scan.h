/* check_scan.h - the numbers checker's scan, fed by the form checker's pass.
 *
 * Internal to the checkers. check_run_all runs the numbers and the form
 * checkers in one pass over the response: the form pass finds the words
 * and the bytes between them, and hands each to the numbers scan, which
 * reads its numbers and number words there, in text order, exactly as its
 * own pass would (check_numbers.c). Findings keep their order: numbers'
 * first, then form's (the form pass holds its refusal spans until the
 * end). Pure, no allocation.
 */
#ifndef RUNG_CHECK_SCAN_H
#define RUNG_CHECK_SCAN_H

#include "check.h"

#include <stdbool.h>
#include <stdint.h>

/* Equation values in text order: what a response has computed so far. */
struct check_eqs {
    double v[2 * CHECK_KNOWN_MAX]; /* lhs and written result of each */
    size_t off[CHECK_KNOWN_MAX];   /* offset of each one's '=' */
    size_t n;
    struct check_result *arith; /* also records each for check_arith, or NULL */
    /* Every annotation the scan found (the first CHECK_KNOWN_MAX): where
     * its "<<" is and check_annotation_close there, so that the numbers
     * scan need not look for the ">>" again. */
    size_t ann_at[CHECK_KNOWN_MAX], ann_close[CHECK_KNOWN_MAX];
    size_t nann;
    /* Also called with every equation the scan finds, after it is
     * recorded (its return is ignored), or NULL: a reader that wants the
     * same equations (check_sample_run) without a scan of its own. */
    check_equation_cb tap;
    void *tap_cls;
};

/* What the numbers scan of one response carries (about 15 KB). */
struct check_numscan {
    const struct check_prompt *prompt;
    unsigned char used[CHECK_KNOWN_MAX]; /* prompt number i is written */
    struct check_eqs eqs;
    size_t next_eq;             /* equations before it are known */
    struct check_prompt result; /* values of the equations before the cursor */
    struct check_result *r;
    size_t ann_end;  /* end of the last annotation seen */
    size_t next_ann; /* eqs.ann_at before it are behind the cursor */
    size_t seen;     /* response numbers examined */
    size_t next;     /* bytes before it belong to tokens already read */
    size_t nf0, dropped0;
    double unexplained0; /* r as the scan found it, for check_numscan_redo */
};

/* Starts the numbers scan of resp[0..len) against the prompt numbers p:
 * finds its equations (recording each in r for check_arith too when arith
 * is set). Returns 0, or -EINVAL as check_numbers_prepared. */
int check_numscan_begin(struct check_numscan *ns, const struct check_prompt *p, const char *resp,
                        size_t len, struct check_result *r, bool arith);

/* check_numscan_begin, handing every equation to tap(cls, e) too (tap
 * may be NULL). */
int check_numscan_begin_tap(struct check_numscan *ns, const struct check_prompt *p,
                            const char *resp, size_t len, struct check_result *r, bool arith,
                            check_equation_cb tap, void *cls);

/* check_run_all, handing every equation its scan finds to tap(cls, e)
 * too (tap may be NULL): the equations check_arith_scan finds in in->resp,
 * in the same order. *ans gets the response's answer when ans is not
 * NULL. */
int check_run_all_tap(const struct check_input *in, struct check_result *r,
                      struct check_answer *ans, check_equation_cb tap, void *cls);

/* The number words ("one" ... "zero", "dozen", "half", "twice"), each at
 * the slot of its key (its bytes lowercased, little-endian, zero-padded:
 * none is longer than 8) that CHECK_NUMWORD_SLOT gives; no two share a
 * slot, the others are empty (key 0, which no word is). */
struct check_numword {
    uint64_t key;
    double v;
};
#define CHECK_NUMWORD_SLOTS 64
#define CHECK_NUMWORD_SLOT(key) ((size_t)(((uint64_t)(key)*0x310c3c0f6c55d51dULL) >> 58))
extern const struct check_numword check_numwords[CHECK_NUMWORD_SLOTS];

/* The value of the number word of n letters whose key is key (its first 8
 * bytes when longer), or -1: one lookup, no branch to mispredict. */
static inline double check_numword_value(uint64_t key, size_t n)
{
    const struct check_numword *w = &check_numwords[CHECK_NUMWORD_SLOT(key)];
    return n <= 8 && w->key == key ? w->v : -1;
}

/* The number word of value v (check_numword_value) read by the scan: the
 * prompt numbers it is are used. */
void check_numscan_value(struct check_numscan *ns, double v);

/* The word resp[b..e) (a run of letters, digits and bytes >= 0x80; alpha
 * when letters only, key then its first 8 bytes lowercased, little-endian,
 * zero-padded): its numbers and number words not read yet. */
void check_numscan_word(struct check_numscan *ns, const char *resp, size_t len, size_t b, size_t e,
                        int alpha, uint64_t key);

/* The byte resp[i] between words, of check_ctype class ct: a '.' may start
 * a number, "<<" an annotation. Other bytes may be skipped. */
void check_numscan_byte(struct check_numscan *ns, const char *resp, size_t len, size_t i,
                        unsigned ct);

/* Sets the used share in r: the scan is over. */
void check_numscan_end(struct check_numscan *ns);

/* Forgets what the words and bytes fed so far did to the scan and to r,
 * and reads resp[0..len) in the numbers checker's own pass (for a form
 * pass that could not finish). */
void check_numscan_redo(struct check_numscan *ns, const char *resp, size_t len);

/* check_form, feeding the numbers scan ns (when not NULL) every word and
 * every byte between words, then ending it (check_numscan_end) before the
 * form findings are added. On -ENOMEM ns is finished by check_numscan_redo
 * and r holds no form features, as after check_form's -ENOMEM. */
int check_form_numbers(struct check_numscan *ns, const char *resp, size_t len,
                       struct check_result *r);

#endif
