/* Private to the store's .c files: the connection wrapper, statement ids
 * and the writer's job interface. Includes sqlite3.h, so nothing outside
 * core/store*.c may include it.
 *
 * Two backends (issue 16): a connection is an SQLite handle or a libpq one
 * (db_pg.h). Statements go through struct dbst, whose binds, steps and
 * column reads dispatch to the backend; either way they speak SQLite's
 * vocabulary: a step returns SQLITE_ROW, SQLITE_DONE or an SQLite error
 * code (db_pg.c maps PostgreSQL's SQLSTATEs onto them). */
#ifndef RUNG_STORE_INTERNAL_H
#define RUNG_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "db_pg.h"
#include "store.h"

enum stmt_id {
    ST_KEY_INSERT,
    ST_RATER_INSERT,
    ST_KEY_REVOKE,
    ST_KEY_LIST,
    ST_KEY_BY_LOOKUP,
    ST_ITEM_FIND_EXT,
    ST_ITEM_INSERT,
    ST_TASK_INSERT,
    ST_ITEM_GET,
    ST_ITEMS_ALL,
    ST_ITEMS_BATCH,
    ST_ITEMS_STATUS,
    ST_COUNT_STATUS,
    ST_COUNT_DOMAIN,
    ST_COUNT_BATCH,
    ST_DB_SIZE,
    ST_OVERLAP_FOR,
    ST_LAYER_ACTIVE,
    ST_LAYER_PARAMS,
    ST_LAYER_INSERT,
    ST_LAYER_RETIRE_ACTIVE,
    ST_LAYER_SET_ACTIVE,
    ST_LAYER_LIST,
    ST_CMP_INSERT,
    ST_CMP_ALL,
    ST_LEASE_HELD,
    ST_TASK_PICK,
    ST_TASK_PICK_GOLD,
    ST_LEASE_INSERT,
    ST_TASK_LEASED_ADD,
    ST_TASK_VIEW,
    ST_REAP,
    ST_TASK_GET,
    ST_LABEL_GET,
    ST_LEASE_DELETE,
    ST_LEASES_DROP,
    ST_LABEL_INSERT,
    ST_TASK_LABELLED,
    ST_RATER_COUNT,
    ST_TASK_LABELS,
    ST_TASK_EXTRA_LABEL,
    ST_TASK_DONE,
    ST_ITEM_RESOLVE,
    ST_SKIP_INSERT,
    ST_OPEN_COUNT,
    ST_ITEM_BY_UUID,
    ST_ITEM_SET_GOLD,
    ST_TASKS_SET_GOLD,
    ST_GOLD_TASK_INSERT,
    ST_OVERLAP_UPSERT,
    ST_OVERLAP_APPLY_BATCH,
    ST_OVERLAP_APPLY_DOMAIN,
    ST_LABEL_REPLACE,
    ST_EVENT_INSERT,
    ST_CMP_DROP_HUMAN,
    ST_CMP_DROP_AUDIT,
    ST_RATER_GOLD_FIX,
    ST_BATCH_UPSERT,
    ST_BATCH_GET,
    ST_RATER_PROGRESS,
    ST_RATERS,
    ST_LEASED_RECOUNT,
    ST_DATA_VERSION,
    /* issue 9: content digests, lookup by external_id, rescoring, overlap rules */
    ST_ITEM_FIND_DIGEST,
    ST_ITEM_SET_DIGEST,
    ST_ITEMS_EXT,
    ST_RESCORE_PENDING,
    ST_RESCORE_AUTO,
    ST_RESCORE_HUMAN,
    ST_RESCORE_CLOSE_TASKS,
    ST_GROUP_MARK_STALE,
    ST_GROUP_SAMPLES,
    ST_GROUP_STALE_PENDING,
    ST_GROUP_STALE_CLEAR,
    ST_GROUP_STALE_SELF,
    ST_GROUP_OF_TASK,
    ST_GROUP_LOG_SINCE,
    ST_GROUP_LOG_INSERT,
    ST_GROUP_SAMPLES_IN,
    ST_GROUP_SAMPLES_IN8,
    ST_GROUP_MARK_STALE_IN,
    ST_ITEMS_IN_BATCH,
    ST_ITEMS_IN_DOMAIN,
    ST_OVERLAP_LIST,
    /* sub-questions and domains: store_subq.c */
    ST_DOMAIN_UPSERT,
    ST_DOMAIN_GET,
    ST_DOMAIN_LIST,
    ST_SUBQ_INSERT,
    ST_SUBQ_ITEM,
    ST_SUBQ_SET_STATUS,
    ST_SUBQ_ANSWER,
    ST_SUBQ_TASK_OF,
    ST_ROLLUP_INSERT,
    ST_ROLLUP_GET,
    ST_ROLLUP_SET,
    ST_TASK_SET_SUBQ,
    ST_TASK_SUBQ,
    ST_ITEM_ROW,
    ST_ITEM_SET_STATUS,
    ST_ITEM_AGGREGATE,
    ST_SUBQ_LABEL_COUNTS,
    /* promotion: the settled set, the check's outcome (store_layers.c) */
    ST_SETTLED,
    ST_CHECKER_OUTCOMES,
    ST_LAYER_CHECKED,
    ST_LAYER_REJECT,
    ST_FLAG_INSERT,
    ST_LAYER_EVENT,
    ST_ITEM_QUEUE_FACTS,
    /* export: store_export.c */
    ST_EXPORT_PREFERENCE,
    ST_EXPORT_STEP_SIDES,
    ST_EXPORT_STEPS,
    ST_EXPORT_ITEMS,
    /* the admin's view: batches, raters, agreement, gauges (store_admin.c) */
    ST_BATCH_LIST,
    ST_BATCH_COUNT_STATUS,
    ST_BATCH_COUNT_ROUTE,
    ST_BATCH_COUNT_VERDICT,
    ST_BATCH_COUNT_SOURCE,
    ST_BATCH_TASKS,
    ST_BATCH_HOURLY,
    ST_AGREE_LABELS,
    ST_RATER_DETAIL,
    ST_GAUGE_QUEUE,
    ST_GAUGES,
    ST_GAUGE_TRUST,
    /* data management: retraction (store_retract.c) */
    ST_RETRACT_ITEM_SEQ,
    ST_RETRACT_BATCH_SEQS,
    ST_RETRACT_LEASES,
    ST_RETRACT_MARK,
    /* listings and limited keys (store_keys.c, store_lists.c) */
    ST_KEY_SCOPE_INSERT,
    ST_RATER_SCOPE,
    ST_TASK_PICK_NEAR,
    ST_TASK_PICK_FAR,
    ST_RATERS_PAGE,
    ST_FLAGS_PAGE,
    ST_EVENTS_PAGE,
    /* the layer lifecycle (store_layers.c) */
    ST_LAYER_TRAIN_INSERT,
    ST_LAYER_TRAIN_NEXT,
    ST_LAYER_TRAINED,
    ST_LAYER_GET,
    ST_LAYER_STATUS,
    ST_LAYER_ACTIVE_LOCK,
    ST_CMP_NEWEST,
    /* measured trust: audits, blind tasks, demotion, drift (store_audit.c) */
    ST_AUDIT_LAYER_DEMOTED,
    ST_AUDIT_ITEM_FACTS,
    ST_AUDIT_MARK_TASK,
    ST_AUDIT_INSERT,
    ST_AUDIT_GET,
    ST_AUDIT_DECIDE,
    ST_AUDIT_LAYER,
    ST_AUDIT_DEMOTE,
    ST_AUDIT_ASSIST,
    ST_AUDIT_DEMOTE_FACTS,
    ST_AUDIT_REINSTATED,
    ST_AUDIT_REINSTATE,
    ST_DRIFT_PROBE,
    ST_DRIFT_RECENT,
    ST_DRIFT_SAVE,
    ST_DRIFT_GET,
    ST_LAYER_PARENT,
    /* webhooks: hooks and their outbox (store_webhooks.c) */
    ST_WEBHOOK_COUNT,
    ST_WEBHOOK_INSERT,
    ST_WEBHOOK_LIST,
    ST_WEBHOOK_DELETE,
    ST_WEBHOOK_DROP_OUTBOX,
    ST_WEBHOOK_HEADS,
    ST_WEBHOOK_ACKED,
    ST_WEBHOOK_RETRY,
    ST_WEBHOOK_OUTCOME,
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_SAVEPOINT,
    ST_ROLLBACK_TO,
    ST_RELEASE,
    ST_OUTBOX_SETTLED_AT_INGEST,
    STMT_COUNT
};

/* Columns read by item_read(), in this order. */
#define STORE_ITEM_COLUMNS                                                                         \
    "seq, id, key_id, external_id, batch, kind, prompt, response_a, response_b, domain, "          \
    "metadata, priority, status, route, verdict, verdict_source, confidence, layer_id, scores, "   \
    "gold_answer, created_ms, updated_ms, \"group\", group_stale"

/* A prepared statement of either backend: lite for SQLite, else pg. */
struct dbst {
    sqlite3_stmt *lite;
    struct pgst *pg;
    struct conn *c; /* its connection */
};

struct conn {
    sqlite3 *db;                /* SQLite, or NULL */
    struct pg_conn *pg;         /* PostgreSQL (libpq's PGconn), or NULL */
    struct dbst st[STMT_COUNT]; /* prepared on first use, kept */
    int64_t last_id;            /* PostgreSQL: the id the last INSERT returned */
    int64_t changes;            /* PostgreSQL: rows the last statement changed */
    bool readonly;              /* PostgreSQL: a reader (reconnects as one) */
    uint64_t retry_us;          /* PostgreSQL: a lost connection's next reconnect */
    unsigned backoff_ms;        /* PostgreSQL: the wait after a failed reconnect */
};

/* A write job returns 0 (keep its changes), a negative errno (failed), or
 * STORE_ROLLBACK: it ran fine but decided to change nothing, so its
 * savepoint is rolled back, its caller sees 0 and reads the outcome from
 * the job's arguments. */
typedef int (*store_job_fn)(struct store *s, struct conn *c, void *arg);
#define STORE_ROLLBACK 1

struct wjob;
struct store_tasks;

/* What a part of the store that keeps state beside the rows (the task
 * queue) asks of the writer. Both run on the writer thread. */
struct store_hooks {
    /* After the writer was idle for a second, outside any transaction. */
    void (*idle)(struct store *s, struct conn *c);
    /* Before each run of a group's jobs (a group may run again: after a
     * conflict, or guarded after a lean job failed), outside any
     * transaction: a chance to note state the jobs change in memory. */
    void (*before_group)(struct store *s, struct conn *c);
    /* After each run of a group, before its jobs' done callbacks.
     * committed: the group's transaction committed (false: all of it was
     * rolled back, and what before_group noted holds again); failed: some
     * job of it was rolled back (or the whole group was lost). */
    void (*after_group)(struct store *s, struct conn *c, bool committed, bool failed);
};

struct store {
    char *path;
    struct conn writer; /* used by the writer thread only */
    pthread_t writer_thread;
    bool writer_running;
    pthread_mutex_t wq_mu; /* guards the queue and stopping */
    pthread_cond_t wq_cv;
    struct wjob *wq_head, *wq_tail;
    bool stopping;
    _Atomic uint64_t commits;        /* group transactions run by the writer */
    _Atomic uint64_t committed_jobs; /* write requests they carried */
    _Atomic uint64_t guarded_reruns; /* groups run again for a lean job's failure */
    struct store_hooks hooks;        /* see store_set_hooks() */

    pthread_mutex_t pool_mu; /* guards reader_busy */
    pthread_cond_t pool_cv;
    struct conn *readers;
    bool *reader_busy;
    unsigned nreaders;

    struct store_tasks *tasks;   /* the task queue's state: store_tasks.c, store_labels.c */
    struct store_ckpt *ckpt;     /* the checkpointer: store_ckpt.c */
    struct store_listen *listen; /* PostgreSQL's listener: store_listen.c */
    _Atomic int writer_pid;      /* PostgreSQL: the writer's backend, for the listener */
    struct store_groups *groups; /* SQLite's group lookup: store_groups.c */

    /* SQLite's verified tokens (store_keystamp.c): NULL when not kept */
    struct keycache *keys;
    pthread_mutex_t keys_mu;        /* guards keys and keys_ttl_ms */
    int keys_fd;                    /* the stamp file, open while keys is set */
    char *keys_path;                /* its path */
    int64_t keys_ttl_ms;            /* an entry's lifetime */
    _Atomic int64_t keys_seen_ms;   /* when the path was last checked to be keys_fd's file */
    void (*keys_read_hook)(void *); /* tests: runs between a key's read and its put */
    void *keys_read_arg;
};

/* The token cache (store_keystamp.c, store_key_cache). A lookup files
 * what it read under the stamp read before the database was: */
struct keys_ticket {
    bool on;        /* the cache is in use for this lookup */
    uint64_t stamp; /* the stamp file's bytes before the row was read */
    int64_t now_ms;
};
/* 0 with *out when the token is kept under the stamp now, else -ENOENT
 * with *t filled for store_keys_put. */
int store_keys_get(struct store *s, const char *lookup, const unsigned char *hash,
                   struct store_key *out, struct keys_ticket *t);
/* Keeps key, just read from the database for lookup and hash, under t. */
void store_keys_put(struct store *s, const char *lookup, const unsigned char *hash,
                    const struct store_key *key, const struct keys_ticket *t);
/* After a committed revocation: new stamp bytes in this store's file and
 * in the file at the database's path, so that every daemon reads its
 * tokens again. A failure is logged. */
void store_keys_revoked(struct store *s);
/* Drops the token cache, if any. */
void store_keys_close(struct store *s);

/* SQLite's group lookup (store_groups.c): each sample group's items in
 * memory (core/group_seqs.h), caught up from the log table item_groups.
 * The map is a superset hint; readers check each item against the
 * database. A no-op on PostgreSQL, which keeps the index items_group. */
int store_groups_open(struct store *s); /* 0, -ENOMEM or -EIO; loads the log */
void store_groups_close(struct store *s);

/* Adds the log's rows past the last one seen, read on c, which must see
 * committed rows only: the writer at open, when idle (no transaction),
 * or right after BEGIN IMMEDIATE (no other process can commit then),
 * and a reader before it reads a group's samples. 0 or -EIO/-ENOMEM. */
int store_groups_catch_up(struct store *s, struct conn *c);

/* Adds item seq, just inserted by the writer in its open transaction, to
 * its group (a hint: the transaction may still roll back). 0 or -ENOMEM. */
int store_groups_hint(struct store *s, int64_t key_id, const char *group, int64_t seq);

/* Copies into seqs the seqs of the items the map holds for key_id's
 * group above `after` and below `below`, ascending, at most max; returns
 * how many (a chunk: bounded work however large the group). */
size_t store_groups_candidates(struct store *s, int64_t key_id, const char *group, int64_t after,
                               int64_t below, int64_t *seqs, size_t max);

/* A retraction took item seq out of key_id's group: when it was among the
 * group's first STORE_GROUP_ITEMS_MAX live items (the samples every
 * re-score reads), all of the group's items still waiting for a human
 * are marked to be scored again, on the writer c after the tombstones.
 * 0 or negative errno. */
int store_group_lost_sample(struct store *s, struct conn *c, int64_t key_id, const char *group,
                            int64_t seq);

/* Candidate seqs ST_GROUP_SAMPLES_IN and ST_GROUP_MARK_STALE_IN take at
 * once (?4 .. ?67; ?1 the key, ?2 the group, ?3 the LIMIT or the seq the
 * marked items come before). */
#define GROUP_IN_MAX 64
#define GROUP_IN_FEW 8 /* ST_GROUP_SAMPLES_IN8: ?4 .. ?11, cheaper for a small group */

/* Starts the checkpointer thread on its own connection and hands it the
 * writer's WAL hook (automatic checkpoints off). Call before the writer
 * thread starts. Returns 0, -ENOMEM or -EIO. */
int store_ckpt_start(struct store *s);

/* Called by the writer before each group: while the WAL is at its bound
 * (CKPT_CAP_PAGES), waits for the checkpointer's RESTART, at most
 * CKPT_GATE_MS. */
void store_ckpt_gate(struct store *s);

/* Stops the checkpointer and removes the hook; call after the writer
 * thread has stopped. No-op when none runs. */
void store_ckpt_stop(struct store *s);

/* The SQL text of a statement (for tests that check query plans). */
const char *store_sql(enum stmt_id id);

/* Returns the statement, prepared once per connection and reset with its
 * bindings cleared; NULL if preparing failed (logged). */
struct dbst *conn_stmt(struct conn *c, enum stmt_id id);

/* Resets a statement after use so it holds no read transaction. */
void conn_done(struct dbst *st);

/* Runs a prepared statement without results: 0 or -EIO (logged); a full
 * database or a value over SQLite's limits as store_sqlite_errno says. */
int conn_run(struct conn *c, enum stmt_id id);

/* The errno for an SQLite result code (primary or extended): SQLITE_FULL
 * -ENOSPC (the disk, or the page cap of store_set_max_bytes), SQLITE_TOOBIG
 * -EFBIG, SQLITE_NOMEM -ENOMEM, SQLITE_OK 0, any other -EIO (issue 15). */
int store_sqlite_errno(int sqlite_rc);

/* Checked binds (issue 15): every store statement binds through these
 * wrappers (same arguments and result as sqlite3_bind_*). A failing bind
 * is remembered for its statement on the calling thread, and the next
 * store_step() of that statement returns the bind's SQLite code without
 * running it, so a value over SQLite's limits (SQLITE_TOOBIG) or an
 * allocation failure surfaces through the caller's usual step check and
 * store_sqlite_errno(), and nothing is written. conn_stmt() and
 * conn_done() forget a statement's failure. */
int store_bind_failed(struct dbst *st, int rc);

/* sqlite3_step, unless a bind of st failed since conn_stmt(): then that
 * bind's code (and st is reset). */
int store_step(struct dbst *st);

static inline int bind_chkd(struct dbst *st, int rc)
{
    return rc == SQLITE_OK ? rc : store_bind_failed(st, rc);
}

static inline int bind_int64(struct dbst *st, int i, int64_t v)
{
    return bind_chkd(st,
                     st->pg ? pgst_bind_int64(st->pg, i, v) : sqlite3_bind_int64(st->lite, i, v));
}

static inline int bind_int(struct dbst *st, int i, int v)
{
    return bind_int64(st, i, v);
}

static inline int bind_double(struct dbst *st, int i, double v)
{
    return bind_chkd(st,
                     st->pg ? pgst_bind_double(st->pg, i, v) : sqlite3_bind_double(st->lite, i, v));
}

static inline int bind_null(struct dbst *st, int i)
{
    return bind_chkd(st, st->pg ? pgst_bind(st->pg, i, NULL, 0, false)
                                : sqlite3_bind_null(st->lite, i));
}

/* d is SQLITE_STATIC or SQLITE_TRANSIENT; PostgreSQL copies either way. */
static inline int bind_text(struct dbst *st, int i, const char *v, int n, void (*d)(void *))
{
    return bind_chkd(st, st->pg ? pgst_bind(st->pg, i, v, n, false)
                                : sqlite3_bind_text(st->lite, i, v, n, d));
}

static inline int bind_blob(struct dbst *st, int i, const void *v, int n, void (*d)(void *))
{
    return bind_chkd(st, st->pg ? pgst_bind(st->pg, i, v, n, true)
                                : sqlite3_bind_blob(st->lite, i, v, n, d));
}

/* Column reads of the current row (sqlite3_column_* semantics: a NULL
 * reads as 0 or NULL). */
static inline int64_t col_int64(struct dbst *st, int i)
{
    return st->pg ? pgst_int64(st->pg, i) : sqlite3_column_int64(st->lite, i);
}

static inline int col_int(struct dbst *st, int i)
{
    return (int)col_int64(st, i);
}

static inline double col_double(struct dbst *st, int i)
{
    return st->pg ? pgst_double(st->pg, i) : sqlite3_column_double(st->lite, i);
}

static inline const char *col_text(struct dbst *st, int i)
{
    return st->pg ? pgst_text(st->pg, i) : (const char *)sqlite3_column_text(st->lite, i);
}

static inline const void *col_blob(struct dbst *st, int i)
{
    return st->pg ? pgst_blob(st->pg, i) : sqlite3_column_blob(st->lite, i);
}

/* Bytes of a text or blob column (call after col_text / col_blob). */
static inline int col_bytes(struct dbst *st, int i)
{
    return st->pg ? pgst_bytes(st->pg, i) : sqlite3_column_bytes(st->lite, i);
}

static inline bool col_null(struct dbst *st, int i)
{
    return st->pg ? pgst_null(st->pg, i) : sqlite3_column_type(st->lite, i) == SQLITE_NULL;
}

/* The number of parameters the statement takes. */
static inline int col_nparams(struct dbst *st)
{
    return st->pg ? pgst_nparams(st->pg) : sqlite3_bind_parameter_count(st->lite);
}

/* Rows changed by the connection's last statement. */
static inline int64_t conn_changes(struct conn *c)
{
    return c->pg ? c->changes : sqlite3_changes(c->db);
}

/* The row id of the connection's last INSERT (PostgreSQL: the value its
 * statement returned as last_insert_rowid). */
static inline int64_t conn_last_id(struct conn *c)
{
    return c->pg ? c->last_id : sqlite3_last_insert_rowid(c->db);
}

/* Whether the connection is inside a transaction. */
bool conn_in_tx(struct conn *c);
/* Whether it is inside a transaction that can still commit (PostgreSQL:
 * one no failed statement has aborted). */
bool conn_tx_ok(struct conn *c);

/* The connection's last error message. */
const char *conn_errmsg(struct conn *c);

/* Rolls back the connection's transaction, if any; errors ignored. */
void conn_rollback(struct conn *c);

/* Keeps the first failing sqlite3_bind_* result in *first (start it at
 * SQLITE_OK): binds are checked in a row, then once. */
static inline void bind_chk(int *first, int rc)
{
    if (*first == SQLITE_OK && rc != SQLITE_OK)
        *first = rc;
}

/* Steps a prepared statement that returns no rows, then resets it:
 * 0 or -EIO (also for a NULL statement, so conn_stmt's result may be
 * passed as is). */
int conn_step_done(struct dbst *st);

/* Runs a statement bound to one integer (a row id) without results.
 * 0 or -EIO. */
int conn_run_id(struct conn *c, enum stmt_id id, int64_t row);

/* Runs SQL without results. 0 or -EIO (logged). */
int conn_exec(struct conn *c, const char *sql);

/* Borrows a read connection (waits while all are busy) / gives it back. */
struct conn *store_reader(struct store *s);
void store_reader_put(struct store *s, struct conn *c);

/* Queues a write job: run(s, writer conn, arg) runs inside the group
 * transaction in its own savepoint (a nonzero return rolls back just this
 * job); *rc_out receives its result, or the commit's failure, before
 * done(cls) runs. Any job may run more than once: its group runs again
 * after a conflict (PostgreSQL) or when a lean job in it failed, and the
 * rollback undoes rows, not memory (see store_hooks.before_group). Returns
 * 0 or -ESHUTDOWN / -ENOMEM. */
int store_submit(struct store *s, store_job_fn run, void *arg, int *rc_out, store_done_fn done,
                 void *cls);

/* Like store_submit, for a job that seldom fails (an ingest): it runs
 * without a savepoint of its own, since SQLite copies every page a
 * savepoint's job changes into the savepoint's journal (a quarter of the
 * writer's time per ingested item). Should it fail (or return
 * STORE_ROLLBACK), the group is rolled back and run again with a savepoint
 * for every job, so its failure still changes nothing and the others keep
 * their writes. Its run function must be safe to run twice, as for a
 * group run again after a conflict. */
int store_submit_lean(struct store *s, store_job_fn run, void *arg, int *rc_out, store_done_fn done,
                      void *cls);

/* Runs one write job and waits for its commit. Returns its result. */
int store_run(struct store *s, store_job_fn run, void *arg);

/* The task queue's state beside its rows (store_tasks.c sets it up). The
 * defaults are set by any thread; the rest is the writer thread's own,
 * except gen. */
struct store_tasks {
    _Atomic int default_overlap;         /* labels a new task wants without a rule */
    _Atomic unsigned lease_ms;           /* task lease length */
    _Atomic unsigned gold_rate_pct;      /* gold share of a rater's stream */
    _Atomic bool split_extra;            /* a split asks for one more label */
    _Atomic unsigned undo_ms;            /* a rater may change their latest label this long */
    _Atomic bool random_sides;           /* pairs shown in a random order per task and rater */
    int64_t open;                        /* open non-gold tasks */
    bool changed;                        /* this group made tasks claimable */
    int64_t data_version;                /* the writer's PRAGMA data_version, -1 before the first */
    bool heard;                          /* PostgreSQL: the writer heard another session's NOTIFY */
    _Atomic uint32_t audit_ppm;          /* audited auto items and blind tasks, parts per million */
    _Atomic uint64_t audit_seed;         /* seeds audit_pick's draws */
    _Atomic uint32_t audit_min;          /* decided audits before a demotion; 0: the default */
    int64_t blind_credit;                /* audit_blind_pick's credit (writer thread only) */
    int64_t noted_credit, noted_version; /* blind_credit, data_version before a group's run */
    bool noted_heard;                    /* heard before a group's run */
    _Atomic uint64_t gen;                /* see store_task_generation() */
    pthread_mutex_t hook_mu;             /* guards hook and hook_cls */
    store_done_fn hook;                  /* run after tasks became claimable */
    void *hook_cls;
};

/* Registers what the writer calls besides the jobs (one set per store).
 * Only before the writer starts: store_open's parts call it. */
void store_set_hooks(struct store *s, const struct store_hooks *h);

/* Sets up the task queue's state on s (counting the open tasks on the
 * writer connection) and registers its writer hooks; called once by
 * store_open before the writer starts. Returns 0, -ENOMEM, -EIO. */
int store_tasks_open(struct store *s);

/* Frees the task queue's state, after the writer stopped. */
void store_tasks_close(struct store *s);

/* Counts the open tasks from the table into s->tasks->open. 0 or -EIO. */
int store_tasks_recount(struct store *s, struct conn *c);

/* PostgreSQL's channel for "tasks became claimable" between daemons. */
#define STORE_TASKS_CHANNEL "rung_tasks"

/* Another session made tasks claimable: counts the open tasks again on
 * the writer connection c and wakes the long-polls. 0 or -EIO. */
int store_tasks_foreign(struct store *s, struct conn *c);

/* PostgreSQL: starts the thread that listens on STORE_TASKS_CHANNEL on a
 * connection of its own and runs store_tasks_foreign() on the writer when
 * another session notified (reconnecting with backoff when the connection
 * is lost). No-op on SQLite. 0 or -EIO. Call after the writer started. */
int store_listen_start(struct store *s);

/* Stops it; before the writer stops. No-op when none runs. */
void store_listen_stop(struct store *s);

/* Adds delta to a task's live lease count. 0 or -EIO. */
int store_leased_add(struct conn *c, int64_t task_id, int delta);

/* Deletes the rater's lease on a task; reports whether there was one,
 * whether it was still live and whether it showed the pair swapped
 * (swapped may be NULL). 0 or -EIO. */
int store_lease_take(struct conn *c, int64_t task_id, int64_t rater_id, bool *had, bool *live,
                     bool *swapped);

/* Queues the task of a new item (row seq) on c, inside the caller's
 * transaction, with the labels its batch or domain rule wants. Returns 0
 * or -EIO. */
int store_task_queue(struct store *s, struct conn *c, int64_t seq, const struct store_item_in *it,
                     int64_t now);

/* How store_rows_read() turns rows into an array of structs. */
struct rows_spec {
    size_t size; /* bytes of one element */
    size_t max;  /* rows to read at most (SIZE_MAX: all) */
    /* Fills the zeroed element from the current row: 0 or negative errno
     * (it may leave allocations behind for undo). */
    int (*read)(struct dbst *st, void *elem);
    /* Frees n elements and the array after a failure; NULL: free(). */
    void (*undo)(void *v, size_t n);
};

/* Rows read by store_rows_read(). */
struct rows {
    void *v; /* malloc'd array of n elements (the caller frees), NULL when none */
    size_t n;
    bool more; /* a row was left unread (spec->max reached) */
};

/* Steps st (NULL: -EIO) and reads its rows, at most spec->max, into *out.
 * Returns 0, -ENOMEM, -EIO, or read's error; on failure *out is empty.
 * The caller resets st. */
int store_rows_read(struct dbst *st, const struct rows_spec *spec, struct rows *out);

/* As store_rows_read, within a byte budget (issue 15): when budget is not
 * 0, a row whose row_bytes(st) would take the rows read past it is left
 * unread (out->more set), unless it is the first. */
int store_rows_read_budget(struct dbst *st, const struct rows_spec *spec,
                           size_t (*row_bytes)(struct dbst *st), size_t budget, struct rows *out);

/* Runs statement id (it takes no parameters) on c and reads its rows as
 * store_rows_read() does. Same results. */
int conn_rows(struct conn *c, enum stmt_id id, const struct rows_spec *spec, struct rows *out);

/* One page of a listing: runs statement id on a read connection borrowed
 * for the call with ?1 bound to after_text (when not NULL, else to the
 * integer after) and ?2 to limit + 1, and reads at most limit rows as
 * store_rows_read() does; out->more tells whether another page follows.
 * Same results (store_lists.c). */
int store_page(struct store *s, enum stmt_id id, int64_t after, const char *after_text,
               unsigned limit, const struct rows_spec *spec, struct rows *out);

/* conn_rows() on a read connection borrowed for the call. */
int store_rows(struct store *s, enum stmt_id id, const struct rows_spec *spec, struct rows *out);

/* As store_rows(), with integer parameters args[0..nargs) bound to ?1..?n. */
int store_rows_args(struct store *s, enum stmt_id id, const int64_t *args, size_t nargs,
                    const struct rows_spec *spec, struct rows *out);

/* Binds text or NULL. */
int bind_text_or_null(struct dbst *st, int idx, const char *text);

/* Copies a text column into *out (malloc'd, caller frees; NULL for a NULL
 * column). Returns 0 or -ENOMEM. */
int col_dup(struct dbst *st, int col, char **out);

/* Frees the values of counts and zeroes it (store_items.c). */
void store_counts_clear(struct store_counts *c);

/* Steps st (bound by the caller) and reads its (value, count) rows into
 * *out (clear with store_counts_clear). 0, -ENOMEM, -EIO. The caller
 * resets st. */
int store_counts_read(struct dbst *st, struct store_counts *out);

/* Reads a rater row (name, role, labels, gold_seen, gold_right,
 * side_picks, left_picks, id: ST_RATERS's columns) into a zeroed struct
 * store_rater. Returns 0 (store_labels.c). */
int store_rater_row_read(struct dbst *st, void *elem);

/* Inserts one comparison on c (inside the caller's transaction). */
int store_comparison_insert(struct conn *c, const struct store_comparison *x, int64_t now);

#define STORE_DIGEST_BYTES 16 /* content digests: 128-bit BLAKE2b */

/* A comparison's content digest, computed in C so that both backends
 * store the same one: what rung_digest('cmp', prompt, chosen, rejected,
 * tie, label, source) gives (schema/003_items.sql). */
void store_cmp_digest(const struct store_comparison *x, unsigned char out[STORE_DIGEST_BYTES]);

/* Registers rung_digest(x, ...) on c: a 16-byte BLAKE2b of its arguments,
 * each hashed with its type and length (so ("ab", "c") and ("a", "bc"), or
 * NULL and "", differ). The writer's statements and migration 003 use it
 * for content digests. 0 or -EIO. */
int store_digest_register(struct conn *c);
/* ---- sub-questions (store_subq.c) ---- */

/* Creates the sub-questions of a new item (row seq) from it->subq inside
 * the ingest transaction, instead of its whole-item task: the layer's
 * answers are kept, the first questions to ask get their tasks (same
 * queue, overlap rules and leases as any task), and the item becomes
 * decomposed (or resolved / awaiting_human at once when the layer's
 * answers already decide it); ack->status says which. 0 or -EIO/-ENOMEM. */
int store_subq_create(struct store *s, struct conn *c, int64_t seq, const struct store_item_in *it,
                      struct store_item_ack *ack, int64_t now);

/* The sub-question a task asks into *subq_id, 0 when it asks none (or
 * there is no such task). 0 or -EIO. */
int store_subq_task_of(struct conn *c, int64_t task_id, int64_t *subq_id);

/* A sub-question task has its labels (l's completed it; the label path of
 * store_labels.c checked it with rollup_label_admissible and wrote it):
 * what they decide is written (rollup_answer), early stop applied and the
 * item rolled up; l->resolved and l->verdict say when that decided the
 * item. 0 or negative errno. */
int store_subq_decided(struct store *s, struct conn *c, struct store_label *l, int64_t now);

/* ---- measured trust (store_audit.c) ---- */

/* Whether layer_id routes nothing to auto any more (it was demoted) into
 * *human_only. 0 or -EIO. */
int store_audit_human_only(struct conn *c, int64_t layer_id, bool *human_only);

/* An item (row seq) the layer settled with verdict: it adds its expected
 * audits to the blind draw's credit (audit_blind_settled), and when the
 * audit draw picks it, it also gets a task of its own, marked audit and
 * blind, and an audits row with the layer's verdict. Nothing about the
 * item changes. 0 or -EIO. */
int store_audit_settled(struct store *s, struct conn *c, int64_t seq, int64_t layer_id,
                        const char *verdict, int64_t now);

/* The whole-item task just queued for item seq (the last row inserted on
 * c): when the blind draw picks it (audit_blind_pick, at the rate audits
 * reach raters), it is shown without assistance. 0 or -EIO. */
int store_audit_blind(struct store *s, struct conn *c, int64_t seq);

/* An audit task has its labels and people's verdict (a | b | tie | good
 * | bad | unsure): the audit's outcome is written (again, after an undo),
 * a new disagreement flags the item (reason audit_disagreement) and the
 * layer is demoted to human-only routing, with an event, once its error
 * rate breaks its promise (audit_should_demote). The item is never
 * changed. 0, -ENOMEM, -EIO. */
int store_audit_decided(struct store *s, struct conn *c, int64_t task_id, const char *human_verdict,
                        int64_t now);

/* Adds to a task being leased what it shows of sub-questions: kind
 * subquestion and subq_id for a sub-question task, and the item's
 * sub-questions when it was decomposed. 0, -ENOMEM, -EIO. */
int store_subq_task_view(struct conn *c, struct store_task *t);

/* ---- PostgreSQL's SQL (store_pg_sql.c, issue 16) ---- */

/* The migrations of schema/pg, embedded by schema/embed.c. */
extern const char *const schema_pg_migrations[];
extern const size_t schema_pg_migration_count;

/* SQLite SQL rewritten by the rules every statement without an override
 * needs on PostgreSQL: ?N becomes $N, x IS y becomes x IS NOT DISTINCT
 * FROM y and x IS NOT y becomes x IS DISTINCT FROM y (y a parameter or a
 * column); quoted strings, identifiers and comments are left as they are.
 * Returns the malloc'd text (the caller frees), NULL when out of memory. */
char *sql_to_pg(const char *sqlite_sql);

/* The PostgreSQL text of statement id: its override, or store_sql(id)
 * through sql_to_pg(). Malloc'd (the caller frees); NULL when out of
 * memory or id is not a statement. Parameters are $1..$n of unknown type;
 * an INSERT whose row id the C code reads returns it as the column
 * last_insert_rowid. */
char *store_pg_text(enum stmt_id id);

/* ---- ad-hoc SQL (store_copy.c) ---- */

/* Opens c on path (an SQLite file) or a PostgreSQL URI the way the
 * store's own connections are opened (readonly: as a read connection),
 * without a store around it. 0, or -EIO with the reason in err. Close
 * with conn_close (also after a failed open). */
int conn_open(struct conn *c, const char *path, bool readonly, char *err, size_t errlen);
void conn_close(struct conn *c);

/* Prepares sql on c, written for c's backend (parameters ?N on SQLite,
 * $N on PostgreSQL): a statement used as conn_stmt's are (bind_*,
 * store_step, col_*, conn_done to run it again), freed with
 * conn_adhoc_free. NULL when it cannot be prepared (logged). */
struct dbst *conn_adhoc(struct conn *c, const char *sql);
void conn_adhoc_free(struct dbst *st);

/* The number of columns of st's result (PostgreSQL: once it has run). */
static inline int col_count(struct dbst *st)
{
    return st->pg ? pgst_ncols(st->pg) : sqlite3_column_count(st->lite);
}

/* Column i's name (PostgreSQL: once it has run); NULL when none. */
static inline const char *col_name(struct dbst *st, int i)
{
    return st->pg ? pgst_colname(st->pg, i) : sqlite3_column_name(st->lite, i);
}

/* The storage type of column i in the current row: SQLITE_INTEGER,
 * SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL (PostgreSQL: from
 * the column's type, see pgst_coltype). */
static inline int col_type(struct dbst *st, int i)
{
    return st->pg ? pgst_coltype(st->pg, i) : sqlite3_column_type(st->lite, i);
}

/* Whether statement id has a PostgreSQL text of its own. */
bool store_pg_overridden(enum stmt_id id);

#endif
