/* The store's statements as PostgreSQL runs them (issue 16).
 *
 * Most of sql_text (core/store.c) is SQL both databases read alike; for
 * those, sql_to_pg() rewrites what differs mechanically: ?N parameters
 * become $N, and SQLite's IS / IS NOT between two values become IS NOT
 * DISTINCT FROM / IS DISTINCT FROM. Statements that need more are written
 * out in pg_text below, each with the reason. Every statement must prepare
 * with parameters of unknown type (the backend sends values as text):
 * where PostgreSQL cannot infer a parameter's type from its use (a lone
 * $N IS NULL, $N = 0), the override casts it. tests/unit/pg_prepare.c
 * prepares all of them on the schema of schema/pg. Columns read as
 * integers are integers here too: a comparison returned as a value is cast
 * with ::int, a sum with ::bigint (PostgreSQL's sum of bigint is numeric).
 *
 * An INSERT whose row id the C code reads next (sqlite3_last_insert_rowid)
 * ends with RETURNING <key> AS last_insert_rowid: the backend records that
 * column and reports the statement done, as SQLite does. */
#include "store_internal.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* TEXT columns use COLLATE "C" in schema/pg, so comparisons and ORDER BY
 * on names and batches give SQLite's byte order without a word here. */

#define PG_ITEM_FILTER                                                                             \
    "AND deleted_ms IS NULL AND ($2::text IS NULL OR status = $2) AND ($3::bigint = 0 OR key_id "  \
    "= $3) "

/* A JSON array of the text values of column col, in their order, written
 * as SQLite's json_group_array writes it (no spaces); "[]" for no rows. */
#define PG_JSON_TEXTS(col, order)                                                                  \
    "coalesce('[' || string_agg(to_json(" col ")::text, ',' ORDER BY " order ") || ']', '[]')"

/* A key's scopes of one kind as a JSON array, sorted (ST_KEY_LIST). */
#define PG_KEY_SCOPES(scope)                                                                       \
    "(SELECT " PG_JSON_TEXTS("value", "value") " FROM key_scopes WHERE key_id = k.id "             \
                                               "AND scope = '" scope "')"

/* The names of the raters of a comparison's provenance (x.p), in its
 * order (json_each's key), as a JSON array (ST_EXPORT_PREFERENCE). */
#define PG_RATER_NAMES                                                                             \
    "(SELECT " PG_JSON_TEXTS("k.name", "j.n") " FROM jsonb_path_query(x.p, 'lax $.raters[*]') "    \
                                              "WITH ORDINALITY AS j(v, n) JOIN raters r ON "       \
                                              "to_jsonb(r.id) = j.v JOIN api_keys k ON k.id = "    \
                                              "r.key_id)"

/* json_extract(p, '$.agreement') read as a real: NULL unless a number. */
#define PG_AGREEMENT                                                                               \
    "CASE WHEN jsonb_typeof(x.p -> 'agreement') = 'number' "                                       \
    "THEN (x.p ->> 'agreement')::double precision END"

/* A step sub-question an export gives (core/store.c's EXPORT_STEP). */
#define PG_EXPORT_STEP                                                                             \
    "q.status = 'answered' AND q.kind <> 'criterion' AND q.verdict IN ('yes', 'no', 'unsure') "    \
    "AND ($3::text IS NULL OR q.source = $3)"

/* core/store.c's RATER_VERDICTS */
#define PG_RATER_VERDICTS                                                                          \
    "(SELECT l.answer, CASE WHEN t.subq_id IS NULL THEN i.verdict ELSE q.verdict END AS verdict "  \
    "FROM labels l JOIN tasks t ON t.id = l.task_id JOIN items i ON i.seq = t.item_seq "           \
    "LEFT JOIN subquestions q ON q.id = t.subq_id WHERE l.rater_id = r.id) v"

static const char *const pg_text[STMT_COUNT] = {
    /* last_insert_rowid: the key's id (store_keys.c) */
    [ST_KEY_INSERT] = "INSERT INTO api_keys(name, role, lookup, hash, created_ms) "
                      "VALUES($1, $2, $3, $4, $5) RETURNING id AS last_insert_rowid",
    /* last_insert_rowid: the item's seq (store_items.c) */
    [ST_ITEM_INSERT] =
        "INSERT INTO items(id, key_id, external_id, batch, kind, prompt, response_a, response_b, "
        "domain, metadata, priority, status, route, verdict, verdict_source, confidence, layer_id, "
        "scores, created_ms, updated_ms, \"group\") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20) "
        "RETURNING seq AS last_insert_rowid",
    /* last_insert_rowid: the task's id (store_audit.c, store_subq.c) */
    [ST_TASK_INSERT] = "INSERT INTO tasks(item_seq, kind, priority, overlap, created_ms) "
                       "VALUES($1, $2, $3, $4, $5) RETURNING id AS last_insert_rowid",
    /* $2 alone in IS NULL, $3 against 0: typed */
    [ST_ITEMS_ALL] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE seq > $1 " PG_ITEM_FILTER
                     "ORDER BY seq LIMIT $4",
    [ST_ITEMS_BATCH] =
        "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE batch = $5 AND seq > $1 " PG_ITEM_FILTER
        "ORDER BY seq LIMIT $4",
    [ST_ITEMS_STATUS] =
        "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE status = $2 AND seq > $1 "
        "AND deleted_ms IS NULL AND ($3::bigint = 0 OR key_id = $3) ORDER BY seq LIMIT $4",
    /* SQLite's item_groups is its items' rows with a group (the store
     * writes it beside them); PostgreSQL keeps the index items_group */
    [ST_GROUP_LOG_SINCE] = "SELECT seq, key_id, \"group\" FROM items WHERE seq > $1 "
                           "AND \"group\" IS NOT NULL ORDER BY seq LIMIT $2",
    [ST_GROUP_LOG_INSERT] = "SELECT $1::bigint, $2::bigint, $3::text WHERE false", /* not used */
    /* PRAGMA page_count * page_size */
    [ST_DB_SIZE] = "SELECT pg_database_size(current_database())",
    /* last_insert_rowid: the layer's id (store_layers.c) */
    [ST_LAYER_INSERT] =
        "INSERT INTO layers(parent, status, kind, params, train_size, sources, metrics, "
        "threshold, created_ms, lineage) VALUES((SELECT id FROM layers WHERE status = 'active'), "
        "'candidate', coalesce($7, 'hashed-bt'), $1, $2, $3, $4, $5, $6, $8) "
        "RETURNING id AS last_insert_rowid",
    /* CASE WHEN ?3: an integer flag is no boolean */
    [ST_LAYER_SET_ACTIVE] = "UPDATE layers SET status = 'active', activated_ms = $2, "
                            "prev_active = CASE WHEN $3::bigint <> 0 THEN $4 ELSE prev_active END "
                            "WHERE id = $1 AND status IN ('candidate', 'retired')",
    /* $2 against 0: typed */
    [ST_TASK_PICK_GOLD] =
        "SELECT t.id FROM tasks t WHERE t.gold = 1 "
        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.rater_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.task_id = t.id AND x.rater_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.task_id = t.id AND k.rater_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM items i LEFT JOIN batches b ON b.batch = i.batch "
        "WHERE i.seq = t.item_seq AND (i.deleted_ms IS NOT NULL OR b.paused = 1)) "
        "AND ($2::bigint = 0 OR EXISTS (SELECT 1 FROM items i WHERE i.seq = t.item_seq "
        "AND (EXISTS (SELECT 1 FROM key_scopes s WHERE s.key_id = $2 AND s.scope = 'batch' "
        "AND s.value = i.batch) OR EXISTS (SELECT 1 FROM key_scopes s WHERE s.key_id = $2 "
        "AND s.scope = 'domain' AND s.value = i.domain)))) ORDER BY t.id LIMIT 1",
    /* NOT EXISTS (...) as a value: an integer */
    [ST_LABEL_GET] =
        "SELECT l.answer, l.swapped, l.created_ms, (NOT EXISTS (SELECT 1 FROM labels z "
        "WHERE z.rater_id = $2 AND (z.created_ms > l.created_ms OR (z.created_ms = l.created_ms "
        "AND z.id > l.id))))::int FROM labels l WHERE l.task_id = $1 AND l.rater_id = $2",
    /* INSERT OR IGNORE */
    [ST_SKIP_INSERT] = "INSERT INTO skips(task_id, rater_id) VALUES($1, $2) ON CONFLICT DO NOTHING",
    /* max(a, b) of two values */
    [ST_OVERLAP_APPLY_BATCH] =
        "UPDATE tasks SET overlap = GREATEST($2::bigint, labels_done + leased) WHERE state = "
        "'open' AND gold = 0 AND labels_done < $2 AND item_seq IN (SELECT seq FROM items WHERE "
        "batch = $1)",
    [ST_OVERLAP_APPLY_DOMAIN] =
        "UPDATE tasks SET overlap = GREATEST($2::bigint, labels_done + leased) WHERE state = "
        "'open' AND gold = 0 AND labels_done < $2 AND item_seq IN (SELECT seq FROM items WHERE "
        "domain = $1)",
    /* CASE WHEN ?3 on an integer; the old row's columns named by table
     * (PostgreSQL's DO UPDATE sees excluded too) */
    [ST_BATCH_UPSERT] =
        "INSERT INTO batches(batch, assistance, guidelines, updated_ms, paused) "
        "VALUES($1, coalesce($2, 'shown'), $4, $5, coalesce($6::bigint, 0)) ON "
        "CONFLICT(batch) DO UPDATE SET assistance = coalesce($2, batches.assistance), "
        "guidelines = CASE WHEN $3::bigint <> 0 THEN $4 ELSE batches.guidelines END, "
        "updated_ms = $5, paused = coalesce($6::bigint, batches.paused) "
        "RETURNING assistance, guidelines, paused",
    /* ?2 (the verdict, NULL here) is bound but unused: PostgreSQL must see
     * it to know its type */
    [ST_RESCORE_HUMAN] =
        "UPDATE items SET confidence = $3, layer_id = $4, scores = $5, updated_ms = $6 "
        "WHERE seq = $1 AND ($2::text IS NULL OR TRUE) AND status = 'awaiting_human' AND "
        "gold_answer IS NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.item_seq = items.seq "
        "AND (t.labels_done > 0 OR t.leased > 0 OR t.state <> 'open' OR t.gold = 1))",
    /* PRAGMA data_version: a number that moves when anything was written */
    [ST_DATA_VERSION] = "SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint",
    [ST_ITEMS_EXT] =
        "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE external_id = $5 "
        "AND seq > $1 " PG_ITEM_FILTER "AND ($6::text IS NULL OR batch = $6) ORDER BY seq LIMIT $4",
    /* EXISTS (...) as a value */
    [ST_ITEMS_IN_BATCH] = "SELECT (EXISTS (SELECT 1 FROM items WHERE batch = $1))::int",
    [ST_ITEMS_IN_DOMAIN] = "SELECT (EXISTS (SELECT 1 FROM items WHERE domain = $1))::int",
    /* json_each / json_extract / json_valid; the branches' rows in SQLite's
     * order (each in row id order), so that the limit keeps the same rows;
     * a negative limit is none, as in SQLite */
    [ST_SETTLED] =
        "SELECT seq, prompt, response_a, response_b, verdict FROM ("
        "SELECT 1 AS part, seq AS ord, seq, prompt, response_a, response_b, gold_answer AS "
        "verdict FROM items WHERE kind = 'pair' AND gold_answer IN ('a', 'b') AND deleted_ms IS "
        "NULL "
        "UNION ALL SELECT 2, i.seq, i.seq, i.prompt, i.response_a, i.response_b, i.verdict "
        "FROM items i WHERE i.kind = 'pair' AND i.gold_answer IS NULL AND i.verdict_source = "
        "'human' AND i.deleted_ms IS NULL AND i.verdict IN ('a', 'b') AND (SELECT count(*) "
        "FROM labels l JOIN tasks t ON t.id = l.task_id WHERE t.item_seq = i.seq AND t.subq_id "
        "IS NULL) >= 2 AND NOT EXISTS (SELECT 1 FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE t.item_seq = i.seq AND t.subq_id IS NULL AND l.answer <> i.verdict) "
        "UNION ALL SELECT 3, i.seq, i.seq, i.prompt, i.response_a, i.response_b, i.verdict "
        "FROM items i JOIN rollups r ON r.item_seq = i.seq WHERE i.kind = 'pair' AND "
        "i.deleted_ms IS NULL AND i.verdict_source = 'aggregate' AND i.verdict IN ('a', 'b') "
        "AND NOT EXISTS (SELECT 1 FROM jsonb_path_query(r.provenance::jsonb, "
        "'lax $.decided_by[*]') AS d(v) WHERE d.v ->> 'source' <> 'human') "
        "UNION ALL SELECT 4, id, 0, prompt, chosen, rejected, 'a' FROM comparisons WHERE source "
        "= 'import' AND rejected IS NOT NULL AND tie = 0 AND rung_jsonb(provenance) -> "
        "'trusted' IN ('true'::jsonb, '1'::jsonb)) s ORDER BY part, ord "
        "LIMIT CASE WHEN $1::bigint >= 0 THEN $1::bigint END",
    /* json_group_array over json_each, json_extract; $2..$4 typed */
    [ST_EXPORT_PREFERENCE] =
        "SELECT c.id, i.id, i.batch, c.source, c.prompt, c.chosen, c.rejected, " PG_RATER_NAMES
        ", " PG_AGREEMENT ", coalesce(c.layer_id, 0) FROM comparisons c "
        "LEFT JOIN items i ON i.seq = c.item_seq "
        "CROSS JOIN LATERAL (SELECT c.provenance::jsonb AS p) x "
        "WHERE i.deleted_ms IS NULL AND c.rejected IS NOT NULL AND c.tie = 0 AND c.created_ms >= "
        "$1 AND ($2::text IS NULL OR i.batch = $2) AND ($3::text IS NULL OR c.source = $3) "
        "AND ($4::double precision IS NULL OR " PG_AGREEMENT " >= $4) ORDER BY c.id",
    /* grouped by the item's key, so its other columns may be selected */
    [ST_EXPORT_STEP_SIDES] =
        "SELECT i.seq, i.id, i.batch, i.prompt, "
        "CASE q.side WHEN 'b' THEN i.response_b ELSE i.response_a END, "
        "CASE WHEN i.kind = 'single' THEN NULL ELSE q.side END, q.side "
        "FROM subquestions q JOIN items i ON i.seq = q.item_seq WHERE " PG_EXPORT_STEP
        " AND i.deleted_ms IS NULL AND i.updated_ms >= $1 "
        "AND ($2::text IS NULL OR i.batch = $2) GROUP BY i.seq, q.side ORDER BY i.seq, q.side",
    [ST_EXPORT_STEPS] =
        "SELECT q.span_start, q.span_end, q.verdict FROM subquestions q "
        "WHERE q.item_seq = $1 AND q.side = $2 AND " PG_EXPORT_STEP " ORDER BY q.ordinal LIMIT 64",
    [ST_EXPORT_ITEMS] =
        "SELECT seq, id, external_id, batch, kind, domain, status, route, verdict, "
        "verdict_source, confidence, coalesce(layer_id, 0), scores, (gold_answer IS NOT "
        "NULL)::int, "
        "created_ms, updated_ms FROM items WHERE deleted_ms IS NULL AND updated_ms >= $1 "
        "AND ($2::text IS NULL OR batch = $2) AND ($3::text IS NULL OR verdict_source = $3) "
        "ORDER BY seq",
    /* sum(max(a, 0)) */
    [ST_BATCH_TASKS] =
        "SELECT count(*) FILTER (WHERE t.state = 'done'), count(*) FILTER (WHERE t.state = "
        "'open'), coalesce(sum(GREATEST(t.overlap - t.labels_done, 0)) FILTER (WHERE t.state = "
        "'open'), 0)::bigint FROM tasks t JOIN items i ON i.seq = t.item_seq "
        "WHERE i.batch = $1 AND i.deleted_ms IS NULL AND t.gold = 0",
    [ST_AGREE_LABELS] =
        "SELECT l.task_id, l.rater_id, l.answer FROM labels l JOIN tasks t ON t.id = l.task_id "
        "JOIN items i ON i.seq = t.item_seq WHERE $1::text IS NULL OR i.batch = $1 "
        "ORDER BY l.task_id",
    /* a subquery in FROM needs a name (the median's rows) */
    [ST_RATER_DETAIL] =
        "SELECT k.name, k.role, r.labels, r.gold_seen, r.gold_right, "
        "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b')), "
        "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b') "
        "AND (l.answer = 'a') = (l.swapped = 0)), r.id, "
        "(SELECT count(*) FROM skips WHERE rater_id = r.id), "
        "(SELECT count(*) FROM leases x WHERE x.rater_id = r.id "
        "AND (x.live = 0 OR x.expires_ms <= $2) AND NOT EXISTS (SELECT 1 FROM labels l "
        "WHERE l.task_id = x.task_id AND l.rater_id = r.id)), "
        "(SELECT count(v.verdict) FROM " PG_RATER_VERDICTS "), "
        "(SELECT count(*) FROM " PG_RATER_VERDICTS " WHERE v.verdict = v.answer), "
        "(SELECT avg(seconds) FROM (SELECT seconds FROM labels WHERE rater_id = $1 "
        "AND seconds IS NOT NULL ORDER BY seconds LIMIT 2 - (SELECT count(seconds) FROM labels "
        "WHERE rater_id = $1) % 2 OFFSET ((SELECT count(seconds) FROM labels "
        "WHERE rater_id = $1) - 1) / 2) m) "
        "FROM raters r JOIN api_keys k ON k.id = r.key_id WHERE r.id = $1",
    /* sum() of bigint is numeric */
    [ST_GAUGES] = "SELECT (SELECT count(*) FROM leases WHERE live = 1 AND expires_ms > $1), "
                  "(SELECT coalesce(sum(labels), 0)::bigint FROM raters), "
                  "(SELECT count(*) FROM items WHERE status = 'auto' AND deleted_ms IS NULL), "
                  "(SELECT count(*) FROM items WHERE deleted_ms IS NULL), "
                  "coalesce((SELECT id FROM layers WHERE status = 'active'), 0)",
    [ST_RETRACT_ITEM_SEQ] = "SELECT seq, key_id, \"group\" FROM items WHERE id = $1 "
                            "AND deleted_ms IS NULL "
                            "AND ($2::bigint = 0 OR key_id = $2)",
    /* INSERT OR IGNORE */
    [ST_KEY_SCOPE_INSERT] = "INSERT INTO key_scopes(key_id, scope, value) VALUES($1, $2, $3) "
                            "ON CONFLICT DO NOTHING",
    /* json_group_array */
    [ST_KEY_LIST] = "SELECT k.name, k.role, k.created_ms, k.revoked_ms, k.id, " PG_KEY_SCOPES(
        "batch") ", " PG_KEY_SCOPES("domain") " FROM api_keys k WHERE k.id > $1 ORDER BY k.id "
                                              "LIMIT $2",
    /* last_insert_rowid: the layer's id (store_layers.c) */
    [ST_LAYER_TRAIN_INSERT] =
        "INSERT INTO layers(parent, status, kind, request, created_ms) VALUES((SELECT id FROM "
        "layers WHERE status = 'active'), 'training', 'hashed-bt', $1, $2) "
        "RETURNING id AS last_insert_rowid",
    /* a comparison as a value */
    [ST_AUDIT_LAYER_DEMOTED] = "SELECT (demoted_ms IS NOT NULL)::int FROM layers WHERE id = $1",
    /* json_extract; sum(boolean); the blind row first, as SQLite's UNION
     * ALL gives them */
    [ST_AUDIT_ASSIST] =
        "WITH w AS (SELECT task_id, answer, assistance FROM labels ORDER BY id DESC LIMIT 10000), "
        "x AS (SELECT t.blind AS blind, w.assistance IS NOT NULL AS shown, w.answer = "
        "(i.scores::jsonb ->> 'preference') AS same FROM w JOIN tasks t ON t.id = w.task_id "
        "JOIN items i ON i.seq = t.item_seq WHERE t.audit = 0 AND t.gold = 0 "
        "AND t.subq_id IS NULL AND i.layer_id = $1) "
        "SELECT n, k FROM (SELECT 1 AS part, count(*) AS n, count(*) FILTER (WHERE same) AS k "
        "FROM x WHERE blind = 1 UNION ALL SELECT 2, count(*), count(*) FILTER (WHERE same) "
        "FROM x WHERE blind = 0 AND shown) z ORDER BY part",
    /* last_insert_rowid: the hook's id (store_webhooks.c) */
    [ST_WEBHOOK_INSERT] = "INSERT INTO webhooks(key_id, url, secret, created_ms) "
                          "VALUES($1, $2, $3, $4) RETURNING id AS last_insert_rowid",
    /* the writer's group transaction; row locks do what IMMEDIATE did */
    [ST_BEGIN] = "BEGIN",
    /* a read of several statements sees one snapshot, as in SQLite */
    [ST_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
};

/* ---- the automatic rules ---- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* The length of the word at s (letters, digits, _ and $), 0 if none. */
static size_t word_len(const char *s)
{
    size_t n = 0;
    while (word_char(s[n]))
        n++;
    return n;
}

static bool word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

static const char *skip_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* Copies the quoted string or identifier at s (quote q, doubled inside)
 * and returns what follows it. */
static const char *copy_quoted(struct sbuf *b, const char *s)
{
    char q = *s;
    const char *e = s + 1;
    for (;;) {
        if (!*e)
            break;
        if (*e++ != q)
            continue;
        if (*e != q)
            break;
        e++;
    }
    put(b, s, (size_t)(e - s));
    return e;
}

/* Copies a -- or block comment at s and returns what follows it. */
static const char *copy_comment(struct sbuf *b, const char *s)
{
    const char *e = s[0] == '-' ? strchr(s, '\n') : strstr(s + 2, "*/");
    e = e ? e + (s[0] == '-' ? 1 : 2) : s + strlen(s);
    put(b, s, (size_t)(e - s));
    return e;
}

/* Whether the word that follows IS [NOT] is a value (a parameter or a
 * column) rather than the rest of a test PostgreSQL has (IS NULL, IS
 * DISTINCT FROM, IS TRUE...). */
static bool is_operand(const char *s)
{
    static const char *const keywords[] = {"NULL",     "NOT", "TRUE", "FALSE",    "UNKNOWN",
                                           "DISTINCT", "OF",  "JSON", "DOCUMENT", "NORMALIZED",
                                           "NFC",      "NFD", "NFKC", "NFKD"};
    if (s[0] == '?' && isdigit((unsigned char)s[1]))
        return true;
    if (s[0] == '"')
        return true;
    if (!isalpha((unsigned char)s[0]) && s[0] != '_')
        return false;
    size_t n = word_len(s);
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (word_is(s, n, keywords[i]))
            return false;
    return true;
}

/* At the word IS (s points past it): when a value follows, writes the
 * PostgreSQL test and returns where the value starts; else writes IS and
 * returns s. */
static const char *rewrite_is(struct sbuf *b, const char *is, const char *s)
{
    const char *p = skip_space(s);
    bool negated = false;
    size_t n = word_len(p);
    if (p > s && word_is(p, n, "NOT") && isspace((unsigned char)p[n])) {
        negated = true;
        p = skip_space(p + n);
    }
    if (p == s || !is_operand(p)) {
        put(b, is, (size_t)(s - is));
        return s;
    }
    const char *t = negated ? "IS DISTINCT FROM " : "IS NOT DISTINCT FROM ";
    put(b, t, strlen(t));
    return p;
}

char *sql_to_pg(const char *sql)
{
    struct sbuf b = {0};
    put(&b, "", 0);
    const char *s = sql;
    while (!b.oom && *s) {
        if (*s == '\'' || *s == '"') {
            s = copy_quoted(&b, s);
        } else if ((s[0] == '-' && s[1] == '-') || (s[0] == '/' && s[1] == '*')) {
            s = copy_comment(&b, s);
        } else if (s[0] == '?' && isdigit((unsigned char)s[1])) {
            put(&b, "$", 1);
            s++;
        } else if (word_char(*s)) {
            size_t n = word_len(s);
            if (word_is(s, n, "IS")) {
                s = rewrite_is(&b, s, s + n);
            } else {
                put(&b, s, n);
                s += n;
            }
        } else {
            put(&b, s++, 1);
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

bool store_pg_overridden(enum stmt_id id)
{
    return (unsigned)id < STMT_COUNT && pg_text[id] != NULL;
}

/* Several daemons on one database (issue 16). SQLite runs one writer at a
 * time; on PostgreSQL each daemon's writer runs its own transactions, so
 * the statements a claim or a label decides by take row locks:
 *   - a pick locks the task it finds and skips tasks another daemon's
 *     open transaction holds (it never waits, so claims never deadlock,
 *     and the slot count it checks is the latest: no over-assignment);
 *   - a label reads its task locked, so two daemons labelling one task
 *     take turns and the second sees the first's label (the item is
 *     resolved once, its comparison written once);
 *   - reaping skips leases another daemon is reaping or renewing;
 *   - a promotion check's outcome locks the active layer's row.
 * Appended to the statement's PostgreSQL text. */
static const char *const pg_lock[STMT_COUNT] = {
    [ST_TASK_PICK] = " FOR UPDATE OF t SKIP LOCKED",
    [ST_TASK_PICK_GOLD] = " FOR UPDATE OF t SKIP LOCKED",
    [ST_TASK_PICK_FAR] = " FOR UPDATE OF t SKIP LOCKED",
    [ST_TASK_PICK_NEAR] = " FOR UPDATE OF t SKIP LOCKED",
    [ST_TASK_GET] = " FOR UPDATE OF t",
    /* a promotion check's compare-and-set: a rollback or promotion of
     * another daemon (which updates that row) waits, or is waited for */
    [ST_LAYER_ACTIVE_LOCK] = " FOR UPDATE",
};

/* ST_TASK_PICK_NEAR and ST_REAP in the shape a lock needs: the task
 * picked from the 256 best is locked in the outer query; the expired
 * leases are locked (skipping locked ones) before they are changed. */
/* core/store.c's PICK_TERMS and SCOPE_HAS with $N parameters. */
#define PG_PICK_TERMS                                                                              \
    "t.state = 'open' AND t.gold = 0 AND t.overlap > t.labels_done + t.leased "                    \
    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.rater_id = $1) "          \
    "AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.task_id = t.id AND k.rater_id = $1) "           \
    "AND NOT EXISTS (SELECT 1 FROM items i LEFT JOIN batches b ON b.batch = i.batch "              \
    "WHERE i.seq = t.item_seq AND (i.deleted_ms IS NOT NULL OR b.paused = 1)) "
#define PG_SCOPE_HAS(x)                                                                            \
    "EXISTS (SELECT 1 FROM items i WHERE i.seq = " x " AND (EXISTS (SELECT 1 FROM key_scopes s "   \
    "WHERE s.key_id = $2 AND s.scope = 'batch' AND s.value = i.batch) OR EXISTS (SELECT 1 "        \
    "FROM key_scopes s WHERE s.key_id = $2 AND s.scope = 'domain' AND s.value = i.domain)))"
#define PG_PICK_NEAR                                                                               \
    "SELECT t.id FROM tasks t WHERE t.id IN (SELECT c.id FROM (SELECT t.id, t.item_seq, "          \
    "t.priority FROM tasks t WHERE " PG_PICK_TERMS "ORDER BY t.priority DESC, t.id LIMIT 256) c "  \
    "WHERE " PG_SCOPE_HAS("c.item_seq") ") AND " PG_PICK_TERMS "ORDER BY t.priority DESC, t.id "   \
                                        "LIMIT 1"
#define PG_REAP                                                                                    \
    "UPDATE leases SET live = 0 WHERE (task_id, rater_id) IN (SELECT task_id, rater_id FROM "      \
    "leases WHERE live = 1 AND expires_ms <= $1 FOR UPDATE SKIP LOCKED) RETURNING task_id"

char *store_pg_text(enum stmt_id id)
{
    if ((unsigned)id >= STMT_COUNT)
        return NULL;
    const char *own = id == ST_TASK_PICK_NEAR ? PG_PICK_NEAR
                      : id == ST_REAP         ? PG_REAP
                                              : pg_text[id];
    char *sql = own ? strdup(own) : store_sql(id) ? sql_to_pg(store_sql(id)) : NULL;
    const char *lock = pg_lock[id];
    if (!sql || !lock)
        return sql;
    size_t n = strlen(sql) + strlen(lock) + 1;
    char *locked = malloc(n);
    if (locked)
        snprintf(locked, n, "%s%s", sql, lock);
    free(sql);
    return locked;
}
