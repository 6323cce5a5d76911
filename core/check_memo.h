/* check_memo.h - the samples of recently read responses, kept per thread.
 *
 * Scoring a pair with its group reads every sample of the group
 * (check_sample_read_prompt), and the daemon scores a group's pending items
 * again each time a sample joins: the same texts are read over and over.
 * This keeps, per thread, what that read gave for the last texts it saw
 * (CHECK_MEMO_SLOTS of them, in sets of CHECK_MEMO_WAYS by the hash of the
 * prompt and the text, a new text taking the slot of its set used least
 * lately; both are kept and compared byte for byte, so a hit is always the
 * same prompt and text) and gives it again, with the checkers' features of
 * the text when check_memo_run read them. A sample and those features are
 * a function of the two alone (check_sample_run), so the results are the
 * same with the memo as without it. */
#ifndef RUNG_CHECK_MEMO_H
#define RUNG_CHECK_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include "check_group.h"

#define CHECK_MEMO_SLOTS 512       /* texts remembered per thread */
#define CHECK_MEMO_WAYS 2          /* slots a text may take (two texts of a set both stay) */
#define CHECK_MEMO_TEXT_MAX 16384u /* longer prompts or texts are read every time */
_Static_assert(CHECK_MEMO_SLOTS % CHECK_MEMO_WAYS == 0, "whole sets");

/* check_sample_read_prompt(resp, len, p, s), where p is what
 * check_prompt_init made of prompt (NULL when prompt is NULL), from the
 * calling thread's memo when it read the same text with the same prompt
 * before (a prompt given without p is read past the memo: the sample would
 * differ from the one with the prompt's numbers). Returns what
 * check_sample_read_prompt returns (a failed read is not kept). */
int check_sample_memo(const char *prompt, const struct check_prompt *p, const char *resp,
                      size_t len, struct check_sample *s);

#define CHECK_MEMO_PROMPTS 32    /* prompts whose numbers are remembered per thread */
#define CHECK_MEMO_PROMPT_WAYS 4 /* slots a prompt may take */
_Static_assert(CHECK_MEMO_PROMPTS % CHECK_MEMO_PROMPT_WAYS == 0, "whole sets of prompts");

/* A prompt as the memo reads it (check_memo_prompt). */
struct check_memo_prompt {
    const char *text;             /* the caller's bytes */
    size_t len;                   /* their length */
    uint64_t hash;                /* their feat_fx64_wide, as the memo's keys use it */
    const struct check_prompt *p; /* its numbers (check_prompt_init), or NULL */
};

/* Fills *mp for prompt[0..len): its bytes, their hash, and in p the
 * numbers check_prompt_init makes of it, kept in the calling thread's memo
 * (CHECK_MEMO_PROMPTS prompts, in sets of CHECK_MEMO_PROMPT_WAYS by the hash, the bytes
 * compared: a group's items are scored one after another) and valid until
 * this thread's next check_memo_prompt; p is NULL when the prompt is longer than
 * CHECK_MEMO_TEXT_MAX or memory ran out (the caller then reads them with
 * check_prompt_init and sets p). Returns 0, or -EINVAL when prompt or mp
 * is NULL. */
int check_memo_prompt(const char *prompt, size_t len, struct check_memo_prompt *mp);

/* check_sample_memo(mp->text, mp->p, resp, len, s) (mp->text then taken
 * as mp->len bytes), and the features check_run_all gives resp with that
 * prompt (mp->p its numbers, as check_input.prepared), no others and no
 * sentences into v[CHECK_NFEAT]:
 * every feature but the agreement's is the same with any others (the
 * agreement's are those of a group of one). A text not in the memo, or
 * kept without its features, is read for both in one pass
 * (check_sample_run) and kept with them. mp is filled by
 * check_memo_prompt (with mp->p set). Returns what check_sample_run
 * returns: 0, -EINVAL (mp, its text, its p, resp, s or v NULL) or
 * -ENOMEM. */
int check_memo_run(const struct check_memo_prompt *mp, const char *resp, size_t len,
                   struct check_sample *s, double *v);

/* check_sample_memo(mp->text, mp->p, resp, len, s) with the prompt's hash
 * taken from mp: the sample alone (a text kept with its features gives
 * its sample too). For the samples of a group, which the layer reads only
 * for their answers and values. Returns what check_sample_read_prompt
 * returns, or -EINVAL (mp, its text, its p, resp or s NULL). */
int check_memo_sample(const struct check_memo_prompt *mp, const char *resp, size_t len,
                      struct check_sample *s);

/* The set of resp[0..len) read with prompt (NULL: none): texts of one
 * set share its CHECK_MEMO_WAYS slots. */
size_t check_memo_slot(const char *prompt, const char *resp, size_t len);

/* Counts of the calling thread's lookups since it started: hits and
 * misses (texts read). */
void check_memo_counts(unsigned long long *hits, unsigned long long *misses);

#endif
