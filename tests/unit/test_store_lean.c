/* Lean write jobs (store_submit_lean): they run without a savepoint, and a
 * failing one sends its group back to run again with a savepoint for every
 * job. Real SQLite file in a temporary directory; the writer thread is held
 * by a first job so that the next ones queue up and share one group. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "store_internal.h"
#include "token.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *s;
};

static int make_table(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    (void)arg;
    return conn_exec(c, "CREATE TABLE lean_t(x INTEGER NOT NULL)");
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/rung-lean-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    char err[256];
    token_init();
    f->s = store_open(f->path, 2, err, sizeof err);
    if (!f->s || store_run(f->s, make_table, NULL))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A job that inserts x, then answers with result. runs counts its runs. */
struct row_job {
    int x;
    int result;
    int runs;
    int rc;
};

static int row_run(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    struct row_job *j = arg;
    char sql[64];
    snprintf(sql, sizeof sql, "INSERT INTO lean_t(x) VALUES (%d)", j->x);
    j->runs++;
    int rc = conn_exec(c, sql);
    return rc ? rc : j->result;
}

/* The first job holds the writer until the others are queued. */
struct gate {
    sem_t started, go, done;
};

static int gate_run(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    (void)c;
    struct gate *g = arg;
    sem_post(&g->started);
    sem_wait(&g->go);
    return 0;
}

static void job_done(void *cls)
{
    sem_post(&((struct gate *)cls)->done);
}

/* Queues the jobs behind a held writer, so that they run as one group,
 * and waits for all of them. lean[i] picks store_submit_lean. */
static void run_group(struct store *s, struct row_job *jobs, const bool *lean, size_t n)
{
    struct gate g;
    sem_init(&g.started, 0, 0);
    sem_init(&g.go, 0, 0);
    sem_init(&g.done, 0, 0);
    int gate_rc = -1;
    assert_int_equal(store_submit(s, gate_run, &g, &gate_rc, job_done, &g), 0);
    sem_wait(&g.started);
    for (size_t i = 0; i < n; i++) {
        int rc = lean[i] ? store_submit_lean(s, row_run, &jobs[i], &jobs[i].rc, job_done, &g)
                         : store_submit(s, row_run, &jobs[i], &jobs[i].rc, job_done, &g);
        assert_int_equal(rc, 0);
    }
    sem_post(&g.go);
    for (size_t i = 0; i <= n; i++)
        sem_wait(&g.done);
    assert_int_equal(gate_rc, 0);
    sem_destroy(&g.started);
    sem_destroy(&g.go);
    sem_destroy(&g.done);
}

/* The rows of lean_t, in order, as "1,3" ("" when none). */
static void rows_of(const char *path, char *out, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT group_concat(x) FROM (SELECT x FROM lean_t ORDER BY x)", -1,
                           &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void lean_group_commits_without_a_rerun(void **state)
{
    struct fx *f = *state;
    struct row_job jobs[3] = {{.x = 1}, {.x = 2}, {.x = 3}};
    const bool lean[3] = {true, true, true};
    uint64_t groups0, writes0, groups1, writes1;
    store_stats(f->s, &groups0, &writes0);
    run_group(f->s, jobs, lean, 3);
    store_stats(f->s, &groups1, &writes1);
    char rows[64];
    rows_of(f->path, rows, sizeof rows);
    assert_string_equal(rows, "1,2,3");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(jobs[i].runs, 1);
    }
    assert_int_equal(store_guarded_reruns(f->s), 0);
    /* The gate's group and one more carrying the three. */
    assert_int_equal(groups1 - groups0, 2);
    assert_int_equal(writes1 - writes0, 4);
}

/* A lean job fails after its insert: the group runs again guarded, the
 * failing job keeps its error and changes nothing, the others commit. */
static void failing_lean_job_reruns_its_group_guarded(void **state)
{
    struct fx *f = *state;
    struct row_job jobs[4] = {{.x = 1}, {.x = 2, .result = -EINVAL}, {.x = 3}, {.x = 4}};
    const bool lean[4] = {true, true, false, true};
    run_group(f->s, jobs, lean, 4);
    char rows[64];
    rows_of(f->path, rows, sizeof rows);
    assert_string_equal(rows, "1,3,4");
    assert_int_equal(jobs[0].rc, 0);
    assert_int_equal(jobs[1].rc, -EINVAL);
    assert_int_equal(jobs[2].rc, 0);
    assert_int_equal(jobs[3].rc, 0);
    /* The first run stopped at the failure: the jobs up to it ran twice,
     * those after it once. */
    assert_int_equal(jobs[0].runs, 2);
    assert_int_equal(jobs[1].runs, 2);
    assert_int_equal(jobs[2].runs, 1);
    assert_int_equal(jobs[3].runs, 1);
    assert_int_equal(store_guarded_reruns(f->s), 1);
}

/* STORE_ROLLBACK from a lean job: its caller sees 0 and its insert is
 * gone, as from a job with a savepoint. */
static void lean_job_rolling_back_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct row_job jobs[2] = {{.x = 5, .result = STORE_ROLLBACK}, {.x = 6}};
    const bool lean[2] = {true, true};
    run_group(f->s, jobs, lean, 2);
    char rows[64];
    rows_of(f->path, rows, sizeof rows);
    assert_string_equal(rows, "6");
    assert_int_equal(jobs[0].rc, 0);
    assert_int_equal(jobs[1].rc, 0);
    assert_int_equal(store_guarded_reruns(f->s), 1);
}

static int fail_run(struct store *s, struct conn *c, void *arg)
{
    (void)s;
    (void)c;
    (void)arg;
    return -EINVAL;
}

/* Ingests n auto-settled items as one group behind a held writer, with a
 * failing lean job after them when fail; returns how far the blind draw's
 * credit (kept in memory, not in a row) moved. */
static int64_t credit_moved_by(struct store *s, int64_t layer, bool fail)
{
    enum { N = 10 };
    struct store_item_in it[N];
    struct store_item_ack acks[N];
    memset(it, 0, sizeof it);
    for (int i = 0; i < N; i++)
        it[i] = (struct store_item_in){.prompt = "p",
                                       .response_a = "a",
                                       .layer_id = layer,
                                       .route_auto = true,
                                       .verdict = "good",
                                       .confidence = 0.9,
                                       .group_seen = -1};
    struct store_ingest req = {.items = it, .n = N, .acks = acks};
    struct gate g;
    sem_init(&g.started, 0, 0);
    sem_init(&g.go, 0, 0);
    sem_init(&g.done, 0, 0);
    int gate_rc = -1, fail_rc = 0;
    int64_t before = s->tasks->blind_credit;
    assert_int_equal(store_submit(s, gate_run, &g, &gate_rc, job_done, &g), 0);
    sem_wait(&g.started);
    assert_int_equal(store_ingest_submit(s, &req, job_done, &g), 0);
    if (fail)
        assert_int_equal(store_submit_lean(s, fail_run, NULL, &fail_rc, job_done, &g), 0);
    sem_post(&g.go);
    for (int i = 0; i < 2 + fail; i++)
        sem_wait(&g.done);
    assert_int_equal(req.rc, 0);
    assert_int_equal(fail_rc, fail ? -EINVAL : 0);
    sem_destroy(&g.started);
    sem_destroy(&g.go);
    sem_destroy(&g.done);
    return s->tasks->blind_credit - before;
}

/* A group run again keeps no trace of its first run in what the jobs
 * count in memory: auto-settled items add to the blind draw's credit
 * once, rerun or not. */
static void rerun_counts_memory_once(void **state)
{
    struct fx *f = *state;
    store_set_audit(f->s, 20000, 1);
    int64_t layer = 0;
    struct store_layer_new ln = {.params = "x",
                                 .params_len = 1,
                                 .metrics = "{}",
                                 .threshold = 0.5,
                                 .sources = "{}",
                                 .activate = true};
    assert_int_equal(store_layer_add(f->s, &ln, &layer), 0);
    int64_t once = credit_moved_by(f->s, layer, false);
    assert_true(once != 0);
    assert_int_equal(store_guarded_reruns(f->s), 0);
    assert_int_equal(credit_moved_by(f->s, layer, true), once);
    assert_int_equal(store_guarded_reruns(f->s), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(lean_group_commits_without_a_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(failing_lean_job_reruns_its_group_guarded, setup, teardown),
        cmocka_unit_test_setup_teardown(lean_job_rolling_back_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(rerun_counts_memory_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
