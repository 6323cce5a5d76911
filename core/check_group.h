/* check_group.h - group signals: what a response shares with the other
 * samples of its prompt beyond its final answer, and how it compares with
 * them.
 *
 * A sample is read once (check_sample_read_prompt: its final answer, the
 * values its equations compute, its evaluated equations and lines, and
 * the derivation of its answer against the prompt's numbers); a response's
 * group features then compare its sample with its group's others
 * (check_group_features). Pure, no allocation. */
#ifndef RUNG_CHECK_GROUP_H
#define RUNG_CHECK_GROUP_H

#include <stddef.h>

#include "check.h"

#define CHECK_SAMPLE_VALUES 32 /* distinct equation values kept per sample */

/* What the group signals need of one sample. Plain data. */
struct check_sample {
    struct check_answer ans;         /* its final answer (check_answer) */
    double val[CHECK_SAMPLE_VALUES]; /* distinct values its equations compute, sorted */
    size_t nval;                     /* values in use */
    unsigned eqs;                    /* equations evaluated (right or wrong) */
    unsigned lines;                  /* lines holding more than blanks */
    double last;                     /* the written result of its last evaluated equation */
    int has_last;                    /* 1 when it evaluated one */
    unsigned unused; /* results of its equations, but the last one's and its answer, that
                        no later equation reads (the first CHECK_SAMPLE_VALUES) */
    /* From blob version 7, over its first CHECK_SAMPLE_VALUES evaluated
     * equations: its answer's derivation is the last of them whose result
     * is its numeric answer, with the earlier ones whose results it reads
     * (an operand of its left side equal to an earlier result, by
     * magnitude, reads the latest such), and theirs, and so on. */
    unsigned off_path; /* of those equations, the ones whose result is no result of the
                          derivation: steps the answer does not rest on (all of them when its
                          answer is no equation's result) */
    int full;          /* 1 when it has a derivation and the derivation reads every number of
                          the prompt (the first 64 of struct check_prompt) */
};

/* The group features, in this order after the checkers' own. */
enum check_group_feat {
    CHECK_GROUP_VALUES_SHARED, /* count: its values another sample computes too */
    CHECK_GROUP_STEPS_REL,     /* its equations / the most of any sample (0 when none) */
    CHECK_GROUP_STEPS_MOST,    /* flag: no other sample evaluates more equations */
    CHECK_GROUP_LINES_REL,     /* its lines / the most of any sample */
    CHECK_GROUP_ANSWER_FRAC,   /* flag: a numeric answer that is not a whole number */
    CHECK_GROUP_ANSWER_SEEN,   /* flag: another sample computes its answer on the way */
    /* the first CHECK_GROUP_NFEAT_V4 are the group features of blob version 4 */
    CHECK_GROUP_ANSWER_LAST,   /* flag: a numeric answer that is the result of its last
                                  evaluated equation */
    CHECK_GROUP_ANSWER_PASSED, /* flag: another sample with another numeric answer computes
                                  its answer on the way (it stopped where that one went on) */
    CHECK_GROUP_PASSES,        /* flag: it computes on the way the numeric answer of another
                                  sample that answers otherwise (it went on where that one
                                  stopped) */
    /* the first CHECK_GROUP_NFEAT_V5 are the group features of blob version 5 */
    CHECK_GROUP_UNUSED,     /* count: results no later equation reads (check_sample) */
    CHECK_GROUP_AGREE_LAST, /* share: the others with its answer whose answer is the result of
                               their own last evaluated equation */
    /* the first CHECK_GROUP_NFEAT_V6 are the group features of blob version 6 */
    CHECK_GROUP_OFF_PATH,   /* count: off_path of check_sample */
    CHECK_GROUP_AGREE_FULL, /* share: the others with its answer whose derivation reads every
                               number of the prompt (check_sample.full) */
    CHECK_GROUP_NFEAT
};

#define CHECK_GROUP_NFEAT_V4 6  /* group features of layers of blob version 4 */
#define CHECK_GROUP_NFEAT_V5 9  /* group features of layers of blob version 5 */
#define CHECK_GROUP_NFEAT_V6 11 /* group features of layers of blob version 6 */

/* Their names ("values_shared", ...), by enum check_group_feat. */
extern const char *const check_group_feat_name[CHECK_GROUP_NFEAT];

/* Reads resp[0..len) into *s: its answer, the distinct written results of
 * its evaluated equations (annotations and inline, check_arith_scan; the
 * first CHECK_SAMPLE_VALUES), their count, the last one's written result
 * and its lines. Returns 0, or
 * -EINVAL when s is NULL or resp is NULL with len > 0. Linear in len. */
int check_sample_read(const char *resp, size_t len, struct check_sample *s);

/* check_sample_read, with the prompt's numbers p (check_prompt_init) for
 * check_sample.full; p NULL reads as a prompt without numbers (then full
 * only asks for a derivation). Linear in len (the derivation adds at most
 * CHECK_SAMPLE_VALUES^2 comparisons). */
int check_sample_read_prompt(const char *resp, size_t len, const struct check_prompt *p,
                             struct check_sample *s);

/* check_run_all(in, r, NULL) and check_sample_read_prompt(in->resp,
 * in->resp_len, in->prepared, s) in one: the response's answer and its
 * equations are read once for both (the sample's answer is the one the
 * agreement compares). The same r and s as the two calls. Returns what
 * check_run_all returns (-EINVAL also when s is NULL); s is meaningful only
 * on 0. */
int check_sample_run(const struct check_input *in, struct check_result *r, struct check_sample *s);
#define CHECK_SAMPLE_RUN 1 /* check_sample_run is declared (for benchmarks) */

/* The group features of self against others[0..n) (the group's other
 * samples, self excluded) into out[CHECK_GROUP_NFEAT]. With no others the
 * relative features compare self with itself. O(n * CHECK_SAMPLE_VALUES). */
void check_group_features(const struct check_sample *self, const struct check_sample *others,
                          size_t n, double *out);

#endif
