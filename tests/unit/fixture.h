/* Fixtures shared by the unit tests: a small clear-cut hashed-bt layer and
 * a store in a temporary directory. Header-only (static inline), so each
 * test file stays one executable. */
#ifndef RUNG_TEST_FIXTURE_H
#define RUNG_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "reward.h"
#include "store.h"

#define FIXTURE_N 600 /* training pairs (and points) of the clear layer */

/* Trains 3 members on 2^14 buckets: "correct careful verified precise"
 * beats "wrong guess nonsense rude", sides alternating, target 0.9, each
 * pair its own calibration group (independent draws, though the 13 prompts
 * repeat); with
 * points, a pointwise head learns the same words. Returns NULL on failure;
 * the caller frees with reward_free. */
static inline struct reward_layer *fixture_clear_layer(bool points)
{
    static const char *const good[] = {"correct", "careful", "verified", "precise"};
    static const char *const bad[] = {"wrong", "guess", "nonsense", "rude"};
    static char prompts[FIXTURE_N][32], goods[FIXTURE_N][96], bads[FIXTURE_N][96];
    struct reward_pair_ex *ex = calloc(FIXTURE_N, sizeof *ex);
    struct reward_point_ex *pt = calloc(FIXTURE_N, sizeof *pt);
    for (int i = 0; ex && pt && i < FIXTURE_N; i++) {
        snprintf(prompts[i], sizeof prompts[i], "question %d", i % 13);
        snprintf(goods[i], sizeof goods[i], "%s and %s answer %d", good[i % 4], good[(i / 4) % 4],
                 i);
        snprintf(bads[i], sizeof bads[i], "%s and %s answer %d", bad[i % 4], bad[(i / 4) % 4], i);
        bool swap = i % 2;
        ex[i] = (struct reward_pair_ex){.prompt = prompts[i],
                                        .a = swap ? bads[i] : goods[i],
                                        .b = swap ? goods[i] : bads[i],
                                        .y = swap ? 0.0 : 1.0,
                                        .weight = 1.0,
                                        .group = (uint64_t)i + 1};
        pt[i] = (struct reward_point_ex){prompts[i], swap ? goods[i] : bads[i], swap, 1.0,
                                         (uint64_t)i + 1};
    }
    struct reward_params p;
    reward_params_default(&p);
    p.members = 3;
    p.bits = 14;
    p.target = 0.9;
    struct reward_layer *l =
        ex && pt ? reward_train(&p, ex, FIXTURE_N, pt, points ? FIXTURE_N : 0, NULL) : NULL;
    free(ex);
    free(pt);
    return l;
}

/* A store in its own temporary directory. */
struct fixture_db {
    char dir[64];
    char path[128];
    struct store *s;
};

/* Creates the directory and opens the store with readers connections.
 * Returns 0 or -1 (said on stderr). */
static inline int fixture_db_open(struct fixture_db *f, unsigned readers)
{
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/rung-unit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    token_init();
    f->s = store_open(f->path, readers, err, sizeof err);
    if (!f->s)
        fprintf(stderr, "%s\n", err);
    return f->s ? 0 : -1;
}

/* Closes the store and removes the directory. Returns 0 or -1. */
static inline int fixture_db_close(struct fixture_db *f)
{
    char cmd[160];
    store_close(f->s);
    f->s = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* cmocka setup and teardown of a fixture_db of 2 readers as the state. */
static inline int fixture_db_setup(void **state)
{
    struct fixture_db *f = calloc(1, sizeof *f);
    if (!f || fixture_db_open(f, 2)) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static inline int fixture_db_teardown(void **state)
{
    struct fixture_db *f = *state;
    int rc = fixture_db_close(f);
    free(f);
    return rc;
}

#endif
