/* dataset.h - reading preference pairs from JSONL files (hh, trl, gsm8k).
 *
 * hh:    {"chosen": D1, "rejected": D2}, each a whole dialogue of
 *        "\n\nHuman: ..." / "\n\nAssistant: ..." turns. The prompt is the shared
 *        text up to and including the last "\n\nAssistant:" marker; the replies
 *        are what follows (leading spaces trimmed).
 * trl:   {"prompt": P, "chosen": C, "rejected": R}.
 * gsm8k: {"question": Q, "<model>": {"is_correct": bool, "solution": S}, ...};
 *        one pair per (correct, incorrect) solution of the line, prompt = Q.
 *
 * Step verdicts (dataset_read_steps), for the layer's pointwise head:
 * steps:   rung's step JSONL, one response a line: {"prompt": P, "response":
 *          R, "steps": [{"span": [start, end], "answer": "yes"|"no"|"unsure"},
 *          ...]} with byte offsets into R, in order, not overlapping (the
 *          shape of sub-questions and of the step export). Other fields are
 *          ignored; "unsure" steps give no verdict but stay in the context.
 * prm800k: OpenAI's PRM800K labels: {"question": {"problem": P, ...},
 *          "label": {"steps": [{"completions": [{"text", "rating": -1|0|1,
 *          "flagged"}], "chosen_completion": i|null, "human_completion":
 *          ...}]}}. Every rated, unflagged completion is a verdict: rating
 *          -1 wrong, 0 or 1 right (0 is "not wrong, no progress"); the chosen
 *          completion (or the human one) continues the context; a step with
 *          neither ends the solution.
 */
#ifndef RUNG_DATASET_H
#define RUNG_DATASET_H

#include <stddef.h>
#include <stdio.h>

#define DATASET_LINE_MAX (64u << 20) /* longer lines are rejected, not read into memory twice */

enum dataset_format { DATASET_HH, DATASET_TRL, DATASET_GSM8K, DATASET_STEPS, DATASET_PRM800K };

/* Parses "hh", "trl", "gsm8k", "steps" or "prm800k" into *out. Returns 0 or
 * -EINVAL. */
int dataset_format_parse(const char *name, enum dataset_format *out);

/* One preference: chosen preferred over rejected. The strings are NUL-terminated
 * and valid only during the callback. */
struct dataset_pair {
    const char *prompt;
    const char *chosen;
    const char *rejected;
    const char *reference; /* gsm8k: the question's "ground_truth" solution, else NULL */
};

/* Called once per pair; a nonzero return stops reading and is returned. */
typedef int (*dataset_pair_cb)(void *cls, const struct dataset_pair *p);

/* Called once per malformed line with its 1-based number and a short reason. */
typedef void (*dataset_error_cb)(void *cls, size_t line_no, const char *message);

struct dataset_stats {
    size_t lines;          /* lines read, empty ones included */
    size_t pairs;          /* pairs passed to on_pair */
    size_t rejected_lines; /* lines reported to on_error */
    size_t steps;          /* step verdicts passed to on_step */
};

/* True for the formats of step verdicts (read with dataset_read_steps). */
int dataset_format_is_steps(enum dataset_format fmt);

/* One step verdict: is step right, given the question and the steps before
 * it. context is the prompt followed by each earlier step of the solution,
 * each after a '\n' (as layer_score_step joins them). The strings are valid
 * only during the callback. */
struct dataset_step {
    const char *prompt;
    const char *context;
    const char *step;
    int good; /* 1 right, 0 wrong */
};

/* Called once per step verdict; a nonzero return stops reading. */
typedef int (*dataset_step_cb)(void *cls, const struct dataset_step *s);

/* Reads a JSONL file of format fmt from f. Each malformed line (not a JSON
 * object, missing or mistyped fields, an hh line without a shared prompt,
 * longer than DATASET_LINE_MAX) is reported via on_error (may be NULL) and
 * skipped; empty lines are skipped silently. stats may be NULL.
 * Returns 0 at end of file, a callback's nonzero value, -EINVAL on bad
 * arguments, -ENOMEM, or the negative errno of a read error. */
int dataset_read(FILE *f, enum dataset_format fmt, dataset_pair_cb on_pair,
                 dataset_error_cb on_error, void *cls, struct dataset_stats *stats);

/* Reads step verdicts of format fmt (DATASET_STEPS or DATASET_PRM800K) from
 * f, as dataset_read reads pairs: malformed lines (spans out of order or
 * out of the response, wrong types) go to on_error and are skipped. Returns
 * as dataset_read; -EINVAL for a pair format. */
int dataset_read_steps(FILE *f, enum dataset_format fmt, dataset_step_cb on_step,
                       dataset_error_cb on_error, void *cls, struct dataset_stats *stats);

/* Splits an hh dialogue pair into prompt length and reply offsets:
 * *prompt_len is the length of the shared prompt in both (it ends with the
 * "\n\nAssistant:" marker), *chosen_off / *rejected_off where the trimmed
 * replies start. Returns 0, or -EINVAL when no shared prompt exists. */
int dataset_hh_split(const char *chosen, const char *rejected, size_t *prompt_len,
                     size_t *chosen_off, size_t *rejected_off);

/* The fixed 80/20 split used by the tests and the benchmark: 1 when the pair
 * with this prompt belongs to the test side (FNV-1a 64 of the prompt, mod 5
 * == 0), else 0. Splitting by prompt keeps every pair of a GSM8K question on
 * one side. */
int dataset_split_is_test(const char *prompt);

#endif
