/* The store: every byte rung keeps, behind one interface. SQLite is the
 * embedded backend; nothing SQLite-specific crosses this header, so another
 * backend can sit behind it later.
 *
 * Threading: any thread may call any function. Reads run on a pool of
 * read-only connections. Every write goes to one writer thread that commits
 * all waiting writes in one transaction (group commit) with
 * synchronous=FULL; a write's completion callback runs only after that
 * commit, so whatever a caller acknowledges is durable. */
#ifndef RUNG_STORE_H
#define RUNG_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "token.h"
#include "util.h"

#define STORE_NAME_MAX 64 /* key names, bytes incl. NUL */
#define STORE_CURSOR_MAX 24

struct store;
struct subq_plan;   /* subq.h */
struct store_subqs; /* store_subq.h */

/* Called on the writer thread once a submitted write has committed (or
 * failed). It must not block: typically it wakes the waiting request. */
typedef void (*store_done_fn)(void *cls);

/* Whether path is a PostgreSQL connection URI (postgresql:// or
 * postgres://, libpq's rules) rather than an SQLite file (issue 16). */
bool store_is_uri(const char *path);

/* PostgreSQL: whether a statement on this thread failed because the
 * server could not be reached (a lost connection, a statement timeout,
 * the server shutting down) since the last call; clears it. A store call
 * returning -EIO after such a failure is then best answered as
 * unavailable (503), not as an error. Always false on SQLite. */
bool store_unavailable_take(void);

/* What to call the database in logs: the path, or the URI without its
 * password (and without any other secret parameter). */
void store_db_label(const char *path, char *out, size_t outlen);

/* Opens (creating if needed) the database at path, sets WAL and FULL
 * synchronous, applies pending migrations in one transaction and starts the
 * writer. readers is the size of the read-connection pool (>= 1). Returns
 * NULL on failure with a sentence in err. A failed migration changes
 * nothing. Free with store_close(). */
struct store *store_open(const char *path, unsigned readers, char *err, size_t errlen);

/* Finishes every queued write, stops the writer, checkpoints and closes all
 * connections. NULL is a no-op. */
void store_close(struct store *s);

/* Sets what new tasks get: labels wanted without an overlap rule, lease
 * length, the percentage of gold tasks in a rater's stream, and whether a
 * task whose labels split (no strict majority) asks for one more label,
 * once, instead of resolving as a tie. */
void store_set_defaults(struct store *s, int overlap, unsigned lease_ms, unsigned gold_rate_pct,
                        bool split_extra);

/* Write transactions the writer has run (each a group commit) and the
 * write requests they carried, since open: their ratio is the mean group. */
void store_stats(struct store *s, uint64_t *groups, uint64_t *writes);
/* Groups run again with a savepoint for every job because a job that ran
 * without one (an ingest) failed. */
uint64_t store_guarded_reruns(struct store *s);

/* SQLite's in-memory group lookup (store_groups.c): the sample groups and
 * items it holds and the bytes it takes; all 0 on PostgreSQL. */
struct store_group_stats {
    size_t groups, items, bytes;
};
void store_group_stats(struct store *s, struct store_group_stats *st);

/* What the checkpointer (store_ckpt.c) has done since open. */
struct store_ckpt_stats {
    uint64_t commits;                    /* commits the writer reported */
    uint64_t frames;                     /* frames they appended to the WAL */
    uint64_t passive, restart, truncate; /* checkpoints run, by mode */
    uint64_t busy;                       /* RESTART/TRUNCATE that gave way to readers */
    uint64_t gated;                      /* groups that waited for a RESTART (WAL at its bound) */
    uint64_t gated_us;                   /* how long they waited in all, microseconds */
    int wal_pages;                       /* frames in the WAL after the latest commit */
    int wal_pages_max;                   /* the most it held after a commit */
};

/* Fills *out (all zero when no checkpointer runs). */
void store_ckpt_stats(struct store *s, struct store_ckpt_stats *out);

/* Schema version after migrations (PRAGMA user_version). */
int store_schema_version(struct store *s);

/* ---- API keys ---- */

struct store_key {
    int64_t id;
    int64_t rater_id; /* the rater row of a rater or admin key, else 0 */
    char name[STORE_NAME_MAX];
    char role[16]; /* admin | pipeline | rater */
    int64_t created_ms;
    int64_t revoked_ms; /* 0 while valid */
};

/* Creates a key and writes its token (shown once) into token. Returns 0,
 * -EEXIST when the name is taken, -EINVAL for a bad role or name. */
int store_key_create(struct store *s, const char *name, const char *role, char token[TOKEN_MAX]);

#define STORE_KEY_SCOPES_MAX 64 /* batches and domains of one limited key, each */

/* What a rater key is limited to: it is served only tasks of items in one
 * of these batches or domains (1..STORE_LABEL_MAX bytes each). Both lists
 * empty: not limited. The strings are borrowed for the call. */
struct store_key_limits {
    const char *const *batches;
    size_t nbatches;
    const char *const *domains;
    size_t ndomains;
};

/* store_key_create with limits (NULL: none). Returns what store_key_create
 * does; -EINVAL also for limits on a key that is not a rater's, more than
 * STORE_KEY_SCOPES_MAX of a kind, or an empty or too long name. */
int store_key_create_limited(struct store *s, const char *name, const char *role,
                             const struct store_key_limits *lim, char token[TOKEN_MAX]);

/* Revokes the named key, then changes the stamp file that tells every
 * daemon on this database to read its tokens again (store_key_auth).
 * Returns 0, -ENOENT if no such live key. */
int store_key_revoke(struct store *s, const char *name);

/* A key as listed, with its limits. */
struct store_key_row {
    struct store_key key; /* id, name, role, created_ms, revoked_ms; never a token or hash */
    char *batches;        /* JSON array text of the batches it is limited to ("[]": none); owned */
    char *domains;        /* the same for domains; owned */
};

/* Reads up to limit keys (1..1000), live or revoked, with id > after (0:
 * from the first), in creation order, into a malloc'd array *keys of *n
 * (free with store_key_rows_free; NULL when none); *more tells whether
 * another page follows (its cursor is the last id returned). Returns 0,
 * -ENOMEM or -EIO (then *keys is NULL). */
int store_key_list(struct store *s, int64_t after, unsigned limit, struct store_key_row **keys,
                   size_t *n, bool *more);

/* Frees n rows from store_key_list and the array. NULL is a no-op. */
void store_key_rows_free(struct store_key_row *keys, size_t n);

/* Finds the live key whose token this is. Returns 0 with *out filled,
 * -EACCES when no live key matches (unknown, malformed or revoked), -EIO. */
int store_key_auth(struct store *s, const char *token, struct store_key *out);

/* Keeps the tokens store_key_auth verified in memory (core/keycache.h),
 * each for at most ttl_ms and only while the stamp file "<db>-keys",
 * made here, is unchanged: store_key_revoke changes it after its commit,
 * in whatever process revokes, so every daemon on the file reads a
 * revoked key again at its next request. Call before the store serves
 * requests; called again, sets ttl_ms.
 * SQLite in a file only: 0, -ENOTSUP (PostgreSQL, ":memory:"), -ENOMEM or an errno
 * of creating the file; without the cache every token is read from the
 * database. */
int store_key_cache(struct store *s, int64_t ttl_ms);

/* ---- items ---- */

/* One item to ingest. The strings are borrowed for the duration of the
 * call (until the done callback for submitted writes). */
struct store_item_in {
    const char *prompt;
    const char *response_a;
    const char *response_b;  /* NULL for a single response */
    const char *external_id; /* may be NULL */
    const char *domain;      /* may be NULL */
    const char *batch;       /* may be NULL */
    const char *metadata;    /* JSON object text, may be NULL */
    int64_t priority;
    /* What the active layer decided; layer_id 0 when no layer scored it. */
    int64_t layer_id;
    bool route_auto;     /* true: verdict set by the layer */
    const char *verdict; /* a | b | good | bad, with route_auto */
    double confidence;   /* used when layer_id != 0 */
    const char *scores;  /* JSON object text, may be NULL */
    /* Stored once by content (prompt, the two responses in either order,
     * batch): a repeat acks the stored item with existed set. For items
     * loaded by rungd import; the API's idempotency is external_id. */
    bool unique_content;
    /* Sub-questions to create instead of a whole-item task (subq_plan),
     * NULL: none. Borrowed like the strings; the caller frees it. */
    struct subq_plan *subq;
    /* Sample group (schema/007_groups.sql): NULL for none. Borrowed. */
    const char *group;
    /* -1: not scored with its group. Else how many of the group's stored
     * items (at most STORE_GROUP_ITEMS_MAX, earlier items of the same
     * ingest included) its scores saw: when the group holds more by the
     * time it commits (a concurrent ingest), the item is marked to be
     * scored again (group_stale). */
    int group_seen;
    /* Its responses add samples to the group's first ones: the group's
     * earlier items still waiting for a human are marked group_stale,
     * when the item is among the group's first STORE_GROUP_ITEMS_MAX live
     * items (the ones a re-score reads; past them nothing is marked). */
    bool group_joined;
};

#define STORE_LABEL_MAX 128 /* batch, domain: bytes without the NUL */

struct store_item_ack {
    char id[UUID_STR_LEN];
    char status[16];
    char batch[STORE_LABEL_MAX + 1]; /* "" when none */
    bool has_batch;
    bool existed; /* a repeat of an external_id: nothing stored */
};

/* An ingest request: all items commit together or none does. */
struct store_ingest {
    int64_t key_id;
    const struct store_item_in *items;
    size_t n;
    struct store_item_ack *acks; /* n entries, filled on success */
    int rc;                      /* set before done runs: 0 or negative errno */
};

/* Queues req for the writer; done(cls) runs after commit with req->rc set.
 * Returns 0, or -ESHUTDOWN when the store is closing (done is not called). */
int store_ingest_submit(struct store *s, struct store_ingest *req, store_done_fn done, void *cls);

/* Synchronous form of store_ingest_submit. Returns req->rc. */
int store_ingest(struct store *s, struct store_ingest *req);

/* An item as stored. The strings are owned by the struct (free with
 * store_item_clear); NULL where the column is empty. */
struct store_item {
    int64_t seq;       /* insertion order */
    char *id;          /* uuid */
    char *external_id; /* NULL when none */
    char *batch;       /* NULL when none */
    char *kind;        /* pair | single */
    char *prompt;
    char *response_a;
    char *response_b; /* NULL for a single response */
    char *domain;     /* NULL when none */
    char *metadata;   /* JSON object text, NULL when none */
    int64_t priority;
    char *status;         /* queued | auto | decomposed | awaiting_human | resolved */
    char *route;          /* auto | human */
    char *verdict;        /* NULL until decided */
    char *verdict_source; /* human | layer, NULL until decided */
    bool has_confidence;
    double confidence; /* with has_confidence */
    int64_t layer_id;  /* the layer that scored it, 0 when none */
    char *scores;      /* JSON object text of the layer's scores, NULL when none */
    bool gold;         /* an admin gave it a known answer */
    int64_t created_ms;
    int64_t updated_ms;
    int64_t key_id;      /* the key that posted it, 0 for none (rungd import) */
    char *group;         /* sample group, NULL when none */
    int64_t group_stale; /* > 0: a sample joined its group since it was scored */
};

/* Frees the strings of an item and zeroes it. NULL is a no-op. */
void store_item_clear(struct store_item *it);

/* Reads the item with this uuid into *out (clear it with
 * store_item_clear). Returns 0, -ENOENT when there is none or when
 * key_id != 0 and another key posted it, -ENOMEM, -EIO. */
int store_item_get(struct store *s, const char *id, int64_t key_id, struct store_item *out);

struct store_item_filter {
    const char *batch;       /* NULL: any */
    const char *status;      /* NULL: any */
    int64_t key_id;          /* 0: any */
    const char *after;       /* cursor from a previous page, NULL: start */
    unsigned limit;          /* 1..1000 */
    const char *external_id; /* NULL: any; else only items with this external id */
    size_t max_bytes;        /* 0: none; else a page ends before the item that would take
                                its texts past this many bytes (one item at least) */
};

#define STORE_ITEM_ROW_OVERHEAD 512 /* bytes a listed item counts beyond its texts */

/* Lists items in insertion order. *items receives a malloc'd array of *n
 * items (free with store_items_free; NULL when none); next receives the
 * cursor of the following page, or "" when this was the last. Returns 0,
 * -EINVAL for a bad cursor, -ENOMEM, -EIO; on failure nothing is returned. */
int store_items_list(struct store *s, const struct store_item_filter *f, struct store_item **items,
                     size_t *n, char next[STORE_CURSOR_MAX]);

/* Caps the database at about bytes (SQLite's max_page_count on the
 * writer): a write past it fails with -ENOSPC, as on a full disk. 0 or
 * negative errno. */
int store_set_max_bytes(struct store *s, int64_t bytes);

/* Clears and frees an array of n items from store_items_list. NULL is a
 * no-op. */
void store_items_free(struct store_item *items, size_t n);

/* How many items share one value of a column. */
struct store_count {
    char *value; /* the status, domain or batch; "" for items without one */
    int64_t n;
};

/* A column's counts: n entries of v. */
struct store_counts {
    struct store_count *v;
    size_t n;
};

/* How labelling stands, from one read transaction. */
struct store_status {
    int64_t items; /* all items */
    struct store_counts by_status, by_domain, by_batch;
    int64_t db_bytes; /* size of the database file */
    /* by_domain and by_batch hold the STATUS_GROUPS_MAX largest groups
     * (by count, then name); these say that others were left out. */
    bool by_domain_more, by_batch_more;
};

/* Counts items by status, domain and batch, with the database size, into
 * *out (free with store_status_clear). Returns 0, -ENOMEM, -EIO; on
 * failure *out holds nothing. */
int store_status(struct store *s, struct store_status *out);

/* Frees what store_status filled in and zeroes it. */
void store_status_clear(struct store_status *st);

/* ---- reward layers ---- */

/* The active layer's id, 0 when none is active, or negative errno. */
int64_t store_layer_active_id(struct store *s);

#define STORE_KIND_MAX 32 /* a layer kind's name, bytes incl. NUL */

/* Reads a layer's kind (into kind, when not NULL) and parameter blob into
 * *blob (malloc'd, caller frees). Returns 0, -ENOENT, -EIO. */
int store_layer_params(struct store *s, int64_t id, char kind[STORE_KIND_MAX], void **blob,
                       size_t *len);

struct store_layer_new {
    const char *kind;   /* NULL: hashed-bt */
    const void *params; /* serialised model */
    size_t params_len;
    const char *metrics; /* JSON text of the training report */
    double threshold;    /* tau; INFINITY when none was reached */
    int64_t train_size;  /* comparisons it learned from */
    const char *sources; /* JSON text: comparisons by source */
    const char *lineage; /* JSON text: which comparisons trained it; NULL: none */
    bool activate;       /* make it the active layer (the old one retires) */
    /* When not NULL, an event is written in the same transaction:
     * layer_registered (kind http) or layer_trained, with this actor. */
    const char *event_actor;
};

/* Stores a new layer as a candidate (or active). *id receives its id.
 * Returns 0 or -EIO. */
int store_layer_add(struct store *s, const struct store_layer_new *l, int64_t *id);

/* Makes a stored layer active, retiring the previous one. 0, -ENOENT. */
int store_layer_activate(struct store *s, int64_t id);

/* A settled pair: what people (or an admin) decided, for the promotion
 * check. Strings owned (free with store_settled_free). */
struct store_settled {
    int64_t item_seq; /* 0 for a trusted imported comparison */
    char *prompt, *a, *b;
    char answer; /* 'a' or 'b' */
};

/* Reads at most max settled pairs (gold pairs; human verdicts with two or
 * more labels, all alike; roll-ups of human answers alone; comparisons
 * imported with --trusted) into a malloc'd array *v of *n. 0, -ENOMEM,
 * -EIO; on failure nothing is returned. */
int store_settled_read(struct store *s, size_t max, struct store_settled **v, size_t *n);

/* Frees n settled pairs and the array. NULL is a no-op. */
void store_settled_free(struct store_settled *v, size_t n);

/* The outcome of a candidate's promotion check, in one transaction: its
 * report (JSON text) kept on the layer; passed: the layer becomes active
 * (the old one retires); failed: it is rejected and each of the nflags
 * contradicted items gets a flag with reason. An event (kind
 * layer_promoted or layer_rejected, actor the caller's key name) records
 * it. against is the layer the check compared the candidate with (0:
 * none was active), or -1 to skip the comparison: the outcome is recorded
 * only while that layer is still the active one (a compare-and-set on the
 * active layer, so that a rollback or another promotion committed while
 * the check ran is never overwritten by a check judged against the wrong
 * layer). Returns 0, -ESTALE (another layer is active now: nothing
 * written), -ENOENT when the layer is not a candidate (or retired), -EIO. */
int store_layer_checked(struct store *s, int64_t id, const char *report, bool passed,
                        const int64_t *flags, size_t nflags, const char *reason, const char *actor,
                        int64_t against);

/* A stored layer, without its parameters. Strings are owned (free with
 * store_layers_free); the JSON texts are NULL when absent. */
struct store_layer {
    int64_t id;
    int64_t parent;     /* the layer active when it was trained, 0 when none */
    char *status;       /* training | candidate | active | rejected | retired */
    char *kind;         /* hashed-bt */
    int64_t train_size; /* comparisons it learned from */
    char *sources;      /* JSON text: comparisons by source */
    char *metrics;      /* JSON text: the training report */
    bool has_threshold;
    double threshold;  /* tau, with has_threshold (none was reached otherwise) */
    char *consistency; /* JSON text: the consistency report */
    int64_t created_ms;
    char *request;        /* JSON text: the training request (POST /v1/layers), or NULL */
    char *lineage;        /* JSON text: which comparisons trained it, or NULL */
    int64_t prev_active;  /* the layer it replaced when promoted, 0 none */
    int64_t activated_ms; /* when it last became active, 0 never */
};

/* Reads layer id into *out (free with store_layer_clear). Returns 0,
 * -ENOENT, -ENOMEM, -EIO. */
int store_layer_get(struct store *s, int64_t id, struct store_layer *out);

/* Frees what store_layer_get filled in and zeroes it. */
void store_layer_clear(struct store_layer *l);

/* ---- the layer lifecycle: training in the daemon, rollback ---- */

/* Queues a layer for training: a row with status training, its parent
 * the active layer, request (JSON text) kept so that the trainer (and a
 * restarted daemon) knows what to do; an event layer_training (actor may
 * be NULL) in the same transaction. *id receives the new id. 0 or -EIO. */
int store_layer_train_queue(struct store *s, const char *request, const char *actor, int64_t *id);

/* The oldest layer still training: *id and *request (malloc'd, the
 * caller frees; NULL when none was kept). 0, -ENOENT when no layer is
 * training, -ENOMEM, -EIO. */
int store_layer_train_next(struct store *s, int64_t *id, char **request);

/* The end of a training (store_layer_train_done). */
struct store_layer_done {
    int64_t id;
    const char *actor;   /* for the event; may be NULL */
    bool ok;             /* trained: a candidate; else rejected (metrics say why) */
    const void *params;  /* the serialised model (ok only) */
    size_t params_len;   /* bytes */
    const char *metrics; /* JSON text: the training report, or the error */
    double threshold;    /* tau; INFINITY when none was reached */
    int64_t train_size;  /* rows it learned from */
    const char *sources; /* JSON text: comparisons by source */
    const char *lineage; /* JSON text */
};

/* Records the end of layer d->id's training in one transaction: a
 * candidate with its parameters, or rejected; an event layer_trained or
 * layer_training_failed. 0, -ENOENT when the layer is not training, -EIO. */
int store_layer_train_done(struct store *s, const struct store_layer_done *d);

/* Rolls back the active layer id: it retires, and the layer it replaced
 * when promoted (prev_active; past a rejected one to that one's, and so
 * on) is active again, or none (every item to people). An event
 * layer_rolled_back records it. *to receives the active id after it (0:
 * none). 0, -ENOENT (no layer id), -EALREADY (id is not the active
 * layer), -EIO. */
int store_layer_rollback(struct store *s, int64_t id, const char *actor, int64_t *to);

/* Writes one event: kind, subject ("layer:3") and detail (JSON text) may
 * be NULL except kind; actor NULL for the system. 0 or -EIO. */
int store_event_add(struct store *s, const char *actor, const char *kind, const char *subject,
                    const char *detail);

/* Reads every layer, newest first, into a malloc'd array *layers of *n
 * (free with store_layers_free). Returns 0, -ENOMEM, -EIO; on failure
 * nothing is returned. */
int store_layer_list(struct store *s, struct store_layer **layers, size_t *n);

/* Frees an array of n layers from store_layer_list. NULL is a no-op. */
void store_layers_free(struct store_layer *layers, size_t n);

/* ---- comparisons: the training set ---- */

struct store_comparison {
    const char *prompt;
    const char *chosen;
    const char *rejected; /* NULL for a pointwise verdict */
    bool tie;
    const char *label;  /* pointwise: good | bad; else NULL */
    const char *source; /* import | human | layer */
    double weight;
    int64_t layer_id;       /* the layer that assisted, 0 none */
    int64_t item_seq;       /* 0 when not from an item */
    const char *provenance; /* JSON text or NULL */
    int64_t id;             /* when read: the row's id (ignored when adding) */
};

/* Adds n comparisons in one transaction. Returns 0 or -EIO. */
int store_comparisons_add(struct store *s, const struct store_comparison *c, size_t n);

/* store_comparisons_add, telling how many were not stored because a
 * comparison with the same content (prompt, chosen, rejected, tie, label,
 * source) is stored already, or came earlier in c: *skipped (may be NULL).
 * Every write of a comparison is deduplicated so. Returns 0 or -EIO. */
int store_comparisons_add_ex(struct store *s, const struct store_comparison *c, size_t n,
                             size_t *skipped);

/* Calls cb for every comparison in id order, leaving out those of
 * retracted items; a nonzero return stops and is returned. Strings are
 * valid during the call only. */
typedef int (*store_comparison_cb)(void *cls, const struct store_comparison *c);
int store_comparisons_each(struct store *s, store_comparison_cb cb, void *cls);

/* As store_comparisons_each, newest first (descending id), from one read
 * snapshot: the trainer reads the newest rows it may keep and stops. */
int store_comparisons_newest(struct store *s, store_comparison_cb cb, void *cls);

/* ---- human review: tasks, leases, labels, gold ---- */

/* A task as leased to a rater. The strings are owned (free with
 * store_task_clear). */
struct store_task {
    int64_t id;
    char kind[16]; /* pair | single | subquestion */
    char *prompt;
    char *response_a;
    char *response_b; /* NULL for a single response */
    char *scores;     /* JSON text of the layer's scores, NULL when none */
    int64_t lease_expires_ms;
    unsigned lease_seconds;
    int64_t remaining; /* open tasks in the queue (gold not counted) */
    bool swapped;      /* pair shown as [response_b, response_a] to this rater */
    char assist[8];    /* the batch's assistance mode: shown | after | hidden */
    char *guidelines;  /* the batch's guidelines, NULL when none */
    char *metrics;     /* JSON text of the scoring layer's training report, NULL when none */
    char answer[8];    /* the rater's label, item order; "" when not labelled yet */
    int64_t label_ms;  /* when that label was given, 0 when none */
    int64_t subq_id;   /* kind subquestion: the sub-question asked, else 0 */
    bool blind;        /* shown without the layer's assistance (audits, and their decoys) */
    /* The item's sub-questions and roll-up when it was decomposed (the
     * steps around the one asked, or a whole task's sub-verdicts), NULL
     * when it was not; owned. */
    struct store_subqs *subqs;
};

/* Frees the strings of a task and zeroes it. NULL is a no-op. */
void store_task_clear(struct store_task *t);

/* Leases the next task for a rater: a gold task at the configured rate,
 * else the highest-priority open task that still has a free slot and that
 * this rater has not labelled, leased or skipped. A rater who already holds
 * a live lease gets that task again (a reloaded page). found tells whether
 * a task was leased; task receives it (clear it with store_task_clear when
 * done; a claim submitted again clears what it holds first, so start from
 * a zeroed struct). generation receives the task generation seen (see
 * store_task_generation). Returns 0 or negative errno. */
struct store_claim {
    int64_t rater_id;
    bool found;             /* out */
    struct store_task task; /* out, with found */
    uint64_t generation;    /* out */
    int rc;                 /* out, for the async form */
};
int store_task_claim_submit(struct store *s, struct store_claim *c, store_done_fn done, void *cls);
int store_task_claim(struct store *s, struct store_claim *c);

/* A counter that grows whenever tasks become claimable (new tasks, also
 * from another process on the same database, released or expired
 * leases): a long-poll that saw no task at generation g has
 * something to retry once this differs from g. */
uint64_t store_task_generation(struct store *s);

/* Called on the writer thread after a commit that made tasks claimable. */
void store_set_task_hook(struct store *s, store_done_fn hook, void *cls);

struct store_label {
    int64_t task_id;
    int64_t rater_id;
    const char *answer;       /* a | b | tie | good | bad */
    int confidence;           /* 1..5, 0 when not given */
    const char *rationale;    /* may be NULL */
    double seconds;           /* time spent, < 0 when not given */
    enum label_result result; /* out */
    bool resolved;            /* out: this label completed the task */
    char verdict[8];          /* out: the item's verdict when resolved */
    int rc;                   /* out, for the async form */
    bool swapped;             /* out: the task was shown swapped (answer is in display order) */
    char previous[8];         /* out, with LABEL_REPLACED: the replaced answer, item order */
    int64_t label_ms;         /* out: when the rater's label was first given */
    char assist[8];           /* out: the batch's assistance mode */
};

/* Records a rater's label (idempotent per task and rater) and resolves the
 * item by majority when the task has all its labels. Returns 0 (see
 * l->result) or negative errno. */
int store_task_label_submit(struct store *s, struct store_label *l, store_done_fn done, void *cls);
int store_task_label(struct store *s, struct store_label *l);

/* Gives a leased task back; the rater is not offered it again. rc: 0, or
 * -ENOENT when the rater holds no lease on it. */
struct store_release {
    int64_t task_id;
    int64_t rater_id;
    int rc; /* out */
};
int store_task_release_submit(struct store *s, struct store_release *r, store_done_fn done,
                              void *cls);
int store_task_release(struct store *s, int64_t task_id, int64_t rater_id);

/* Marks an item gold with a known answer: its tasks leave the normal queue
 * and are mixed into raters' streams. Returns 0, -ENOENT (no such item, or
 * a retracted one), -EINVAL (answer does not fit the item's kind). */
int store_item_set_gold(struct store *s, const char *item_id, const char *answer);

/* Labels wanted for tasks of a batch or domain (scope "batch" | "domain");
 * applies to new tasks and to open ones with fewer labels. 0 or errno. */
int store_overlap_set(struct store *s, const char *scope, const char *value, int overlap);

/* A rater's counts. */
struct store_rater {
    char name[STORE_NAME_MAX]; /* the key's name */
    char role[16];             /* rater | admin */
    int64_t labels;            /* labels given */
    int64_t gold_seen;         /* of those, on gold tasks */
    int64_t gold_right;        /* of those, with the gold answer */
    int64_t side_picks;        /* pair labels that chose a side (a or b), not tie */
    int64_t left_picks;        /* of those, the side shown first (responses[0]) */
    int64_t id;                /* the rater's id (GET /v1/raters/{id}) */
};

/* Reads every rater, by name, into a malloc'd array *raters of *n (the
 * caller frees it; NULL when none). Returns 0, -ENOMEM, -EIO. */
int store_raters(struct store *s, struct store_rater **raters, size_t *n);

/* Reads up to limit raters (1..1000) whose name sorts after after (NULL:
 * from the first), by name, into a malloc'd array *raters of *n (the
 * caller frees it; NULL when none); *more tells whether another page
 * follows (its cursor is the last name returned). Returns 0, -ENOMEM,
 * -EIO (store_lists.c). */
int store_raters_page(struct store *s, const char *after, unsigned limit,
                      struct store_rater **raters, size_t *n, bool *more);

/* ---- flags and events, listed (store_lists.c) ---- */

/* A flag on an item (a promotion check that contradicted it). Strings
 * owned (free with store_flags_free). */
struct store_flag {
    int64_t id;
    char *item_id;    /* the item's uuid */
    int64_t layer_id; /* the layer it concerns, 0 when none */
    char *reason;
    char *state; /* open, ... */
    int64_t created_ms;
};

/* Reads up to limit flags (1..1000) with id > after, by id, into a
 * malloc'd array *v of *n (free with store_flags_free; NULL when none);
 * *more tells whether another page follows (its cursor is the last id).
 * Returns 0, -ENOMEM, -EIO; on failure nothing is returned. */
int store_flags_list(struct store *s, int64_t after, unsigned limit, struct store_flag **v,
                     size_t *n, bool *more);

/* Frees n flags and the array. NULL is a no-op. */
void store_flags_free(struct store_flag *v, size_t n);

/* An event: who did what to what. Strings owned (free with
 * store_events_free), NULL where the column is empty. */
struct store_event {
    int64_t id;
    int64_t at_ms;
    char *actor;   /* the key name, NULL for the system */
    char *kind;    /* label_changed, layer_promoted, ... */
    char *subject; /* what it concerns (an item, a layer), NULL when none */
    char *detail;  /* usually JSON text; NULL when none */
};

/* Reads up to limit events (1..1000) with id > after, oldest first, as
 * store_flags_list does. Returns 0, -ENOMEM, -EIO. */
int store_events_list(struct store *s, int64_t after, unsigned limit, struct store_event **v,
                      size_t *n, bool *more);

/* Frees n events and the array. NULL is a no-op. */
void store_events_free(struct store_event *v, size_t n);

/* ---- rescoring queued items when a layer becomes active ---- */

/* Reads, in seq order, up to max items with seq > after that are waiting
 * for their first human label (awaiting_human, not gold, no label, no live
 * lease, task open) and were scored by a layer other than layer_id (or by
 * none) into a malloc'd array *items of *n (free with store_items_free).
 * Returns 0, -ENOMEM, -EIO; on failure nothing is returned. */
int store_rescore_pending(struct store *s, int64_t layer_id, int64_t after, size_t max,
                          struct store_item **items, size_t *n);

/* One item's new decision. Strings borrowed for the call. */
struct store_rescore {
    int64_t seq;         /* the item */
    int64_t layer_id;    /* the layer that scored it */
    bool route_auto;     /* the layer decides: the item is settled, its task closed */
    const char *verdict; /* with route_auto */
    double confidence;
    const char *scores; /* JSON object text */
    int64_t stale;      /* the item's group_stale as read: cleared if unchanged */
};

/* Applies n decisions in one transaction on the writer. An item that got
 * a label or a lease since it was read is left alone. *updated counts the
 * items changed, *settled those of them the layer settled (routed auto;
 * a layer demoted by its audits settles none). 0 or -EIO. */
int store_rescore_apply(struct store *s, const struct store_rescore *v, size_t n, size_t *updated,
                        size_t *settled);

/* ---- sample groups (schema/007_groups.sql) ---- */

#define STORE_GROUP_ITEMS_MAX 64 /* items of a group read for its samples */

/* One stored sample of a group: an item's responses. Owned strings. */
struct store_sample {
    int64_t seq;
    char *a; /* response_a */
    char *b; /* response_b, NULL for a single response */
};

/* Reads the first max (at most STORE_GROUP_ITEMS_MAX) live items of key
 * key_id's (0: imported items, no key) group into a malloc'd *v of *n, in
 * seq order (free with store_samples_free). Returns 0, -EINVAL (group
 * NULL), -ENOMEM, -EIO; on failure nothing is returned. */
int store_group_samples(struct store *s, int64_t key_id, const char *group, size_t max,
                        struct store_sample **v, size_t *n);

/* The key, group and domain of task id's item: 0 with *key_id (0: no key),
 * *group and *domain (malloc'd, the caller frees both; NULL when the item
 * has none), or -ENOENT, -ENOMEM, -EIO (then both are NULL). */
int store_task_group(struct store *s, int64_t task_id, int64_t *key_id, char **group,
                     char **domain);

/* Frees n samples and the array. NULL is a no-op. */
void store_samples_free(struct store_sample *v, size_t n);

/* Reads, in seq order, up to max items with seq > after whose group grew
 * since they were scored (group_stale > 0) and that are still waiting for
 * their first human label (as store_rescore_pending) into *items of *n.
 * Returns as store_rescore_pending. */
int store_group_stale_pending(struct store *s, int64_t after, size_t max, struct store_item **items,
                              size_t *n);

/* ---- overlap rules ---- */

/* Whether any item has this batch (scope "batch") or domain ("domain"):
 * 0 with *any set, -EINVAL for another scope, -EIO. */
int store_scope_has_items(struct store *s, const char *scope, const char *value, bool *any);

struct store_overlap_rule {
    char scope[8];                   /* batch | domain */
    char value[STORE_LABEL_MAX + 1]; /* the batch or domain */
    int overlap;                     /* labels a task wants */
};

/* Reads every overlap rule, by scope and value, into a malloc'd array
 * *rules of *n (the caller frees it; NULL when none). 0, -ENOMEM, -EIO. */
int store_overlap_list(struct store *s, struct store_overlap_rule **rules, size_t *n);

/* ---- what raters meet: side order, undo, batch settings, progress ---- */

/* Sets the undo grace period (a rater may change their latest label for
 * undo_ms after giving it; 0: never) and whether pairs are shown in a
 * random order per task and rater (random_sides) or always in the item's
 * own order. */
void store_set_review(struct store *s, unsigned undo_ms, bool random_sides);

/* The undo grace period set by store_set_review, milliseconds. */
unsigned store_undo_ms(struct store *s);

/* Reads a task as it is (or was) shown to a rater who holds a lease on it
 * or labelled it, into *t (clear it with store_task_clear). Returns 0,
 * -ENOENT when the rater holds neither, -ENOMEM, -EIO. */
int store_task_view(struct store *s, int64_t task_id, int64_t rater_id, struct store_task *t);

/* A batch's settings for raters. */
struct store_batch {
    char assist[8];   /* shown | after | hidden */
    char *guidelines; /* plain text, NULL when none; owned (free it) */
    bool paused;      /* its tasks are not handed out */
};

/* Changes a batch's settings: assist NULL keeps the mode (new batches:
 * shown); set_guidelines replaces the guidelines with guidelines (NULL
 * clears them); paused 1 pauses the batch (claims skip its tasks; leases
 * already granted run on), 0 unpauses it (waiting long-polls are woken),
 * -1 keeps it (new batches: not paused). *out receives the settings after
 * the change. Returns 0, -EINVAL for an unknown mode, -EIO. */
int store_batch_set(struct store *s, const char *batch, const char *assist, bool set_guidelines,
                    const char *guidelines, int paused, struct store_batch *out);

/* Reads a batch's settings (the defaults when none were set). 0, -ENOMEM,
 * -EIO. */
int store_batch_get(struct store *s, const char *batch, struct store_batch *out);

/* A rater's labels since since_ms (*today) and in total (*total). 0 or
 * -EIO. */
int store_rater_progress(struct store *s, int64_t rater_id, int64_t since_ms, int64_t *today,
                         int64_t *total);

/* ---- export: the collected data streamed out (store_export.c) ---- */

enum store_export_format {
    STORE_EXPORT_PREFERENCE, /* comparisons that prefer one response: chosen over rejected */
    STORE_EXPORT_STEPS,      /* answered step sub-questions, one response a row */
    STORE_EXPORT_ITEMS,      /* every item with its status and verdict */
};

#define STORE_EXPORT_STEPS_MAX 64 /* steps of one response (DECOMPOSE_MAX_SEGMENTS) */

/* Which rows an export reads. The strings are copied by store_export_open. */
struct store_export_filter {
    int64_t since_ms;   /* comparisons created / items updated at or after, ms; 0: all */
    const char *batch;  /* the item's batch; NULL: any (rows without an item then too) */
    const char *source; /* comparison source, step answer source, verdict source; NULL: any */
    bool has_min_agreement;
    double min_agreement; /* preference only: raters' agreement at least this (0..1) */
};

/* One answered step of a response: byte span and answer. */
struct store_export_step {
    int64_t start, end;
    const char *answer; /* yes | no | unsure */
};

/* One exported row. The strings are borrowed from the store and valid
 * until the next store_export_next or store_export_close; NULL where the
 * column is empty. Which fields are set depends on the format. */
struct store_export_row {
    int64_t id;          /* preference: the comparison's id; steps, items: the item's seq */
    const char *item_id; /* the item's uuid, NULL for a comparison without one */
    const char *batch;
    const char *source;   /* preference: the comparison's source; items: verdict source */
    const char *prompt;   /* preference, steps */
    const char *chosen;   /* preference */
    const char *rejected; /* preference */
    const char *raters;   /* preference: JSON array text of the raters' key names */
    bool has_agreement;
    double agreement; /* preference: the raters' agreement, with has_agreement */
    int64_t layer_id; /* the layer that assisted (preference) or scored (items), 0 none */
    /* steps */
    const char *response; /* the response the steps split */
    const char *side;     /* a | b, NULL for a single response */
    size_t nsteps;
    const struct store_export_step *steps; /* nsteps, in order */
    /* items */
    const char *external_id, *kind, *domain, *status, *route, *verdict, *scores;
    bool has_confidence;
    double confidence;
    bool gold;
    int64_t created_ms, updated_ms;
};

struct store_export; /* a cursor over one read transaction */

/* Opens an export of fmt's rows matching f, in a read transaction on a
 * read connection held until store_export_close: every row comes from one
 * snapshot while writes go on, and memory stays constant at any size (one
 * row at a time). Preference leaves ties and pointwise verdicts out; steps
 * gives only answered steps that are not criteria. *out receives the
 * cursor. Returns 0, -ENOMEM, -EIO (then *out is NULL). */
int store_export_open(struct store *s, enum store_export_format fmt,
                      const struct store_export_filter *f, struct store_export **out);

/* Reads the next row into *row (borrowed, see store_export_row). Returns 1
 * with a row, 0 at the end, -EIO or -ENOMEM. */
int store_export_next(struct store_export *x, const struct store_export_row **row);

/* Ends the read transaction, gives the connection back and frees x. NULL
 * is a no-op. */
void store_export_close(struct store_export *x);

/* ---- data management: retraction (store_retract.c) ---- */

/* What to retract: one item by uuid, or every live item of a batch. */
struct store_retract {
    const char *item_id; /* the item's uuid, or NULL with batch */
    const char *batch;   /* with item_id NULL: every live item of this batch */
    int64_t key_id;      /* item_id only: 0 any item, else only an item this key posted */
    const char *actor;   /* the caller's key name, for the event; may be NULL */
    int64_t retracted;   /* out: items tombstoned */
};

/* Retracts in one write transaction: each item gets a tombstone
 * (items.deleted_ms; the row stays), its open tasks are closed and every
 * lease on its tasks dropped; from then on it is left out of item reads
 * and listings, claims (gold too), training (store_comparisons_each), the
 * settled set and every export format. A group that lost a sample among
 * its first STORE_GROUP_ITEMS_MAX live items has its waiting items marked
 * to be scored again (group_stale). One event records it: kind
 * item_deleted (subject "item:<uuid>") or batch_deleted (subject
 * "batch:<name>", detail {"items": N}). Returns 0, -ENOENT when no live
 * item matched (a repeat, another key's item, an empty batch: nothing
 * changed), -ENOMEM, -EIO. */
int store_retract(struct store *s, struct store_retract *r);

/* ---- the admin's view: batches, raters, agreement, gauges (store_admin.c) ---- */

/* One batch in the list: a name some item carries or settings were
 * stored for. */
struct store_batch_row {
    char batch[STORE_LABEL_MAX + 1];
    int64_t items;       /* items in it */
    int64_t decided;     /* of those, with a verdict */
    int64_t outstanding; /* open human tasks (gold not counted) */
};

/* Reads up to limit batches whose name sorts after after (NULL: from the
 * first), by name, into a malloc'd array *v of *n (the caller frees it;
 * NULL when none); *more tells whether another page follows (its cursor
 * is the last name returned). Returns 0, -ENOMEM, -EIO. */
int store_batch_list(struct store *s, const char *after, unsigned limit, struct store_batch_row **v,
                     size_t *n, bool *more);

#define STORE_HOURS 24 /* labels per hour over the last day */

/* How one batch stands, from one read transaction. */
struct store_batch_stats {
    int64_t items;
    struct store_counts by_status, by_route; /* route "none" for items never routed */
    struct store_counts by_verdict, by_source;
    int64_t tasks_done, tasks_open; /* human tasks, gold not counted */
    int64_t labels_wanted;          /* labels the open tasks still want */
    /* Labels given per hour: [STORE_HOURS - 1] is the hour before now_ms,
     * [0] the one 23 hours before it. */
    int64_t labels_per_hour[STORE_HOURS];
};

/* Reads a batch's figures at now_ms into *out (free with
 * store_batch_stats_clear). A batch no item has reads as zeros. Returns 0,
 * -ENOMEM, -EIO; on failure *out holds nothing. */
int store_batch_stats(struct store *s, const char *batch, int64_t now_ms,
                      struct store_batch_stats *out);

/* Frees what store_batch_stats filled in and zeroes it. NULL is a no-op. */
void store_batch_stats_clear(struct store_batch_stats *st);

/* One label as agreement statistics see it: who answered what on which
 * task (answers in the item's order). */
struct store_unit_label {
    int64_t task_id;
    int64_t rater_id;
    char answer[8]; /* a | b | tie | good | bad | yes | no | unsure */
};

/* Reads every label of the batch's tasks (batch NULL: of all tasks), by
 * task, into a malloc'd array *v of *n (the caller frees it; NULL when
 * none). Returns 0, -ENOMEM, -EIO. */
int store_agreement_labels(struct store *s, const char *batch, struct store_unit_label **v,
                           size_t *n);

/* One rater in detail. */
struct store_rater_detail {
    struct store_rater r;  /* the counts GET /v1/raters shows */
    bool has_median;       /* some label reported its seconds */
    double median_seconds; /* median of the seconds labels reported */
    int64_t skips;         /* tasks given back */
    /* Leases that ran out with no label after them (a label or a release
     * deletes the lease; a lease renewed on the same task is counted no
     * more). */
    int64_t lease_expiries;
    int64_t verdicts_seen; /* labels on tasks whose item (or sub-question) has a verdict */
    int64_t verdicts_same; /* of those, the same answer as the verdict */
};

/* Reads the rater with this id at now_ms into *out. Returns 0, -ENOENT,
 * -EIO. */
int store_rater_get(struct store *s, int64_t rater_id, int64_t now_ms,
                    struct store_rater_detail *out);

/* Figures /metrics reports as gauges, from one read transaction. */
struct store_gauges {
    int64_t queue_pair, queue_single, queue_subq; /* open human tasks by kind, gold not counted */
    int64_t leases_live;                          /* leases not expired at now_ms */
    int64_t labels;                               /* labels given, all raters */
    int64_t items, items_auto;                    /* all items; those the layer settled */
    int64_t active_layer;                         /* its id, 0 when none */
    /* hidden audits (issue 12): decided ones by outcome, those waiting */
    int64_t audits_agree, audits_disagree, audits_inconclusive, audits_open;
    int64_t active_agree, active_disagree; /* the active layer's decided audits */
    bool active_demoted;                   /* the active layer is demoted to people */
    /* webhooks (issue 15): deliveries acknowledged and failed attempts
     * (the hooks' counters, deleted hooks not counted), rows waiting */
    int64_t hook_delivered, hook_failed, hook_pending;
};

/* Fills *out at now_ms. Returns 0 or -EIO. */
int store_gauges(struct store *s, int64_t now_ms, struct store_gauges *out);

/* ---- measured trust: hidden audits, blind tasks, demotion, drift (store_audit.c) ---- */

/* Sets the share (parts per million, audit.h) of the items the layer
 * settles that also go to people as audit tasks, and of ordinary
 * whole-item tasks shown without assistance, and the seed of those draws.
 * A new store audits nothing (share 0); the daemon sets its option. */
void store_set_audit(struct store *s, uint32_t share_ppm, uint64_t seed);

/* Sets how many audits must be decided before a layer can be demoted
 * (audit_should_demote's min_audits; 0: AUDIT_MIN_DEFAULT). */
void store_set_audit_min(struct store *s, uint32_t min_audits);

/* Clears layer id's demotion (an admin's decision, actor the key's name):
 * it routes as before, and from now on a demotion counts only the audits
 * decided after this, with an event (kind layer_reinstated). 0, -ENOENT
 * (no such layer), -EALREADY (it is not demoted), -ENOMEM, -EIO. */
int store_layer_reinstate(struct store *s, int64_t id, const char *actor);

/* What audits measured of one layer, and how it is routed. */
struct store_layer_trust {
    int64_t agree, disagree, inconclusive; /* decided audits by outcome */
    int64_t open;   /* audit tasks still waiting for labels (not closed by a retraction) */
    double promise; /* accuracy promised at tau (audit_promise) */
    bool demoted;   /* routed to people only since demoted_ms */
    int64_t demoted_ms;
    /* Whole-item labels on its items: shown blind, and shown with its
     * scores as assistance; how many of each gave its preference. */
    int64_t blind_labels, blind_same, shown_labels, shown_same;
    int64_t drift_parent; /* the layer its drift was measured against, 0: never measured */
    char *drift;          /* JSON text of the drift measured (owned), NULL when never */
    int64_t drift_ms;     /* when */
};

/* Reads layer id's trust into *out (free with store_layer_trust_clear).
 * Returns 0, -ENOENT (no such layer), -ENOMEM, -EIO. */
int store_layer_trust(struct store *s, int64_t id, struct store_layer_trust *out);

/* Frees what store_layer_trust filled in. NULL is a no-op. */
void store_layer_trust_clear(struct store_layer_trust *t);

/* Whether layer id was demoted to human-only routing into *demoted. 0,
 * -EIO (a layer that does not exist reads as not demoted). */
int store_layer_demoted(struct store *s, int64_t id, bool *demoted);

/* When layer id's drift was last measured into *at_ms (0: never). 0 or
 * -EIO. */
int store_drift_last(struct store *s, int64_t id, int64_t *at_ms);

/* The layer id was trained beside (its parent: the layer active when it
 * was stored) into *parent, 0 when none. 0, -ENOENT, -EIO. */
int store_layer_parent(struct store *s, int64_t id, int64_t *parent);

/* Reads pair items for drift into a malloc'd array *v of *n (free with
 * store_settled_free; answer is unset): recent false, the probe set (the
 * first max live pairs, by seq: it stays the same once that many
 * exist); recent true, the latest max. 0, -ENOMEM, -EIO. */
int store_drift_items(struct store *s, bool recent, size_t max, struct store_settled **v,
                      size_t *n);

/* Keeps the drift measured for layer id against parent (detail: JSON
 * text), replacing the one before. 0 or -EIO. */
int store_drift_save(struct store *s, int64_t id, int64_t parent, const char *detail);

#endif
