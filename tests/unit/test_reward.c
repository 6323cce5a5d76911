/* test_reward.c - hashed Bradley-Terry ensemble. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dataset.h"
#include "feat.h"
#include "reward.h"
#include "reward_check.h"

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
    return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- synthetic texts with a known quality --------------------------------- */

static const char *const GOOD[] = {"clear", "correct",  "helpful",  "precise",
                                   "kind",  "thorough", "accurate", "safe"};
static const char *const BAD[] = {"wrong",  "rude",  "vague", "harmful",
                                  "sloppy", "false", "lazy",  "unsafe"};
static const char *const NEUTRAL[] = {"the", "answer", "is",   "a",    "of",   "to",
                                      "and", "we",     "this", "that", "with", "for"};

#define TEXT_MAX 512

/* A text of 20..39 words; each non-neutral word is good with probability
 * share. Returns its true quality (good minus bad words, per word). */
static double make_text(uint64_t *s, double share, char *buf)
{
    size_t n = 0, words = 20 + rnd(s) % 20;
    double q = 0.0;
    for (size_t i = 0; i < words; i++) {
        const char *w;
        if (rnd(s) % 3 == 0) {
            int good = unit(s) < share;
            w = good ? GOOD[rnd(s) % 8] : BAD[rnd(s) % 8];
            q += good ? 1.0 : -1.0;
        } else
            w = NEUTRAL[rnd(s) % 12];
        size_t wl = strlen(w);
        assert_true(n + wl + 2 < TEXT_MAX);
        memcpy(buf + n, w, wl);
        n += wl;
        buf[n++] = ' ';
    }
    buf[n] = '\0';
    return q / (double)words;
}

struct synth {
    struct reward_pair_ex *ex;
    char (*text)[TEXT_MAX];
    size_t n;
};

/* n pairs; a wins with probability sigmoid(scale * (q_a - q_b)), flipped
 * further with probability flip. scale = INFINITY: always the better one,
 * and the qualities differ by at least 0.1 (a margin: separable). */
static void synth_make(struct synth *sy, size_t n, uint64_t seed, double scale, double flip)
{
    uint64_t s = seed;
    sy->n = n;
    sy->ex = test_calloc(n, sizeof(*sy->ex));
    sy->text = test_calloc(2 * n, sizeof(*sy->text));
    for (size_t i = 0; i < n; i++) {
        double qa, qb;
        do {
            qa = make_text(&s, unit(&s), sy->text[2 * i]);
            qb = make_text(&s, unit(&s), sy->text[2 * i + 1]);
        } while (isinf(scale) && fabs(qa - qb) < 0.1);
        double pa = isinf(scale) ? (qa > qb   ? 1.0
                                    : qa < qb ? 0.0
                                              : 0.5)
                                 : 1.0 / (1.0 + exp(-scale * (qa - qb)));
        double y = unit(&s) < pa ? 1.0 : 0.0;
        if (unit(&s) < flip)
            y = 1.0 - y;
        sy->ex[i] = (struct reward_pair_ex){"Rate this answer.", sy->text[2 * i],
                                            sy->text[2 * i + 1], y, 1.0,
                                            /* independent draws: one group each */
                                            (uint64_t)i + 1};
    }
}

static void synth_free(struct synth *sy)
{
    test_free(sy->ex);
    test_free(sy->text);
}

static double jreal(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_is_null(v) ? NAN : json_number_value(v);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_gradient(void **state)
{
    (void)state;
    enum { DIM = 16, NNZ = 6 };
    uint64_t s = 3;
    double w[DIM + 1], g[DIM + 1], g2[DIM + 1], wp[DIM + 1];
    uint32_t idx[NNZ] = {0, 3, 4, 9, 12, 15};
    float val[NNZ];
    const double ys[] = {0.0, 0.5, 1.0, 0.3};
    for (int bias = 0; bias <= 1; bias++) {
        for (size_t t = 0; t < 4; t++) {
            for (size_t k = 0; k <= DIM; k++)
                w[k] = 2.0 * unit(&s) - 1.0;
            for (size_t k = 0; k < NNZ; k++)
                val[k] = (float)(2.0 * unit(&s) - 1.0);
            double l2 = 0.1, weight = 1.5;
            reward_loss_grad_for_test(w, DIM, bias, idx, val, NNZ, ys[t], weight, l2, g);
            for (size_t k = 0; k <= DIM; k++) {
                const double h = 1e-6;
                memcpy(wp, w, sizeof(w));
                wp[k] += h;
                double fp =
                    reward_loss_grad_for_test(wp, DIM, bias, idx, val, NNZ, ys[t], weight, l2, g2);
                wp[k] -= 2 * h;
                double fm =
                    reward_loss_grad_for_test(wp, DIM, bias, idx, val, NNZ, ys[t], weight, l2, g2);
                double num = (fp - fm) / (2 * h);
                assert_float_equal(g[k], num, 1e-6 + 1e-5 * fabs(num));
            }
        }
    }
    /* Extreme margins stay finite. */
    double big[DIM + 1] = {0};
    big[0] = 1e4;
    float one = 1.0f;
    uint32_t i0 = 0;
    double f = reward_loss_grad_for_test(big, DIM, 0, &i0, &one, 1, 0.0, 1.0, 0.0, g);
    assert_true(isfinite(f) && fabs(f - 1e4) < 1e-6);
    assert_float_equal(g[0], 1.0, 1e-12);
}

static struct reward_layer *train_synth(const struct synth *sy, unsigned members, uint64_t seed,
                                        double target, json_t **rep)
{
    struct reward_params p;
    reward_params_default(&p);
    p.members = members;
    p.seed = seed;
    p.target = target;
    return reward_train(&p, sy->ex, sy->n, NULL, 0, rep);
}

/* Past 8 members a layer keeps no bucket-major copy and scores from its
 * member-major weights (the fixtures pin the copy's scores): trained and
 * reloaded, it scores the same, and agrees with the smaller ensemble on
 * the side that wins. */
static void test_many_members(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 600, 61, INFINITY, 0.0);
    struct reward_layer *big = train_synth(&tr, 9, 1, 0.95, NULL);
    struct reward_layer *small = train_synth(&tr, 8, 1, 0.95, NULL);
    assert_non_null(big);
    assert_non_null(small);
    void *b;
    size_t len;
    assert_int_equal(reward_save(big, &b, &len), 0);
    struct reward_layer *again = reward_load(b, len);
    assert_non_null(again);
    assert_int_equal(reward_members(again), 9);
    for (size_t i = 0; i < 50; i++) {
        struct reward_pair x, y, z;
        assert_int_equal(reward_score_pair(big, "q", tr.ex[i].a, tr.ex[i].b, &x), 0);
        assert_int_equal(reward_score_pair(again, "q", tr.ex[i].a, tr.ex[i].b, &y), 0);
        assert_int_equal(reward_score_pair(small, "q", tr.ex[i].a, tr.ex[i].b, &z), 0);
        assert_memory_equal(&x, &y, sizeof(x));
        assert_true(x.ra_sd > 0.0 && z.ra_sd > 0.0);
        assert_int_equal(x.p_a > 0.5, z.p_a > 0.5);
    }
    free(b);
    reward_free(again);
    reward_free(big);
    reward_free(small);
    synth_free(&tr);
}

static void test_separable(void **state)
{
    (void)state;
    struct synth tr, te;
    synth_make(&tr, 2000, 11, INFINITY, 0.0);
    synth_make(&te, 2000, 12, INFINITY, 0.0);
    json_t *rep;
    struct reward_layer *l = train_synth(&tr, 5, 1, 0.95, &rep);
    assert_non_null(l);
    json_t *ev = reward_evaluate(l, te.ex, te.n);
    assert_non_null(ev);
    double acc = jreal(ev, "accuracy");
    printf("separable: held-out accuracy %.4f\n", acc);
    assert_true(acc >= 0.99);
    /* Clean labels: the threshold exists and covers most items. */
    assert_true(isfinite(reward_threshold(l)));
    assert_true(jreal(ev, "coverage") > 0.5);
    json_decref(ev);
    json_decref(rep);
    reward_free(l);
    synth_free(&tr);
    synth_free(&te);
}

static void test_report_and_scores(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 600, 21, 8.0, 0.0);
    json_t *rep;
    struct reward_layer *l = train_synth(&tr, 5, 1, 0.95, &rep);
    assert_non_null(l);
    assert_non_null(rep);
    const char *keys[] = {
        "pairs_train", "pairs_calibration", "points",         "members", "bits",     "seed",
        "calibration", "threshold",         "threshold_note", "target",  "pointwise"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        assert_non_null(json_object_get(rep, keys[k]));
    assert_int_equal(json_integer_value(json_object_get(rep, "pairs_train")), 600);
    assert_int_equal(json_integer_value(json_object_get(rep, "pairs_calibration")), 600);
    assert_int_equal(json_integer_value(json_object_get(rep, "members")), 5);
    assert_int_equal(json_integer_value(json_object_get(rep, "bits")), REWARD_BITS_DEFAULT);
    json_t *cal = json_object_get(rep, "calibration");
    const char *ckeys[] = {"accuracy", "log_loss", "ece", "curve"};
    for (size_t k = 0; k < 4; k++)
        assert_non_null(json_object_get(cal, ckeys[k]));
    assert_true(json_array_size(json_object_get(cal, "curve")) > 3);
    assert_true(json_is_null(json_object_get(rep, "pointwise")));
    /* Each checker feature's weight, by name. */
    json_t *w = json_object_get(json_object_get(rep, "checks"), "weights");
    assert_int_equal(json_object_size(w), REWARD_CHECK_NFEAT);
    for (unsigned k = 0; k < CHECK_NFEAT; k++)
        assert_true(json_is_real(json_object_get(w, check_feat_name[k])));
    for (unsigned k = 0; k < CHECK_GROUP_NFEAT; k++)
        assert_true(json_is_real(json_object_get(w, check_group_feat_name[k])));
    assert_int_equal(reward_checks(l), REWARD_CHECK_NFEAT);
    assert_true(json_real_value(json_object_get(rep, "ngram_scale")) == REWARD_NGRAM_SCALE);
    assert_int_equal(reward_members(l), 5);
    assert_int_equal(reward_bits(l), REWARD_BITS_DEFAULT);
    assert_true(isinf(reward_point_threshold(l)));

    /* Confidence in [0.5, 1], p in [0, 1], symmetric under swapping sides. */
    for (size_t i = 0; i < 100; i++) {
        struct reward_pair r, q;
        assert_int_equal(reward_score_pair(l, "Rate this answer.", tr.ex[i].a, tr.ex[i].b, &r), 0);
        assert_int_equal(reward_score_pair(l, "Rate this answer.", tr.ex[i].b, tr.ex[i].a, &q), 0);
        assert_true(r.confidence >= 0.5 && r.confidence <= 1.0);
        assert_true(r.p_a >= 0.0 && r.p_a <= 1.0 && r.p_sd >= 0.0);
        assert_float_equal(r.p_a, 1.0 - q.p_a, 1e-9);
        assert_float_equal(r.confidence, q.confidence, 1e-9);
        assert_true(r.confidence <= fmax(r.p_a, 1 - r.p_a) + 1e-12);
        struct reward_single s1;
        assert_int_equal(reward_score_single(l, "Rate this answer.", tr.ex[i].a, &s1), 0);
        /* A pair's side sees the group {a, b}, a single text a group of one:
         * only the group-wide agreement features (largest cluster) differ. */
        struct reward_single s2;
        assert_int_equal(reward_score_single(l, "Rate this answer.", tr.ex[i].b, &s2), 0);
        assert_float_equal(s1.r - s2.r, r.ra - r.rb, 0.02);
        assert_int_equal(s1.has_point, 0);
    }
    /* Invalid UTF-8 in the inputs is tolerated. */
    struct reward_pair r;
    assert_int_equal(reward_score_pair(l, "\xff\xfe", "ab\xe6", "\xc0\xaf", &r), 0);
    assert_int_equal(reward_score_pair(l, NULL, "a", "b", &r), -EINVAL);
    json_decref(rep);
    reward_free(l);
    synth_free(&tr);
}

static void test_bad_params(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 20, 5, 8.0, 0.0);
    struct reward_params p;
    json_t *rep = (json_t *)1;
    reward_params_default(&p);
    assert_null(reward_train(&p, tr.ex, 0, NULL, 0, &rep));
    assert_null(rep);
    p.members = 0;
    assert_null(reward_train(&p, tr.ex, tr.n, NULL, 0, NULL));
    reward_params_default(&p);
    p.bits = 40;
    assert_null(reward_train(&p, tr.ex, tr.n, NULL, 0, NULL));
    reward_params_default(&p);
    p.target = 1.0;
    assert_null(reward_train(&p, tr.ex, tr.n, NULL, 0, NULL));
    reward_params_default(&p);
    struct reward_pair_ex bad = {"p", NULL, "b", 1.0, 1.0, 0};
    assert_null(reward_train(&p, &bad, 1, NULL, 0, NULL));
    reward_free(NULL);
    synth_free(&tr);
}

/* Logistic label noise: auto-labelled items of a fresh sample must reach the
 * target within a tolerance of 0.03 (the threshold is picked with a 95% lower
 * bound, so it should usually be above target). */
static void test_threshold_honesty(void **state)
{
    (void)state;
    struct synth tr, te;
    const double target = 0.9;
    synth_make(&tr, 6000, 31, 6.0, 0.0);
    synth_make(&te, 6000, 32, 6.0, 0.0);
    json_t *rep;
    struct reward_layer *l = train_synth(&tr, 5, 1, target, &rep);
    assert_non_null(l);
    double tau = reward_threshold(l);
    assert_true(isfinite(tau));
    json_t *ev = reward_evaluate(l, te.ex, te.n);
    double cov = jreal(ev, "coverage"), acc = jreal(ev, "accuracy_on_covered");
    printf("honesty: tau %.4f, fresh coverage %.3f, accuracy on covered %.4f (overall %.4f)\n", tau,
           cov, acc, jreal(ev, "accuracy"));
    assert_true(cov > 0.05);
    assert_true(acc >= target - 0.03);
    json_decref(ev);
    json_decref(rep);
    reward_free(l);
    synth_free(&tr);
    synth_free(&te);

    /* 25% of labels flipped at random: no subset can reach 0.95, so the
     * threshold must be "none" and the note must say so. */
    synth_make(&tr, 3000, 41, INFINITY, 0.25);
    l = train_synth(&tr, 5, 1, 0.95, &rep);
    assert_non_null(l);
    assert_true(isinf(reward_threshold(l)));
    assert_true(json_is_null(json_object_get(rep, "threshold")));
    assert_non_null(strstr(json_string_value(json_object_get(rep, "threshold_note")), "humans"));
    json_decref(rep);
    reward_free(l);
    synth_free(&tr);
}

static void test_save_load_determinism(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 400, 51, 8.0, 0.0);
    struct reward_point_ex pts[200];
    for (size_t i = 0; i < 200; i++)
        pts[i] = (struct reward_point_ex){"Is it good?", tr.ex[i].a, tr.ex[i].y, 1.0, i + 1};
    struct reward_params p;
    reward_params_default(&p);
    p.bits = 14;
    p.members = 3;
    p.threads = 1;
    struct reward_layer *a = reward_train(&p, tr.ex, tr.n, pts, 200, NULL);
    p.threads = 2;
    struct reward_layer *b = reward_train(&p, tr.ex, tr.n, pts, 200, NULL);
    p.seed = 2;
    struct reward_layer *c = reward_train(&p, tr.ex, tr.n, pts, 200, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    void *ba, *bb, *bc;
    size_t la, lb, lc;
    assert_int_equal(reward_save(a, &ba, &la), 0);
    assert_int_equal(reward_save(b, &bb, &lb), 0);
    assert_int_equal(reward_save(c, &bc, &lc), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la); /* same seed, any thread count: same bytes */
    assert_int_equal(la, lc);
    assert_memory_not_equal(ba, bc, la);
    assert_true(la < 2 * 3 * ((1u << 14) + REWARD_CHECK_NFEAT + 1) * 4 + 256); /* float32 weights */

    struct reward_layer *r = reward_load(ba, la);
    assert_non_null(r);
    assert_int_equal(reward_bits(r), 14);
    assert_int_equal(reward_members(r), 3);
    assert_true(reward_threshold(r) == reward_threshold(a) ||
                (isinf(reward_threshold(r)) && isinf(reward_threshold(a))));
    for (size_t i = 0; i < 50; i++) {
        struct reward_pair x, y;
        struct reward_single s, t;
        assert_int_equal(reward_score_pair(a, "q", tr.ex[i].a, tr.ex[i].b, &x), 0);
        assert_int_equal(reward_score_pair(r, "q", tr.ex[i].a, tr.ex[i].b, &y), 0);
        assert_memory_equal(&x, &y, sizeof(x));
        assert_int_equal(reward_score_single(a, "Is it good?", tr.ex[i].a, &s), 0);
        assert_int_equal(reward_score_single(r, "Is it good?", tr.ex[i].a, &t), 0);
        assert_true(s.r == t.r && s.r_sd == t.r_sd && s.p_good == t.p_good &&
                    s.confidence == t.confidence && s.has_point == t.has_point);
        assert_int_equal(s.has_point, 1);
        assert_true(s.p_good >= 0 && s.p_good <= 1 && s.confidence >= 0.5 && s.confidence <= 1);
    }
    void *br;
    size_t lr;
    assert_int_equal(reward_save(r, &br, &lr), 0);
    assert_int_equal(lr, la);
    assert_memory_equal(br, ba, la);
    free(br);

    /* Bad blobs. */
    unsigned char *bad = malloc(la);
    assert_non_null(bad);
    assert_null(reward_load(NULL, 0));
    assert_null(reward_load(ba, 10));
    assert_null(reward_load(ba, la - 1));
    memcpy(bad, ba, la);
    bad[0] ^= 1; /* magic */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = REWARD_BLOB_VERSION + 1; /* version */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 6; /* version 6 knew only the first 11 group features */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 5; /* version 5 knew only the first 9 group features */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 4; /* version 4 knew only the first group features */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 3; /* version 3 knew only the checkers' own block, not the group features */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 2; /* version 2 had a shorter header: the sizes no longer match */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[8] = 1; /* version 1 had no checker features: the sizes no longer match */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[60] ^= 1; /* another checker definition */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[56] = 3; /* another number of checker features */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[12] = 15; /* bits: sizes no longer match */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    bad[la - 3] ^= 0x40; /* a weight: checksum */
    assert_null(reward_load(bad, la));
    memcpy(bad, ba, la);
    memset(bad + 24, 0xff, 8); /* tau = NaN */
    assert_null(reward_load(bad, la));
    free(bad);

    free(ba);
    free(bb);
    free(bc);
    reward_free(a);
    reward_free(b);
    reward_free(c);
    reward_free(r);
    synth_free(&tr);
}

/* The file's bytes in a new buffer (the caller frees), its size in *len. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *b = malloc(1 << 16);
    assert_non_null(b);
    *len = fread(b, 1, 1 << 16, f);
    assert_true(*len > 0 && *len < (1 << 16));
    fclose(f);
    return b;
}

static double jnum_of(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* Asserts that the layer l scores the pairs of the fixture want (a JSON
 * file of tests/data/reward) exactly as the code that wrote it did. */
static void assert_scores_as(const struct reward_layer *l, json_t *want)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(want, "scores"), i, s)
    {
        const char *q = json_string_value(json_object_get(s, "prompt"));
        const char *a = json_string_value(json_object_get(s, "a"));
        const char *b = json_string_value(json_object_get(s, "b"));
        struct reward_pair r;
        struct reward_single one;
        assert_int_equal(reward_score_pair(l, q, a, b, &r), 0);
        assert_int_equal(reward_score_single(l, "Is it right?", a, &one), 0);
        /* Bit for bit: the same features, weights and sums as before. */
        assert_true(r.ra == jnum_of(s, "ra") && r.rb == jnum_of(s, "rb"));
        assert_true(r.ra_sd == jnum_of(s, "ra_sd") && r.rb_sd == jnum_of(s, "rb_sd"));
        assert_true(r.p_a == jnum_of(s, "p_a") && r.p_sd == jnum_of(s, "p_sd"));
        assert_true(r.confidence == jnum_of(s, "confidence"));
        assert_true(one.r == jnum_of(s, "r_single") && one.p_good == jnum_of(s, "p_good"));
    }
    assert_int_equal(i, 8);
}

/* Saved again, the old layer l (its blob: len bytes, a head-byte header) is
 * a current blob (an 80-byte header) with the same weights and token hash,
 * which loads and scores as l. */
static void assert_resaves(const struct reward_layer *l, const unsigned char *blob, size_t len,
                           size_t head, json_t *want)
{
    void *b2;
    size_t l2;
    assert_int_equal(reward_save(l, &b2, &l2), 0);
    assert_int_equal(l2, len - head + 80);
    assert_int_equal(((unsigned char *)b2)[8], REWARD_BLOB_VERSION);
    assert_memory_equal((unsigned char *)b2 + 80, blob + head, len - head);
    struct reward_layer *again = reward_load(b2, l2);
    assert_non_null(again);
    assert_int_equal(reward_hash(again), reward_hash(l));
    assert_int_equal(reward_checks(again), reward_checks(l));
    assert_true(reward_group_threshold(again) == reward_group_threshold(l));
    assert_scores_as(again, want);
    reward_free(again);
    free(b2);
}

/* A version-1 blob written by main 99727c9 (tests/data/reward) loads as a
 * layer without checker features and with the FNV-1a token hash, and
 * scores exactly as it did there. */
static void test_blob_v1(void **state)
{
    (void)state;
    size_t len;
    unsigned char *blob = slurp(RUNG_DATA_DIR "/reward/layer-v1.bin", &len);
    json_error_t err;
    json_t *want = json_load_file(RUNG_DATA_DIR "/reward/layer-v1.json", 0, &err);
    assert_non_null(want);
    struct reward_layer *l = reward_load(blob, len);
    assert_non_null(l);
    assert_int_equal(reward_checks(l), 0);
    assert_int_equal(reward_hash(l), FEAT_HASH_FNV1A);
    assert_int_equal(reward_bits(l), 8);
    assert_int_equal(reward_members(l), 3);
    assert_true(isinf(reward_threshold(l)) == (jnum_of(want, "threshold") < 0));
    assert_scores_as(l, want);
    assert_true(reward_group_threshold(l) == reward_threshold(l));
    assert_resaves(l, blob, len, 64, want);
    blob[8] = REWARD_BLOB_VERSION + 1; /* an unknown version is refused */
    assert_null(reward_load(blob, len));
    free(blob);
    json_decref(want);
    reward_free(l);
}

/* Version-2 blobs written by main d6831ad, the last version 2 (FNV-1a
 * token hash), without and with checker features: they load with that hash
 * and score exactly as they did there. The checker definition is part of
 * what a layer means: when this build's differs from the blob's (another
 * checker set), the layer is refused as reward_load documents. */
static void test_blob_v2(void **state)
{
    (void)state;
    static const char *const name[2][2] = {
        {RUNG_DATA_DIR "/reward/layer-v2.bin", RUNG_DATA_DIR "/reward/layer-v2.json"},
        {RUNG_DATA_DIR "/reward/layer-v2-checks.bin",
         RUNG_DATA_DIR "/reward/layer-v2-checks.json"}};
    for (int k = 0; k < 2; k++) {
        size_t len;
        unsigned char *blob = slurp(name[k][0], &len);
        json_error_t err;
        json_t *want = json_load_file(name[k][1], 0, &err);
        assert_non_null(want);
        assert_int_equal(blob[8], 2);
        struct reward_layer *l = reward_load(blob, len);
        /* The checkers' own block, without the group features of version 4. */
        assert_true(k == 0 ||
                    blob[60] + 256u * blob[61] + 65536u * blob[62] + 16777216u * blob[63] ==
                        reward_check_set_id_v3());
        assert_non_null(l);
        assert_int_equal(reward_hash(l), FEAT_HASH_FNV1A);
        assert_int_equal(reward_checks(l), k ? REWARD_CHECK_NFEAT_V3 : 0);
        assert_int_equal(reward_bits(l), 8);
        assert_int_equal(reward_members(l), 3);
        assert_true(isinf(reward_group_threshold(l)) == (jnum_of(want, "group_threshold") < 0));
        assert_scores_as(l, want);
        assert_resaves(l, blob, len, 72, want);
        if (k == 1) {
            blob[60] ^= 1; /* another checker definition is refused */
            assert_null(reward_load(blob, len));
        }
        reward_free(l);
        free(blob);
        json_decref(want);
    }
}

/* Loads the fixture layer STEM.bin of blob version (an FX layer of 2^8
 * buckets and 3 members, as the fixtures were written) with the scores
 * STEM.json records, and checks that it scores exactly those. */
static struct reward_layer *fx_fixture(const char *stem, int version, unsigned char **blob,
                                       size_t *len, json_t **want)
{
    char path[256];
    snprintf(path, sizeof path, RUNG_DATA_DIR "/reward/%s.bin", stem);
    *blob = slurp(path, len);
    snprintf(path, sizeof path, RUNG_DATA_DIR "/reward/%s.json", stem);
    json_error_t err;
    *want = json_load_file(path, 0, &err);
    assert_non_null(*want);
    assert_int_equal((*blob)[8], version);
    struct reward_layer *l = reward_load(*blob, *len);
    assert_non_null(l);
    assert_int_equal(reward_hash(l), FEAT_HASH_FX);
    assert_int_equal(reward_bits(l), 8);
    assert_int_equal(reward_members(l), 3);
    assert_scores_as(l, *want);
    return l;
}

/* A version-3 blob with checker features, written by main a630b43 (the
 * last version 3: FX token hash, the checkers' own 15 features): it loads
 * with them and scores exactly as it did there, the group features of
 * version 4 computed but unused. */
static void test_blob_v3(void **state)
{
    (void)state;
    size_t len;
    unsigned char *blob;
    json_t *want;
    struct reward_layer *l = fx_fixture("layer-v3-checks", 3, &blob, &len, &want);
    assert_int_equal(reward_checks(l), REWARD_CHECK_NFEAT_V3);
    assert_resaves(l, blob, len, 80, want);
    blob[56] = REWARD_CHECK_NFEAT; /* a count its feature set and length do not match */
    assert_null(reward_load(blob, len));
    reward_free(l);
    free(blob);
    json_decref(want);
}

/* Each pair of want's scores, scored with its question's samples, scores
 * exactly as recorded. */
static void assert_group_scores_as(const struct reward_layer *l, json_t *want)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(want, "scores"), i, s)
    {
        json_t *smp = json_object_get(s, "samples");
        const char *g[64];
        size_t n = json_array_size(smp);
        assert_true(n >= 2 && n <= 64);
        for (size_t k = 0; k < n; k++)
            g[k] = json_string_value(json_array_get(smp, k));
        struct reward_pair r;
        assert_int_equal(reward_score_pair_group(l, json_string_value(json_object_get(s, "prompt")),
                                                 json_string_value(json_object_get(s, "a")),
                                                 json_string_value(json_object_get(s, "b")), g, n,
                                                 &r),
                         0);
        assert_true(r.ra == jnum_of(s, "group_ra") && r.rb == jnum_of(s, "group_rb"));
        assert_true(r.p_a == jnum_of(s, "group_p_a") && r.p_sd == jnum_of(s, "group_p_sd"));
        assert_true(r.confidence == jnum_of(s, "group_confidence"));
    }
    assert_int_equal(i, 8);
}

/* An older blob with checker features (fixture name, written by the last
 * main of its version): it loads with its nfeat features and scores
 * exactly as it did there, alone, with its question's samples and as a
 * single text (the later features are computed but unused); the same blob
 * whose header says wrong features, a count its feature set and length do
 * not match, is refused. */
static void assert_old_checks_blob(const char *name, int version, unsigned nfeat, unsigned wrong)
{
    size_t len;
    unsigned char *blob;
    json_t *want;
    struct reward_layer *l = fx_fixture(name, version, &blob, &len, &want);
    assert_int_equal(reward_checks(l), nfeat);
    assert_group_scores_as(l, want);
    assert_resaves(l, blob, len, 80, want);
    blob[56] = (unsigned char)wrong;
    assert_null(reward_load(blob, len));
    reward_free(l);
    free(blob);
    json_decref(want);
}

/* Version 4, written by main b5ec390: FX token hash, the checkers' 15 and
 * the first 6 group features. */
static void test_blob_v4(void **state)
{
    (void)state;
    assert_int_equal(REWARD_CHECK_NFEAT_V4, 21);
    assert_old_checks_blob("layer-v4-checks", 4, REWARD_CHECK_NFEAT_V4, REWARD_CHECK_NFEAT_V5);
}

/* Version 5, written by main bf556ee: the checkers' 15 and the first 9
 * group features. */
static void test_blob_v5(void **state)
{
    (void)state;
    assert_int_equal(REWARD_CHECK_NFEAT_V5, 24);
    assert_old_checks_blob("layer-v5-checks", 5, REWARD_CHECK_NFEAT_V5, REWARD_CHECK_NFEAT);
}

/* Version 6, written by main 7416c12: the checkers' 15 and the first 11
 * group features. */
static void test_blob_v6(void **state)
{
    (void)state;
    assert_int_equal(REWARD_CHECK_NFEAT_V6, 26);
    assert_old_checks_blob("layer-v6-checks", 6, REWARD_CHECK_NFEAT_V6, REWARD_CHECK_NFEAT);
}

/* A layer trained with either token hash saves it in its blob and loads
 * back with it; the two hashes give different vectors, so a layer scored
 * with the wrong one would not score as trained. */
static void test_blob_hash(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 300, 21, INFINITY, 0.0);
    struct reward_params p;
    reward_params_default(&p);
    assert_int_equal(p.hash, FEAT_HASH_FX);
    p.bits = 10;
    p.members = 2;
    p.calib_share = 0.0;
    struct reward_pair out[2];
    for (int k = 0; k < 2; k++) {
        p.hash = k ? FEAT_HASH_FX : FEAT_HASH_FNV1A;
        struct reward_layer *l = reward_train(&p, tr.ex, tr.n, NULL, 0, NULL);
        assert_non_null(l);
        assert_int_equal(reward_hash(l), p.hash);
        void *b;
        size_t len;
        assert_int_equal(reward_save(l, &b, &len), 0);
        assert_int_equal(((unsigned char *)b)[8], REWARD_BLOB_VERSION);
        assert_int_equal(((unsigned char *)b)[72], p.hash);
        struct reward_layer *again = reward_load(b, len);
        assert_non_null(again);
        assert_int_equal(reward_hash(again), p.hash);
        struct reward_pair r;
        const struct reward_pair_ex *e = &tr.ex[0];
        assert_int_equal(reward_score_pair(l, e->prompt, e->a, e->b, &out[k]), 0);
        assert_int_equal(reward_score_pair(again, e->prompt, e->a, e->b, &r), 0);
        assert_true(r.ra == out[k].ra && r.rb == out[k].rb && r.p_a == out[k].p_a);
        unsigned char *bad = b;
        bad[72] = 3; /* a token hash this build does not know */
        assert_null(reward_load(bad, len));
        bad[72] = (unsigned char)p.hash;
        bad[76] = 1; /* the word after it must be zero */
        assert_null(reward_load(bad, len));
        reward_free(again);
        reward_free(l);
        free(b);
    }
    assert_true(out[0].ra != out[1].ra);
    p.hash = (enum feat_hash)0;
    assert_null(reward_train(&p, tr.ex, tr.n, NULL, 0, NULL));
    synth_free(&tr);
}

/* A prompt's group is the distinct responses its pairs hold, read once:
 * three pairs of one right and three wrong answers (two of them alike)
 * make one group of four; alone, each pair is its own group. */
static void test_check_groups(void **state)
{
    (void)state;
    const char *q = "Tom has 3 apples and buys 4 more. How many?";
    const char *c = "3 + 4 = 7\nA: 7", *w1 = "3 * 4 = 12\nA: 12", *w2 = "4 * 3 = 12\nA: 12",
               *w3 = "3 - 4 = 1\nA: 1";
    struct reward_pair_ex e[4] = {
        {q, c, w1, 1.0, 1.0, 0},
        {q, w2, c, 0.0, 1.0, 0},
        {q, c, w3, 1.0, 1.0, 0},
        {"  tom HAS 3 apples and buys 4 more. How many?", w1, c, 0.0, 1.0, 0}};
    struct reward_check_table t;
    assert_int_equal(reward_check_pairs(e, 4, 0, 0, &t), 0);
    assert_int_equal(t.nv, 4); /* c, w1, w2, w3: the last prompt normalises to the first */
    assert_int_equal(t.side[0], t.side[3]);
    assert_int_equal(t.side[1], t.side[6]);
    float share_c = t.v[t.side[0]][CHECK_AGREE_SHARE], share_w1 = t.v[t.side[1]][CHECK_AGREE_SHARE];
    assert_float_equal(share_c, 0.0, 1e-6);
    assert_float_equal(share_w1, 4.0 / 3.0, 1e-6); /* 1 of 3 others, scaled by 4 */
    assert_float_equal(t.v[t.side[0]][CHECK_ARITH_WRONG], 0.0, 1e-6);
    assert_float_equal(t.v[t.side[1]][CHECK_ARITH_WRONG], 0.0, 1e-6);
    assert_float_equal(t.v[t.side[5]][CHECK_ARITH_WRONG], 2.0, 1e-6); /* 1 / (1 + 1), scaled */
    reward_check_table_free(&t);
    assert_int_equal(reward_check_pairs(e, 4, 0, 1, &t), 0);
    assert_int_equal(t.nv, 8); /* alone: every side its own block */
    assert_float_equal(t.v[t.side[1]][CHECK_AGREE_SHARE], 0.0, 1e-6);
    reward_check_table_free(&t);
    struct reward_pair_ex bad = {q, NULL, c, 1.0, 1.0, 0};
    assert_int_equal(reward_check_pairs(&bad, 1, 0, 0, &t), -EINVAL);
    assert_int_equal(reward_check_pairs(NULL, 0, 0, 0, &t), 0);
    reward_check_table_free(&t);
}

static void test_pointwise(void **state)
{
    (void)state;
    struct synth tr;
    synth_make(&tr, 1500, 61, INFINITY, 0.0);
    size_t n = 3000;
    struct reward_point_ex *pts = test_calloc(n, sizeof(*pts));
    uint64_t s = 9;
    char(*buf)[TEXT_MAX] = test_calloc(n, sizeof(*buf));
    for (size_t i = 0; i < n; i++) {
        int good = (int)(rnd(&s) & 1);
        make_text(&s, good ? 0.9 : 0.1, buf[i]);
        pts[i] =
            (struct reward_point_ex){"Is this answer good?", buf[i], good ? 1.0 : 0.0, 1.0, i + 1};
    }
    struct reward_params p;
    reward_params_default(&p);
    json_t *rep;
    /* Points only: allowed, pairs all go to humans. */
    struct reward_layer *l = reward_train(&p, NULL, 0, pts, n, &rep);
    assert_non_null(l);
    assert_true(isinf(reward_threshold(l)));
    json_t *pw = json_object_get(rep, "pointwise");
    assert_true(json_is_object(pw));
    double acc = jreal(json_object_get(pw, "calibration"), "accuracy");
    printf("pointwise: calibration accuracy %.4f, tau %.4f\n", acc, reward_point_threshold(l));
    assert_true(acc > 0.95);
    assert_true(isfinite(reward_point_threshold(l)));
    struct reward_single r1, r2;
    assert_int_equal(reward_score_single(l, "Is this answer good?",
                                         "clear correct helpful precise accurate safe kind", &r1),
                     0);
    assert_int_equal(
        reward_score_single(l, "Is this answer good?", "wrong rude vague harmful sloppy lazy", &r2),
        0);
    assert_true(r1.has_point && r1.p_good > 0.5 && r2.p_good < 0.5);
    json_decref(rep);
    reward_free(l);
    test_free(pts);
    test_free(buf);
    synth_free(&tr);
}

/* ---- real data: the fixtures in tests/data -------------------------------- */

#define FOLDS 5
/* Margins over "the longer reply wins", in absolute accuracy. Measured on the
 * fixtures without checker features: HH 0.637 vs 0.375 (on HH-harmless the
 * shorter reply, often a refusal, tends to win), GSM8K 0.598 vs 0.546; with
 * them (and cross-fitted calibration) HH 0.626, GSM8K 0.820. */
#define HH_MARGIN 0.15
#define GSM8K_MARGIN 0.20
/* GSM8K: the layer with checker features must beat the agreement rule of
 * test_check_rules.c (prefer the answer more of the group's other samples
 * share; a tie is a coin) on the same pairs by this much. Measured: 0.820
 * against 0.712. */
#define AGREE_MARGIN 0.07
/* Held-out pairs at or above their fold's threshold must be right at least
 * target - HONEST_POINTS of the time (issue 11: within 3 points). */
#define HONEST_POINTS 0.03

struct collect {
    struct reward_pair_ex *all;
    int *fold;
    size_t n, cap;
    char **owned;
    size_t nowned;
    uint64_t flip;
};

static char *keep(struct collect *c, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    assert_non_null(d);
    memcpy(d, s, n);
    c->owned[c->nowned++] = d;
    return d;
}

static int collect_pair(void *cls, const struct dataset_pair *p)
{
    struct collect *c = cls;
    assert_true(c->n < c->cap);
    /* Random side order so that "a wins" carries no information. */
    int swap = (int)(rnd(&c->flip) & 1);
    struct reward_pair_ex e = {keep(c, p->prompt),
                               keep(c, swap ? p->rejected : p->chosen),
                               keep(c, swap ? p->chosen : p->rejected),
                               swap ? 0.0 : 1.0,
                               1.0,
                               0};
    /* Folds by prompt, so every sample of a question falls in one fold; fold
     * 0 is dataset_split_is_test's test side. */
    c->fold[c->n] = (int)(feat_fnv1a64(p->prompt, strlen(p->prompt)) % FOLDS);
    c->all[c->n++] = e;
    return 0;
}

/* Accuracy of "the longer reply wins" (ties count half). */
static double longer_wins(const struct reward_pair_ex *e, size_t n)
{
    double ok = 0.0;
    for (size_t i = 0; i < n; i++) {
        size_t la = strlen(e[i].a), lb = strlen(e[i].b);
        ok += la == lb ? 0.5 : ((la > lb) == (e[i].y > 0.5));
    }
    return ok / (double)n;
}

#define GROUP_MAX 16 /* distinct responses of one prompt in the fixtures */

/* The agreement share of text x among the distinct responses that the
 * pairs e[0..n) hold for prompt q (the group the layer also sees). */
static double agree_share(const struct reward_pair_ex *e, size_t n, const char *q, const char *x)
{
    const char *g[GROUP_MAX];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < 2 && !strcmp(e[i].prompt, q); s++) {
            const char *t = s ? e[i].b : e[i].a;
            size_t j = 0;
            while (j < ng && strcmp(g[j], t))
                j++;
            if (j == ng && strcmp(t, x)) {
                assert_true(ng < GROUP_MAX);
                g[ng++] = t;
            }
        }
    struct check_answer self, others[GROUP_MAX];
    struct check_result r;
    check_result_init(&r);
    assert_int_equal(check_answer(x, strlen(x), &self, NULL), 0);
    for (size_t j = 0; j < ng; j++)
        assert_int_equal(check_answer(g[j], strlen(g[j]), &others[j], NULL), 0);
    assert_int_equal(check_agree(&self, others, ng, 0, &r, NULL), 0);
    return r.v[CHECK_AGREE_SHARE];
}

/* Accuracy of the agreement rule on e[0..n) (ties count half). */
static double agree_wins(const struct reward_pair_ex *e, size_t n)
{
    double ok = 0.0;
    for (size_t i = 0; i < n; i++) {
        double sa = agree_share(e, n, e[i].prompt, e[i].a);
        double sb = agree_share(e, n, e[i].prompt, e[i].b);
        ok += sa == sb ? 0.5 : ((sa > sb) == (e[i].y > 0.5));
    }
    return ok / (double)n;
}

/* What one fold gives: right answers, the baselines' right answers, and the
 * held-out pairs at or above the fold layer's threshold. The layer scores
 * the held-out pairs with their sample groups (reward_evaluate's
 * "grouped"), and each pair alone, as the daemon scores a pair item. */
struct fold_out {
    size_t n;               /* held-out pairs */
    double right;           /* the layer's right answers, with groups */
    double longer, agree;   /* the baselines' right answers (ties half) */
    double covered, cov_ok; /* pairs with confidence >= tau, right ones among them */
    double lone_right;      /* right answers, each pair alone */
    double lone_cov, lone_cov_ok;
};

/* Adds the covered pairs of evaluation ev (n pairs) to *cov and *ok. */
static void covered(json_t *ev, size_t n, double *cov, double *ok)
{
    if (json_is_null(json_object_get(ev, "threshold")))
        return;
    double c = jreal(ev, "coverage") * (double)n;
    *cov += c;
    if (c > 0)
        *ok += jreal(ev, "accuracy_on_covered") * c;
}

/* Trains on every fold but k and scores fold k into *o. */
static void fold_run(const struct collect *c, int k, struct fold_out *o)
{
    struct reward_pair_ex *tr = calloc(c->n, sizeof(*tr)), *te = calloc(c->n, sizeof(*te));
    assert_true(tr && te);
    size_t ntr = 0, nte = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->fold[i] == k)
            te[nte++] = c->all[i];
        else
            tr[ntr++] = c->all[i];
    }
    struct reward_params p;
    reward_params_default(&p);
    json_t *rep;
    struct reward_layer *l = reward_train(&p, tr, ntr, NULL, 0, &rep);
    assert_non_null(l);
    /* Both views' thresholds count trials with the larger of the two
     * views' intraclass correlations (each an estimate from the same few
     * prompt groups). */
    json_t *lc = json_object_get(rep, "calibration");
    json_t *gc = json_object_get(json_object_get(rep, "grouped"), "calibration");
    double il = jreal(lc, "group_correlation"), ig = jreal(gc, "group_correlation");
    assert_true(jreal(lc, "group_correlation_used") == (il > ig ? il : ig));
    assert_true(jreal(gc, "group_correlation_used") == (il > ig ? il : ig));
    json_t *ev = reward_evaluate(l, te, nte), *g = json_object_get(ev, "grouped");
    o->n = nte;
    o->right = jreal(g, "accuracy") * (double)nte;
    o->lone_right = jreal(ev, "accuracy") * (double)nte;
    o->longer = longer_wins(te, nte) * (double)nte;
    o->agree = agree_wins(te, nte) * (double)nte;
    covered(g, nte, &o->covered, &o->cov_ok);
    covered(ev, nte, &o->lone_cov, &o->lone_cov_ok);
    json_decref(ev);
    json_decref(rep);
    reward_free(l);
    free(tr);
    free(te);
}

/* One-sided 95% Wilson lower bound of accuracy acc over n trials. */
static double wilson95(double acc, double n)
{
    double z = 1.6449;
    return (acc + z * z / (2 * n) - z * sqrt(acc * (1 - acc) / n + z * z / (4 * n * n))) /
           (1 + z * z / n);
}

/* 5-fold cross-validation on a fixture: every pair is predicted once by a
 * layer that never saw its prompt. The fixtures are small (~300 pairs), so a
 * single 80/20 split would judge on ~60 pairs; five folds judge on all. The
 * layer must beat "the longer reply wins" by margin (absolute accuracy), the
 * agreement rule by agree_margin (when not negative), a coin with 95%
 * confidence, and keep its thresholds honest. */
static void real_data(const char *file, enum dataset_format fmt, const char *name,
                      size_t want_pairs, double margin, double agree_margin)
{
    struct collect c = {0};
    c.cap = 1000;
    c.all = calloc(c.cap, sizeof(*c.all));
    c.fold = calloc(c.cap, sizeof(*c.fold));
    c.owned = calloc(3 * c.cap, sizeof(*c.owned));
    c.flip = 77;
    assert_true(c.all && c.fold && c.owned);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    assert_int_equal(dataset_read(f, fmt, collect_pair, NULL, &c, NULL), 0);
    fclose(f);
    assert_int_equal(c.n, want_pairs);
    struct fold_out t = {0};
    for (int k = 0; k < FOLDS; k++) {
        struct fold_out o = {0};
        fold_run(&c, k, &o);
        t.n += o.n;
        t.right += o.right;
        t.longer += o.longer;
        t.agree += o.agree;
        t.covered += o.covered;
        t.cov_ok += o.cov_ok;
        t.lone_right += o.lone_right;
        t.lone_cov += o.lone_cov;
        t.lone_cov_ok += o.lone_cov_ok;
    }
    assert_int_equal(t.n, c.n);
    double nn = (double)t.n, acc = t.right / nn, bacc = t.longer / nn, aacc = t.agree / nn;
    double cov_acc = t.covered > 0 ? t.cov_ok / t.covered : NAN;
    double lone_cov_acc = t.lone_cov > 0 ? t.lone_cov_ok / t.lone_cov : NAN;
    printf("%s: %zu pairs, %d-fold held-out accuracy %.4f, longer-wins %.4f (margin %.2f), "
           "agreement rule %.4f; at each fold's tau: coverage %.4f, accuracy on covered %.4f; "
           "each pair alone: accuracy %.4f, coverage %.4f, accuracy on covered %.4f\n",
           name, c.n, FOLDS, acc, bacc, margin, aacc, t.covered / nn, cov_acc, t.lone_right / nn,
           t.lone_cov / nn, lone_cov_acc);
    assert_true(acc >= bacc + margin);
    if (agree_margin >= 0)
        assert_true(acc >= aacc + agree_margin);
    assert_true(t.covered == 0 || cov_acc >= 0.95 - HONEST_POINTS);
    assert_true(t.lone_cov == 0 || lone_cov_acc >= 0.95 - HONEST_POINTS);
    /* Better than a coin, and not by luck. */
    double lb = wilson95(acc, nn);
    printf("%s: Wilson 95%% lower bound %.4f\n", name, lb);
    assert_true(lb > 0.5);
    for (size_t i = 0; i < c.nowned; i++)
        free(c.owned[i]);
    free(c.owned);
    free(c.all);
    free(c.fold);
}

static void test_hh(void **state)
{
    (void)state;
    real_data(RUNG_DATA_DIR "/hh-rlhf-harmless/pairs.jsonl", DATASET_HH, "hh", 289, HH_MARGIN, -1);
}

static void test_gsm8k(void **state)
{
    (void)state;
    real_data(RUNG_DATA_DIR "/gsm8k/model_solutions.jsonl", DATASET_GSM8K, "gsm8k", 306,
              GSM8K_MARGIN, AGREE_MARGIN);
}

/* A copy of s with k spaces appended, owned by c. */
static char *spaced(struct collect *c, const char *s, int k)
{
    size_t n = strlen(s);
    char *d = malloc(n + (size_t)k + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    memset(d + n, ' ', (size_t)k);
    d[n + (size_t)k] = '\0';
    c->owned[c->nowned++] = d;
    return d;
}

#define COPIES 5
#define HONEST_SLACK 0.05 /* accuracy on covered held-out pairs >= target - this */

/* Issue 9: importing the same pairs 5 times once let copies land on both
 * sides of the calibration split: calibration accuracy 0.97, tau 0.5, and
 * 66% real accuracy on everything auto-labelled. Hold out two fifths of
 * the HH fixture's prompts, train on the rest COPIES times, and the
 * threshold must stay honest: none, or held-out pairs at or above it right
 * at least target - HONEST_SLACK of the time. Exact copies are skipped as
 * duplicates; copies with trailing spaces (the same features, not the same
 * bytes) must be kept off the calibration side by the split by prompt. */
static void dup_case(int exact)
{
    struct collect c = {.cap = 1000, .flip = 77};
    c.all = calloc(c.cap, sizeof(*c.all));
    c.fold = calloc(c.cap, sizeof(*c.fold));
    c.owned = calloc(3 * c.cap + 2 * COPIES * c.cap, sizeof(*c.owned));
    struct reward_pair_ex *tr = calloc(COPIES * c.cap, sizeof(*tr)),
                          *te = calloc(c.cap, sizeof(*te));
    assert_true(c.all && c.fold && c.owned && tr && te);
    FILE *f = fopen(RUNG_DATA_DIR "/hh-rlhf-harmless/pairs.jsonl", "r");
    assert_non_null(f);
    assert_int_equal(dataset_read(f, DATASET_HH, collect_pair, NULL, &c, NULL), 0);
    fclose(f);
    size_t ntr = 0, nte = 0, uniq = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.fold[i] < 2) {
            te[nte++] = c.all[i];
            continue;
        }
        uniq++;
        for (int k = 0; k < COPIES; k++) {
            tr[ntr] = c.all[i];
            if (!exact) {
                tr[ntr].a = spaced(&c, c.all[i].a, k);
                tr[ntr].b = spaced(&c, c.all[i].b, k);
            }
            ntr++;
        }
    }
    struct reward_params p;
    reward_params_default(&p);
    json_t *rep;
    struct reward_layer *l = reward_train(&p, tr, ntr, NULL, 0, &rep);
    assert_non_null(l);
    json_t *ev = reward_evaluate(l, te, nte);
    double tau = reward_threshold(l), cov = jreal(ev, "coverage");
    double acc = jreal(ev, "accuracy_on_covered");
    printf("%s copies: %zu unique pairs x %d, held out %zu; calibration accuracy %.4f, tau %.4f, "
           "held-out coverage %.3f, accuracy on covered %.4f (overall %.4f)\n",
           exact ? "exact" : "spaced", uniq, COPIES, nte,
           jreal(json_object_get(rep, "calibration"), "accuracy"), tau, cov, acc,
           jreal(ev, "accuracy"));
    assert_true(isinf(tau) || cov == 0.0 || acc >= p.target - HONEST_SLACK);
    json_int_t dups = json_integer_value(json_object_get(rep, "duplicates_skipped"));
    /* Cross-fitted calibration: every kept pair trains the layer and is
     * scored once by members that did not see its prompt. */
    json_int_t used = json_integer_value(json_object_get(rep, "pairs_train"));
    assert_int_equal(json_integer_value(json_object_get(rep, "pairs_calibration")), used);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "calibration"),
                                                        "cross_fitted_folds")),
                     5);
    assert_int_equal(dups, exact ? (json_int_t)(ntr - uniq) : 0);
    assert_int_equal(used, (json_int_t)(exact ? uniq : ntr));
    json_decref(ev);
    json_decref(rep);
    reward_free(l);
    for (size_t i = 0; i < c.nowned; i++)
        free(c.owned[i]);
    free(c.owned);
    free(c.all);
    free(c.fold);
    free(tr);
    free(te);
}

static void test_duplicates_keep_tau_honest(void **state)
{
    (void)state;
    dup_case(0);
    dup_case(1);
}

static void test_group_and_pair_keys(void **state)
{
    (void)state;
    assert_true(reward_group_of("  Human: Hi\n\n there ") == reward_group_of("human: hi there"));
    assert_true(reward_group_of("hi there") != reward_group_of("hi  there!"));
    assert_true(reward_group_of("") != 0 && reward_group_of(NULL) == reward_group_of(""));
    assert_true(reward_pair_key("p", "a", "b") == reward_pair_key("P ", "b", "a"));
    assert_true(reward_pair_key("p", "a", "b") != reward_pair_key("p", "a", "b "));
    assert_true(reward_pair_key("p", "a", "b") != reward_pair_key("q", "a", "b"));
}

/* The intraclass correlation behind the threshold's effective trials:
 * a worked example (groups of 4, 3, 2 and 1 items; the value from the
 * one-way ANOVA estimator by hand: MSB 0.20, MSW 0.1556, n0 2.4667), the
 * bounds, and the cases where it cannot be estimated (each group one
 * trial). */
static void test_group_icc(void **state)
{
    (void)state;
    double icc = -1;
    const uint64_t g[] = {1, 1, 1, 1, 2, 2, 2, 3, 3, 4};
    const unsigned char r[] = {1, 1, 1, 0, 0, 0, 1, 1, 1, 0};
    assert_int_equal(reward_group_icc(g, r, 10, &icc), 0);
    assert_true(fabs(icc - 0.1426513) < 1e-6);
    /* Every group all right or all wrong: as correlated as can be. */
    const unsigned char pure[] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 0};
    assert_int_equal(reward_group_icc(g, pure, 10, &icc), 0);
    assert_true(fabs(icc - 1.0) < 1e-9);
    /* Each group half right: less alike within than between, clamped to 0. */
    const uint64_t g2[] = {1, 1, 2, 2, 3, 3};
    const unsigned char half[] = {1, 0, 0, 1, 1, 0};
    assert_int_equal(reward_group_icc(g2, half, 6, &icc), 0);
    assert_true(icc == 0.0);
    /* Not estimable: one group, only singletons, all right, nothing. */
    icc = 0;
    assert_int_equal(reward_group_icc(g, r, 4, &icc), 0);
    assert_true(icc == 1.0);
    const uint64_t single[] = {1, 2, 3};
    icc = 0;
    assert_int_equal(reward_group_icc(single, r, 3, &icc), 0);
    assert_true(icc == 1.0);
    const unsigned char all[] = {1, 1, 1, 1, 1, 1};
    icc = 0;
    assert_int_equal(reward_group_icc(g2, all, 6, &icc), 0);
    assert_true(icc == 1.0);
    icc = 0;
    assert_int_equal(reward_group_icc(NULL, NULL, 0, &icc), 0);
    assert_true(icc == 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient),
        cmocka_unit_test(test_separable),
        cmocka_unit_test(test_many_members),
        cmocka_unit_test(test_report_and_scores),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_threshold_honesty),
        cmocka_unit_test(test_save_load_determinism),
        cmocka_unit_test(test_pointwise),
        cmocka_unit_test(test_hh),
        cmocka_unit_test(test_gsm8k),
        cmocka_unit_test(test_blob_v1),
        cmocka_unit_test(test_blob_v2),
        cmocka_unit_test(test_blob_v3),
        cmocka_unit_test(test_blob_v4),
        cmocka_unit_test(test_blob_v5),
        cmocka_unit_test(test_blob_v6),
        cmocka_unit_test(test_blob_hash),
        cmocka_unit_test(test_check_groups),
        cmocka_unit_test(test_duplicates_keep_tau_honest),
        cmocka_unit_test(test_group_and_pair_keys),
        cmocka_unit_test(test_group_icc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
