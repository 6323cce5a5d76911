/* SQLite backend of the store. See store.h for the threading contract.
 *
 * Layout: struct conn wraps one sqlite3 handle and its lazily prepared
 * statements. The writer thread owns one conn; readers borrow one from a
 * small pool. All SQL text lives in the sql_text table below. */
#include "store.h"
#include "store_internal.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* An item (row of items) that a new layer may score again: not gold, and
 * its tasks have no label, no live lease and are still open. */
/* ?4 .. ?67: the GROUP_IN_MAX (64) candidate seqs of the group lookup's
 * statements (store_items.c); unused ones are NULL. */
#define GROUP_IN_PARAMS                                                                            \
    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "                        \
    "?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, "                       \
    "?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45, ?46, "                       \
    "?47, ?48, ?49, ?50, ?51, ?52, ?53, ?54, ?55, ?56, ?57, ?58, ?59, ?60, "                       \
    "?61, ?62, ?63, ?64, ?65, ?66, ?67"

#define RESCORABLE                                                                                 \
    "gold_answer IS NULL AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.item_seq = items.seq "      \
    "AND (t.labels_done > 0 OR t.leased > 0 OR t.state <> 'open' OR t.gold = 1))"

/* A rater's (r.id) labels beside the verdict they are compared with: the
 * sub-question's for a sub-question task, else the item's. */
#define RATER_VERDICTS                                                                             \
    "(SELECT l.answer, CASE WHEN t.subq_id IS NULL THEN i.verdict ELSE q.verdict END AS verdict "  \
    "FROM labels l JOIN tasks t ON t.id = l.task_id JOIN items i ON i.seq = t.item_seq "           \
    "LEFT JOIN subquestions q ON q.id = t.subq_id WHERE l.rater_id = r.id) v"

/* A comparison (row c) that training reads: not from a retracted item. */
#define CMP_LIVE                                                                                   \
    "(c.item_seq IS NULL OR NOT EXISTS (SELECT 1 FROM items i WHERE i.seq = c.item_seq "           \
    "AND i.deleted_ms IS NOT NULL))"

/* A task (row t) the claim skips although its row says claimable: its
 * item was retracted (gold tasks stay open) or its batch is paused. Checked
 * per candidate by primary key, so the claim keeps the tasks_claim partial
 * index (tests/unit/test_store.c checks the plan). */
#define TASK_HELD_BACK                                                                             \
    "EXISTS (SELECT 1 FROM items i LEFT JOIN batches b ON b.batch = i.batch "                      \
    "WHERE i.seq = t.item_seq AND (i.deleted_ms IS NOT NULL OR b.paused = 1))"

/* A layer's columns as store_layers.c reads them (layer_read). */
#define LAYER_COLUMNS                                                                              \
    "id, parent, status, kind, train_size, sources, metrics, threshold, consistency, "             \
    "created_ms, request, lineage, prev_active, activated_ms"

extern const char *const schema_migrations[];
extern const size_t schema_migration_count;

static const char *const sql_text[STMT_COUNT] = {
    [ST_KEY_INSERT] =
        "INSERT INTO api_keys(name, role, lookup, hash, created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_RATER_INSERT] = "INSERT INTO raters(key_id) VALUES(?1)",
    [ST_KEY_REVOKE] = "UPDATE api_keys SET revoked_ms = ?2 WHERE name = ?1 AND revoked_ms IS NULL",
    [ST_KEY_BY_LOOKUP] = "SELECT k.id, k.name, k.role, k.hash, k.created_ms, k.revoked_ms, "
                         "coalesce(r.id, 0) FROM api_keys k LEFT JOIN raters r ON r.key_id = k.id "
                         "WHERE k.lookup = ?1",
    [ST_ITEM_FIND_EXT] =
        "SELECT id, status, batch FROM items WHERE key_id IS ?1 AND external_id = ?2",
    [ST_ITEM_INSERT] =
        "INSERT INTO items(id, key_id, external_id, batch, kind, prompt, response_a, response_b, "
        "domain, metadata, priority, status, route, verdict, verdict_source, confidence, layer_id, "
        "scores, created_ms, updated_ms, \"group\") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "?10, "
        "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19, ?20)",
    [ST_TASK_INSERT] = "INSERT INTO tasks(item_seq, kind, priority, overlap, created_ms) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_ITEM_GET] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE id = ?1 AND deleted_ms IS NULL",
    [ST_ITEMS_ALL] =
        "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE seq > ?1 "
        "AND deleted_ms IS NULL AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR key_id = ?3) "
        "ORDER BY seq LIMIT ?4",
    [ST_ITEMS_BATCH] =
        "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE batch = ?5 AND seq > ?1 "
        "AND deleted_ms IS NULL AND (?2 IS NULL OR status = ?2) AND (?3 = 0 OR key_id = ?3) "
        "ORDER BY seq LIMIT ?4",
    [ST_ITEMS_STATUS] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE status = ?2 AND seq > ?1 "
                        "AND deleted_ms IS NULL AND (?3 = 0 OR key_id = ?3) ORDER BY seq LIMIT ?4",
    [ST_COUNT_STATUS] =
        "SELECT status, count(*) FROM items WHERE deleted_ms IS NULL GROUP BY status",
    [ST_COUNT_DOMAIN] =
        "SELECT coalesce(domain, ''), count(*) FROM items WHERE deleted_ms IS NULL GROUP BY domain "
        "ORDER BY count(*) DESC, 1 LIMIT ?1",
    [ST_COUNT_BATCH] =
        "SELECT coalesce(batch, ''), count(*) FROM items WHERE deleted_ms IS NULL GROUP BY batch "
        "ORDER BY count(*) DESC, 1 LIMIT ?1",
    [ST_DB_SIZE] = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    [ST_OVERLAP_FOR] = "SELECT overlap FROM overlap_rules WHERE (scope = 'batch' AND value = ?1) "
                       "OR (scope = 'domain' AND value = ?2) ORDER BY scope = 'batch' DESC LIMIT 1",
    [ST_LAYER_ACTIVE] = "SELECT id FROM layers WHERE status = 'active'",
    [ST_LAYER_PARAMS] = "SELECT params, kind FROM layers WHERE id = ?1",
    [ST_LAYER_INSERT] =
        "INSERT INTO layers(parent, status, kind, params, train_size, sources, metrics, "
        "threshold, created_ms, lineage) VALUES((SELECT id FROM layers WHERE status = 'active'), "
        "'candidate', coalesce(?7, 'hashed-bt'), ?1, ?2, ?3, ?4, ?5, ?6, ?8)",
    [ST_LAYER_RETIRE_ACTIVE] = "UPDATE layers SET status = 'retired' WHERE status = 'active'",
    /* ?3: a promotion records the layer it replaces (?4, NULL: none) */
    [ST_LAYER_SET_ACTIVE] = "UPDATE layers SET status = 'active', activated_ms = ?2, "
                            "prev_active = CASE WHEN ?3 THEN ?4 ELSE prev_active END "
                            "WHERE id = ?1 AND status IN ('candidate', 'retired')",
    [ST_LAYER_LIST] = "SELECT " LAYER_COLUMNS " FROM layers ORDER BY id DESC",
    [ST_CMP_INSERT] =
        "INSERT INTO comparisons(prompt, chosen, rejected, tie, label, source, weight, "
        "layer_id, item_seq, provenance, created_ms, digest) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
        "ON CONFLICT(digest) DO NOTHING",
    [ST_CMP_ALL] =
        "SELECT prompt, chosen, rejected, tie, label, source, weight, layer_id, item_seq, "
        "provenance, id FROM comparisons c WHERE " CMP_LIVE " ORDER BY id",
    [ST_LEASE_HELD] = "SELECT x.task_id FROM leases x JOIN tasks t ON t.id = x.task_id "
                      "WHERE x.rater_id = ?1 AND x.live = 1 AND x.expires_ms > ?2 "
                      "AND (t.state = 'open' OR t.gold = 1) LIMIT 1",
/* A task the rater ?1 may be served: open, not gold, a free slot, not
 * labelled or skipped by them, its item not retracted nor its batch paused. */
#define PICK_TERMS                                                                                 \
    "t.state = 'open' AND t.gold = 0 AND t.overlap > t.labels_done + t.leased "                    \
    "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.rater_id = ?1) "          \
    "AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.task_id = t.id AND k.rater_id = ?1) "           \
    "AND NOT " TASK_HELD_BACK " "
/* Item ?x is in a batch or domain of the limited key ?2. */
#define SCOPE_HAS(x)                                                                               \
    "EXISTS (SELECT 1 FROM items i WHERE i.seq = " x " AND (EXISTS (SELECT 1 FROM key_scopes s "   \
    "WHERE s.key_id = ?2 AND s.scope = 'batch' AND s.value = i.batch) OR EXISTS (SELECT 1 "        \
    "FROM key_scopes s WHERE s.key_id = ?2 AND s.scope = 'domain' AND s.value = i.domain)))"
    [ST_TASK_PICK] =
        "SELECT t.id FROM tasks t WHERE " PICK_TERMS "ORDER BY t.priority DESC, t.id LIMIT 1",
    /* Gold tasks are few: a limited key (?2, 0 when not limited) filters
     * them as they come. */
    [ST_TASK_PICK_GOLD] =
        "SELECT t.id FROM tasks t WHERE t.gold = 1 "
        "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.rater_id = ?1) "
        "AND NOT EXISTS (SELECT 1 FROM leases x WHERE x.task_id = t.id AND x.rater_id = ?1) "
        "AND NOT EXISTS (SELECT 1 FROM skips k WHERE k.task_id = t.id AND k.rater_id = ?1) "
        "AND NOT " TASK_HELD_BACK " AND (?2 = 0 OR " SCOPE_HAS("t.item_seq") ") ORDER BY t.id "
                                                                             "LIMIT 1",
    [ST_LEASE_INSERT] =
        "INSERT INTO leases(task_id, rater_id, expires_ms, live, swapped) VALUES(?1, ?2, ?3, 1, "
        "?4) "
        "ON CONFLICT(task_id, rater_id) DO UPDATE SET expires_ms = excluded.expires_ms, live = 1",
    [ST_TASK_LEASED_ADD] = "UPDATE tasks SET leased = leased + ?2 WHERE id = ?1",
    [ST_TASK_VIEW] =
        "SELECT t.id, t.kind, i.prompt, i.response_a, i.response_b, i.scores, "
        "coalesce(x.expires_ms, 0), coalesce(x.swapped, l.swapped, 0), "
        "coalesce(b.assistance, 'shown'), b.guidelines, y.metrics, l.answer, l.created_ms, "
        "t.blind FROM tasks t JOIN items i ON i.seq = t.item_seq "
        "LEFT JOIN leases x ON x.task_id = t.id AND x.rater_id = ?2 "
        "LEFT JOIN labels l ON l.task_id = t.id AND l.rater_id = ?2 "
        "LEFT JOIN batches b ON b.batch = i.batch LEFT JOIN layers y ON y.id = i.layer_id "
        "WHERE t.id = ?1 AND (x.task_id IS NOT NULL OR l.id IS NOT NULL)",
    [ST_REAP] = "UPDATE leases SET live = 0 WHERE live = 1 AND expires_ms <= ?1 RETURNING task_id",
    [ST_TASK_GET] =
        "SELECT t.kind, t.state, t.overlap, t.labels_done, t.leased, t.gold, t.item_seq, "
        "i.scores, i.gold_answer, i.prompt, i.response_a, i.response_b, i.layer_id, "
        "t.extra_used, coalesce(b.assistance, 'shown'), t.audit, t.blind FROM tasks t "
        "JOIN items i ON i.seq = t.item_seq LEFT JOIN batches b ON b.batch = i.batch "
        "WHERE t.id = ?1",
    [ST_LABEL_GET] =
        "SELECT l.answer, l.swapped, l.created_ms, NOT EXISTS (SELECT 1 FROM labels z "
        "WHERE z.rater_id = ?2 AND (z.created_ms > l.created_ms OR (z.created_ms = l.created_ms "
        "AND z.id > l.id))) FROM labels l WHERE l.task_id = ?1 AND l.rater_id = ?2",
    [ST_LEASE_DELETE] =
        "DELETE FROM leases WHERE task_id = ?1 AND rater_id = ?2 RETURNING live, swapped",
    [ST_LEASES_DROP] = "DELETE FROM leases WHERE task_id = ?1",
    [ST_LABEL_INSERT] =
        "INSERT INTO labels(task_id, rater_id, answer, confidence, rationale, seconds, "
        "assistance, created_ms, swapped) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_TASK_LABELLED] = "UPDATE tasks SET labels_done = labels_done + 1 WHERE id = ?1",
    [ST_RATER_COUNT] = "UPDATE raters SET labels = labels + 1, gold_seen = gold_seen + ?2, "
                       "gold_right = gold_right + ?3 WHERE id = ?1",
    [ST_TASK_LABELS] = "SELECT rater_id, answer FROM labels WHERE task_id = ?1 ORDER BY id",
    [ST_TASK_EXTRA_LABEL] = "UPDATE tasks SET overlap = overlap + 1, extra_used = 1 WHERE id = ?1",
    [ST_TASK_DONE] = "UPDATE tasks SET state = 'done', leased = 0 WHERE id = ?1",
    [ST_ITEM_RESOLVE] =
        "UPDATE items SET status = 'resolved', verdict = ?2, verdict_source = 'human', "
        "confidence = ?3, updated_ms = ?4 WHERE seq = ?1",
    [ST_SKIP_INSERT] = "INSERT OR IGNORE INTO skips(task_id, rater_id) VALUES(?1, ?2)",
    [ST_OPEN_COUNT] = "SELECT count(*) FROM tasks WHERE state = 'open' AND gold = 0",
    [ST_ITEM_BY_UUID] =
        "SELECT seq, kind, priority FROM items WHERE id = ?1 AND deleted_ms IS NULL",
    [ST_ITEM_SET_GOLD] = "UPDATE items SET gold_answer = ?2, updated_ms = ?3 WHERE seq = ?1",
    [ST_TASKS_SET_GOLD] = "UPDATE tasks SET gold = 1 WHERE item_seq = ?1",
    [ST_GOLD_TASK_INSERT] =
        "INSERT INTO tasks(item_seq, kind, priority, overlap, gold, created_ms) "
        "VALUES(?1, ?2, ?3, 1, 1, ?4)",
    [ST_OVERLAP_UPSERT] = "INSERT INTO overlap_rules(scope, value, overlap) VALUES(?1, ?2, ?3) "
                          "ON CONFLICT(scope, value) DO UPDATE SET overlap = excluded.overlap",
    [ST_OVERLAP_APPLY_BATCH] =
        "UPDATE tasks SET overlap = max(?2, labels_done + leased) WHERE state = 'open' AND gold = "
        "0 "
        "AND labels_done < ?2 AND item_seq IN (SELECT seq FROM items WHERE batch = ?1)",
    [ST_OVERLAP_APPLY_DOMAIN] =
        "UPDATE tasks SET overlap = max(?2, labels_done + leased) WHERE state = 'open' AND gold = "
        "0 "
        "AND labels_done < ?2 AND item_seq IN (SELECT seq FROM items WHERE domain = ?1)",
    [ST_LABEL_REPLACE] =
        "UPDATE labels SET answer = ?3, confidence = ?4, rationale = ?5, seconds = ?6 "
        "WHERE task_id = ?1 AND rater_id = ?2",
    [ST_EVENT_INSERT] = "INSERT INTO events(at_ms, actor, kind, subject, detail) VALUES(?1, "
                        "(SELECT k.name FROM raters r JOIN api_keys k ON k.id = r.key_id "
                        "WHERE r.id = ?2), ?3, ?4, ?5)",
    [ST_CMP_DROP_HUMAN] = "DELETE FROM comparisons WHERE item_seq = ?1 AND source = 'human'",
    [ST_CMP_DROP_AUDIT] = "DELETE FROM comparisons WHERE item_seq = ?1 AND source = 'audit'",
    [ST_RATER_GOLD_FIX] = "UPDATE raters SET gold_right = gold_right + ?2 WHERE id = ?1",
    [ST_BATCH_UPSERT] = "INSERT INTO batches(batch, assistance, guidelines, updated_ms, paused) "
                        "VALUES(?1, coalesce(?2, 'shown'), ?4, ?5, coalesce(?6, 0)) ON "
                        "CONFLICT(batch) DO UPDATE SET "
                        "assistance = coalesce(?2, assistance), "
                        "guidelines = CASE WHEN ?3 THEN ?4 ELSE guidelines END, updated_ms = ?5, "
                        "paused = coalesce(?6, paused) RETURNING assistance, guidelines, paused",
    [ST_BATCH_GET] = "SELECT assistance, guidelines, paused FROM batches WHERE batch = ?1",
    [ST_RATER_PROGRESS] = "SELECT count(*), (SELECT labels FROM raters WHERE id = ?1) FROM labels "
                          "WHERE rater_id = ?1 AND created_ms >= ?2",
/* A rater's counts (store_rater_row_read's columns), without the order. */
#define RATERS_SELECT                                                                              \
    "SELECT k.name, k.role, r.labels, r.gold_seen, r.gold_right, "                                 \
    "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "                             \
    "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b')), "                    \
    "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "                             \
    "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b') "                      \
    "AND (l.answer = 'a') = (l.swapped = 0)), r.id FROM raters r "                                 \
    "JOIN api_keys k ON k.id = r.key_id "
    [ST_RATERS] = RATERS_SELECT "ORDER BY k.name",
    [ST_LEASED_RECOUNT] = "UPDATE tasks SET leased = (SELECT count(*) FROM leases x "
                          "WHERE x.task_id = tasks.id AND x.live = 1) WHERE leased > 0",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_ITEM_FIND_DIGEST] = "SELECT id, status, batch FROM items WHERE digest = ?1",
    [ST_ITEM_SET_DIGEST] = "UPDATE items SET digest = ?2 WHERE seq = ?1",
    [ST_ITEMS_EXT] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE external_id = ?5 "
                     "AND deleted_ms IS NULL AND seq > ?1 AND (?2 IS NULL OR status = ?2) AND (?3 "
                     "= 0 OR key_id = ?3) "
                     "AND (?6 IS NULL OR batch = ?6) ORDER BY seq LIMIT ?4",
    [ST_RESCORE_PENDING] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE status = "
                           "'awaiting_human' AND seq > ?1 AND layer_id IS NOT ?2 AND " RESCORABLE
                           " ORDER BY seq LIMIT ?3",
    [ST_RESCORE_AUTO] =
        "UPDATE items SET status = 'auto', route = 'auto', verdict = ?2, verdict_source = "
        "'layer', confidence = ?3, layer_id = ?4, scores = ?5, updated_ms = ?6 WHERE seq = ?1 "
        "AND status = 'awaiting_human' AND " RESCORABLE,
    [ST_RESCORE_HUMAN] =
        "UPDATE items SET confidence = ?3, layer_id = ?4, scores = ?5, updated_ms = ?6 "
        "WHERE seq = ?1 AND status = 'awaiting_human' AND " RESCORABLE,
    [ST_RESCORE_CLOSE_TASKS] =
        "UPDATE tasks SET state = 'done', leased = 0 WHERE item_seq = ?1 AND state = 'open'",
    /* sample groups (schema/007_groups.sql) */
    [ST_GROUP_MARK_STALE] = "UPDATE items SET group_stale = group_stale + 1 WHERE key_id IS ?1 "
                            "AND \"group\" = ?2 AND seq < ?3 AND status = 'awaiting_human' "
                            "AND deleted_ms IS NULL",
    [ST_GROUP_SAMPLES] = "SELECT seq, response_a, response_b FROM items WHERE key_id IS ?1 "
                         "AND \"group\" = ?2 AND deleted_ms IS NULL ORDER BY seq LIMIT ?3",
    [ST_GROUP_STALE_PENDING] = "SELECT " STORE_ITEM_COLUMNS " FROM items WHERE group_stale > 0 "
                               "AND seq > ?1 AND status = 'awaiting_human' AND deleted_ms IS NULL "
                               "AND " RESCORABLE " ORDER BY seq LIMIT ?2",
    [ST_GROUP_STALE_SELF] = "UPDATE items SET group_stale = group_stale + 1 WHERE seq = ?1 "
                            "AND status = 'awaiting_human'",
    [ST_GROUP_OF_TASK] = "SELECT i.key_id, i.\"group\", i.domain FROM tasks t JOIN items i "
                         "ON i.seq = t.item_seq WHERE t.id = ?1",
    [ST_GROUP_STALE_CLEAR] = "UPDATE items SET group_stale = 0 WHERE seq = ?1 AND group_stale = ?2",
    /* SQLite's group lookup (store_groups.c, schema/013_group_log.sql): the
     * log the in-memory map is caught up from, and one candidate item of a
     * group checked against its key and name */
    [ST_GROUP_LOG_SINCE] = "SELECT seq, key_id, \"group\" FROM item_groups WHERE seq > ?1 "
                           "ORDER BY seq LIMIT ?2",
    [ST_GROUP_LOG_INSERT] = "INSERT INTO item_groups(seq, key_id, \"group\") VALUES(?1, ?2, ?3)",
    [ST_GROUP_SAMPLES_IN] =
        "SELECT seq, response_a, response_b FROM items WHERE seq IN (" GROUP_IN_PARAMS
        ") AND key_id IS ?1 AND \"group\" = ?2 AND deleted_ms IS NULL "
        "ORDER BY seq LIMIT ?3",
    [ST_GROUP_SAMPLES_IN8] =
        "SELECT seq, response_a, response_b FROM items WHERE seq IN (?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11) AND key_id IS ?1 AND \"group\" = ?2 "
        "AND deleted_ms IS NULL ORDER BY seq LIMIT ?3",
    [ST_GROUP_MARK_STALE_IN] =
        "UPDATE items SET group_stale = group_stale + 1 WHERE seq IN (" GROUP_IN_PARAMS
        ") AND key_id IS ?1 AND \"group\" = ?2 "
        "AND seq < ?3 AND status = 'awaiting_human' AND deleted_ms IS NULL",
    [ST_ITEMS_IN_BATCH] = "SELECT EXISTS (SELECT 1 FROM items WHERE batch = ?1)",
    [ST_ITEMS_IN_DOMAIN] = "SELECT EXISTS (SELECT 1 FROM items WHERE domain = ?1)",
    [ST_OVERLAP_LIST] = "SELECT scope, value, overlap FROM overlap_rules ORDER BY scope, value",
    /* sub-questions and domains: store_subq.c */
    [ST_DOMAIN_UPSERT] =
        "INSERT INTO domains(name, decomposer, criteria, hard_tokens, step_order, updated_ms, "
        "checker_answers, checkers) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(name) DO "
        "UPDATE SET decomposer = excluded.decomposer, criteria = excluded.criteria, "
        "hard_tokens = excluded.hard_tokens, step_order = excluded.step_order, "
        "updated_ms = excluded.updated_ms, checker_answers = excluded.checker_answers, "
        "checkers = excluded.checkers",
    [ST_DOMAIN_GET] =
        "SELECT name, decomposer, criteria, hard_tokens, step_order, checker_answers, checkers "
        "FROM domains WHERE name = ?1",
    [ST_DOMAIN_LIST] =
        "SELECT name, decomposer, criteria, hard_tokens, step_order, checker_answers, checkers "
        "FROM domains ORDER BY name",
    [ST_SUBQ_INSERT] =
        "INSERT INTO subquestions(item_seq, side, ordinal, kind, span_start, span_end, question, "
        "score, confidence, status, verdict, source, sinks) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_SUBQ_ITEM] = "SELECT id, side, ordinal, kind, span_start, span_end, question, score, "
                     "confidence, source, verdict, status, sinks FROM subquestions "
                     "WHERE item_seq = ?1 ORDER BY side, ordinal",
    [ST_SUBQ_SET_STATUS] = "UPDATE subquestions SET status = ?2 WHERE id = ?1",
    [ST_SUBQ_ANSWER] =
        "UPDATE subquestions SET status = 'answered', verdict = ?2, source = ?3 WHERE id = ?1",
    [ST_SUBQ_TASK_OF] = "SELECT id FROM tasks WHERE subq_id = ?1 AND state = 'open'",
    [ST_ROLLUP_INSERT] = "INSERT INTO rollups(item_seq, step_order) VALUES(?1, ?2)",
    [ST_ROLLUP_GET] =
        "SELECT step_order, state, reason, provenance FROM rollups WHERE item_seq = ?1",
    [ST_ROLLUP_SET] =
        "UPDATE rollups SET state = ?2, reason = ?3, provenance = ?4 WHERE item_seq = ?1",
    [ST_TASK_SET_SUBQ] = "UPDATE tasks SET subq_id = ?2 WHERE id = ?1",
    [ST_TASK_SUBQ] = "SELECT t.subq_id, t.item_seq, t.state, t.overlap, t.labels_done, t.leased, "
                     "t.extra_used, r.state FROM tasks t "
                     "LEFT JOIN rollups r ON r.item_seq = t.item_seq WHERE t.id = ?1",
    [ST_ITEM_ROW] = "SELECT kind, prompt, response_a, response_b, batch, domain, priority, "
                    "layer_id, status FROM items WHERE seq = ?1",
    [ST_ITEM_SET_STATUS] = "UPDATE items SET status = ?2, updated_ms = ?3 WHERE seq = ?1",
    [ST_ITEM_AGGREGATE] =
        "UPDATE items SET status = 'resolved', verdict = ?2, verdict_source = 'aggregate', "
        "confidence = ?3, updated_ms = ?4 WHERE seq = ?1",
    [ST_SUBQ_LABEL_COUNTS] = "SELECT count(*) FILTER (WHERE answer = 'yes'), "
                             "count(*) FILTER (WHERE answer = 'no'), "
                             "count(*) FILTER (WHERE answer = 'unsure') "
                             "FROM labels WHERE task_id = ?1",
    /* checker answers by their items' settled verdicts (store_subq.c): a
     * gold answer, else a human verdict of two or more whole-item labels,
     * all the same; NULL when the item is not settled so */
    [ST_CHECKER_OUTCOMES] =
        "SELECT q.side, q.verdict, CASE WHEN i.kind <> 'pair' THEN NULL "
        "WHEN i.gold_answer IN ('a', 'b') THEN i.gold_answer "
        "WHEN i.gold_answer IS NULL AND i.verdict_source = 'human' AND i.verdict IN ('a', 'b') "
        "AND (SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE t.item_seq = i.seq AND t.subq_id IS NULL) >= 2 "
        "AND NOT EXISTS (SELECT 1 FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE t.item_seq = i.seq AND t.subq_id IS NULL AND l.answer <> i.verdict) "
        "THEN i.verdict END AS settled, count(*) "
        "FROM subquestions q JOIN items i ON i.seq = q.item_seq "
        "WHERE q.source = 'checker' AND i.deleted_ms IS NULL GROUP BY 1, 2, 3",
    /* promotion: the settled set, the check's outcome (store_layers.c) */
    [ST_SETTLED] =
        /* gold pairs: the admin's answer */
    "SELECT seq, prompt, response_a, response_b, gold_answer FROM items "
    "WHERE kind = 'pair' AND gold_answer IN ('a', 'b') AND deleted_ms IS NULL "
    /* human verdicts with two or more labels, all the same */
    "UNION ALL SELECT i.seq, i.prompt, i.response_a, i.response_b, i.verdict FROM items i "
    "WHERE i.kind = 'pair' AND i.gold_answer IS NULL AND i.verdict_source = 'human' "
    "AND i.deleted_ms IS NULL "
    "AND i.verdict IN ('a', 'b') AND (SELECT count(*) FROM labels l JOIN tasks t "
    "ON t.id = l.task_id WHERE t.item_seq = i.seq AND t.subq_id IS NULL) >= 2 "
    "AND NOT EXISTS (SELECT 1 FROM labels l JOIN tasks t ON t.id = l.task_id "
    "WHERE t.item_seq = i.seq AND t.subq_id IS NULL AND l.answer <> i.verdict) "
    /* roll-ups of human answers alone */
    "UNION ALL SELECT i.seq, i.prompt, i.response_a, i.response_b, i.verdict FROM items i "
    "JOIN rollups r ON r.item_seq = i.seq WHERE i.kind = 'pair' AND i.deleted_ms IS NULL "
    "AND i.verdict_source = "
    "'aggregate' AND i.verdict IN ('a', 'b') AND NOT EXISTS (SELECT 1 FROM "
    "json_each(r.provenance, '$.decided_by') WHERE json_extract(value, '$.source') <> "
    "'human') "
    /* trusted imports: the chosen reply */
    "UNION ALL SELECT 0, prompt, chosen, rejected, 'a' FROM comparisons WHERE source = "
    "'import' AND rejected IS NOT NULL AND tie = 0 AND json_valid(provenance) AND "
    "json_extract(provenance, '$.trusted') = 1 LIMIT ?1",
    [ST_LAYER_CHECKED] = "UPDATE layers SET consistency = ?2 WHERE id = ?1",
    [ST_LAYER_REJECT] = "UPDATE layers SET status = 'rejected' WHERE id = ?1 AND status IN "
                        "('candidate', 'retired')",
    [ST_FLAG_INSERT] = "INSERT INTO flags(item_seq, layer_id, reason, created_ms) VALUES(?1, ?2, "
                       "?3, ?4)",
    [ST_LAYER_EVENT] = "INSERT INTO events(at_ms, actor, kind, subject, detail) VALUES(?1, ?2, "
                       "?3, ?4, ?5)",
    [ST_ITEM_QUEUE_FACTS] = "SELECT batch, domain, priority FROM items WHERE seq = ?1 "
                            "AND kind = 'pair'",
/* A step sub-question an export gives (?3: its answer's source or NULL):
 * answered, not a criterion (criteria span the whole response). */
#define EXPORT_STEP                                                                                \
    "q.status = 'answered' AND q.kind <> 'criterion' AND q.verdict IN ('yes', 'no', 'unsure') "    \
    "AND (?3 IS NULL OR q.source = ?3)"
    /* export: store_export.c. ?1 since_ms, ?2 batch, ?3 source, ?4 min_agreement. */
    [ST_EXPORT_PREFERENCE] =
        "SELECT c.id, i.id, i.batch, c.source, c.prompt, c.chosen, c.rejected, "
        "(SELECT json_group_array(name) FROM (SELECT k.name AS name "
        "FROM json_each(c.provenance, '$.raters') j JOIN raters r ON r.id = j.value "
        "JOIN api_keys k ON k.id = r.key_id ORDER BY j.key)), "
        "json_extract(c.provenance, '$.agreement'), coalesce(c.layer_id, 0) "
        "FROM comparisons c LEFT JOIN items i ON i.seq = c.item_seq "
        "WHERE i.deleted_ms IS NULL AND c.rejected IS NOT NULL AND c.tie = 0 AND c.created_ms >= "
        "?1 "
        "AND (?2 IS NULL OR i.batch = ?2) AND (?3 IS NULL OR c.source = ?3) "
        "AND (?4 IS NULL OR json_extract(c.provenance, '$.agreement') >= ?4) ORDER BY c.id",
    [ST_EXPORT_STEP_SIDES] =
        "SELECT i.seq, i.id, i.batch, i.prompt, "
        "CASE q.side WHEN 'b' THEN i.response_b ELSE i.response_a END, "
        "CASE WHEN i.kind = 'single' THEN NULL ELSE q.side END, q.side "
        "FROM subquestions q JOIN items i ON i.seq = q.item_seq WHERE " EXPORT_STEP
        " AND i.deleted_ms IS NULL AND i.updated_ms >= ?1 "
        "AND (?2 IS NULL OR i.batch = ?2) GROUP BY q.item_seq, q.side ORDER BY q.item_seq, q.side",
    [ST_EXPORT_STEPS] =
        "SELECT q.span_start, q.span_end, q.verdict FROM subquestions q "
        "WHERE q.item_seq = ?1 AND q.side = ?2 AND " EXPORT_STEP " ORDER BY q.ordinal LIMIT 64",
    [ST_EXPORT_ITEMS] =
        "SELECT seq, id, external_id, batch, kind, domain, status, route, verdict, "
        "verdict_source, confidence, coalesce(layer_id, 0), scores, gold_answer IS NOT NULL, "
        "created_ms, updated_ms FROM items WHERE deleted_ms IS NULL AND updated_ms >= ?1 "
        "AND (?2 IS NULL OR batch = ?2) AND (?3 IS NULL OR verdict_source = ?3) ORDER BY seq",
    /* the admin's view: store_admin.c */
    [ST_BATCH_LIST] =
        "WITH names AS (SELECT batch FROM items WHERE batch IS NOT NULL AND batch > ?1 "
        "AND deleted_ms IS NULL "
        "UNION SELECT batch FROM batches WHERE batch > ?1 ORDER BY batch LIMIT ?2) "
        "SELECT n.batch, (SELECT count(*) FROM items i WHERE i.batch = n.batch "
        "AND i.deleted_ms IS NULL), (SELECT count(*) FROM items i WHERE i.batch = n.batch "
        "AND i.deleted_ms IS NULL AND i.verdict IS NOT NULL), "
        "(SELECT count(*) FROM tasks t JOIN items i ON i.seq = t.item_seq WHERE i.batch = n.batch "
        "AND t.state = 'open' AND t.gold = 0) FROM names n ORDER BY n.batch",
    [ST_BATCH_COUNT_STATUS] =
        "SELECT status, count(*) FROM items WHERE batch = ?1 AND deleted_ms IS NULL GROUP BY 1",
    [ST_BATCH_COUNT_ROUTE] = "SELECT coalesce(route, 'none'), count(*) FROM items WHERE batch = ?1 "
                             "AND deleted_ms IS NULL GROUP BY 1",
    [ST_BATCH_COUNT_VERDICT] =
        "SELECT verdict, count(*) FROM items WHERE batch = ?1 AND deleted_ms IS NULL "
        "AND verdict IS NOT NULL GROUP BY 1",
    [ST_BATCH_COUNT_SOURCE] =
        "SELECT verdict_source, count(*) FROM items WHERE batch = ?1 AND deleted_ms IS NULL "
        "AND verdict_source IS NOT NULL GROUP BY 1",
    [ST_BATCH_TASKS] =
        "SELECT count(*) FILTER (WHERE t.state = 'done'), count(*) FILTER (WHERE t.state = "
        "'open'), coalesce(sum(max(t.overlap - t.labels_done, 0)) FILTER (WHERE t.state = "
        "'open'), 0) FROM tasks t JOIN items i ON i.seq = t.item_seq "
        "WHERE i.batch = ?1 AND i.deleted_ms IS NULL AND t.gold = 0",
    [ST_BATCH_HOURLY] =
        "SELECT (?2 - l.created_ms) / 3600000, count(*) FROM items i "
        "JOIN tasks t ON t.item_seq = i.seq JOIN labels l ON l.task_id = t.id WHERE i.batch = ?1 "
        "AND l.created_ms > ?2 - 86400000 AND l.created_ms <= ?2 GROUP BY 1",
    [ST_AGREE_LABELS] =
        "SELECT l.task_id, l.rater_id, l.answer FROM labels l JOIN tasks t ON t.id = l.task_id "
        "JOIN items i ON i.seq = t.item_seq WHERE ?1 IS NULL OR i.batch = ?1 ORDER BY l.task_id",
    /* An expired lease is one that ran out (reaped, or past its time) and
     * was followed by no label: a label or a release deletes the lease. */
    [ST_RATER_DETAIL] =
        "SELECT k.name, k.role, r.labels, r.gold_seen, r.gold_right, "
        "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b')), "
        "(SELECT count(*) FROM labels l JOIN tasks t ON t.id = l.task_id "
        "WHERE l.rater_id = r.id AND t.kind = 'pair' AND l.answer IN ('a', 'b') "
        "AND (l.answer = 'a') = (l.swapped = 0)), r.id, "
        "(SELECT count(*) FROM skips WHERE rater_id = r.id), "
        "(SELECT count(*) FROM leases x WHERE x.rater_id = r.id "
        "AND (x.live = 0 OR x.expires_ms <= ?2) AND NOT EXISTS (SELECT 1 FROM labels l "
        "WHERE l.task_id = x.task_id AND l.rater_id = r.id)), "
        "(SELECT count(v.verdict) FROM " RATER_VERDICTS "), "
        "(SELECT count(*) FROM " RATER_VERDICTS " WHERE v.verdict = v.answer), "
        "(SELECT avg(seconds) FROM (SELECT seconds FROM labels WHERE rater_id = ?1 "
        "AND seconds IS NOT NULL ORDER BY seconds LIMIT 2 - (SELECT count(seconds) FROM labels "
        "WHERE rater_id = ?1) % 2 OFFSET ((SELECT count(seconds) FROM labels "
        "WHERE rater_id = ?1) - 1) / 2)) "
        "FROM raters r JOIN api_keys k ON k.id = r.key_id WHERE r.id = ?1",
    [ST_GAUGE_QUEUE] = "SELECT CASE WHEN subq_id IS NOT NULL THEN 'subquestion' ELSE kind END, "
                       "count(*) FROM tasks WHERE state = 'open' AND gold = 0 GROUP BY 1",
    [ST_GAUGES] = "SELECT (SELECT count(*) FROM leases WHERE live = 1 AND expires_ms > ?1), "
                  "(SELECT coalesce(sum(labels), 0) FROM raters), "
                  "(SELECT count(*) FROM items WHERE status = 'auto' AND deleted_ms IS NULL), "
                  "(SELECT count(*) FROM items WHERE deleted_ms IS NULL), "
                  "coalesce((SELECT id FROM layers WHERE status = 'active'), 0)",
    /* audits (all, and the active layer's) and webhook deliveries, for
     * /metrics; open as in ST_AUDIT_LAYER */
    [ST_GAUGE_TRUST] =
        "SELECT (SELECT count(*) FROM audits WHERE outcome = 'agree'), "
        "(SELECT count(*) FROM audits WHERE outcome = 'disagree'), "
        "(SELECT count(*) FROM audits WHERE outcome = 'inconclusive'), "
        "(SELECT count(*) FROM audits a JOIN tasks t ON t.id = a.task_id WHERE a.outcome IS NULL "
        "AND t.state = 'open' AND t.gold = 0), "
        "(SELECT count(*) FROM audits a JOIN layers y ON y.id = a.layer_id "
        "WHERE y.status = 'active' AND a.outcome = 'agree'), "
        "(SELECT count(*) FROM audits a JOIN layers y ON y.id = a.layer_id "
        "WHERE y.status = 'active' AND a.outcome = 'disagree'), "
        "(SELECT count(*) FROM layers WHERE status = 'active' AND demoted_ms IS NOT NULL), "
        "(SELECT CAST(coalesce(sum(delivered), 0) AS BIGINT) FROM webhooks), "
        "(SELECT CAST(coalesce(sum(failures), 0) AS BIGINT) FROM webhooks), "
        "(SELECT count(*) FROM webhook_outbox)",
    /* data management: retraction (store_retract.c) */
    [ST_RETRACT_ITEM_SEQ] = "SELECT seq, key_id, \"group\" FROM items WHERE id = ?1 "
                            "AND deleted_ms IS NULL "
                            "AND (?2 = 0 OR key_id = ?2)",
    [ST_RETRACT_BATCH_SEQS] =
        "SELECT seq, key_id, \"group\" FROM items WHERE batch = ?1 AND deleted_ms IS NULL "
        "ORDER BY seq",
    [ST_RETRACT_LEASES] =
        "DELETE FROM leases WHERE task_id IN (SELECT id FROM tasks WHERE item_seq = ?1)",
    [ST_RETRACT_MARK] = "UPDATE items SET deleted_ms = ?2 WHERE seq = ?1 AND deleted_ms IS NULL",
    /* listings and limited keys (issue 13 item 6): pages of ?2 rows after ?1 */
    [ST_KEY_SCOPE_INSERT] = "INSERT OR IGNORE INTO key_scopes(key_id, scope, value) "
                            "VALUES(?1, ?2, ?3)",
    [ST_KEY_LIST] = "SELECT k.name, k.role, k.created_ms, k.revoked_ms, k.id, "
                    "(SELECT json_group_array(value) FROM (SELECT value FROM key_scopes "
                    "WHERE key_id = k.id AND scope = 'batch' ORDER BY value)), "
                    "(SELECT json_group_array(value) FROM (SELECT value FROM key_scopes "
                    "WHERE key_id = k.id AND scope = 'domain' ORDER BY value)) "
                    "FROM api_keys k WHERE k.id > ?1 ORDER BY k.id LIMIT ?2",
    /* A limited key's claim, in two steps (store_tasks.c). Near: the
     * first 256 tasks in claim order (the claim index), the first of them
     * in its scope (a sort of those few); this is what a key limited to a busy
     * batch meets. Far, when none of those is: the open tasks of the
     * scope's items (items_batch, items_domain, tasks_item), sorted; its
     * cost grows with the scope, not with the whole queue. */
    [ST_TASK_PICK_NEAR] =
        "SELECT c.id FROM (SELECT t.id, t.item_seq, t.priority FROM tasks t WHERE " PICK_TERMS
        "ORDER BY t.priority DESC, t.id LIMIT 256) c WHERE " SCOPE_HAS(
            "c.item_seq") " ORDER BY c.priority DESC, c.id LIMIT 1",
    [ST_TASK_PICK_FAR] =
        "SELECT t.id FROM tasks t WHERE t.item_seq IN (SELECT i.seq FROM key_scopes s "
        "JOIN items i ON i.batch = s.value WHERE s.key_id = ?2 AND s.scope = 'batch' "
        "UNION SELECT i.seq FROM key_scopes s JOIN items i ON i.domain = s.value "
        "WHERE s.key_id = ?2 AND s.scope = 'domain') AND " PICK_TERMS
        "ORDER BY t.priority DESC, t.id LIMIT 1",
    [ST_RATER_SCOPE] = "SELECT r.key_id FROM raters r WHERE r.id = ?1 "
                       "AND EXISTS (SELECT 1 FROM key_scopes s WHERE s.key_id = r.key_id)",
    [ST_RATERS_PAGE] = RATERS_SELECT "WHERE k.name > ?1 ORDER BY k.name LIMIT ?2",
    [ST_FLAGS_PAGE] = "SELECT f.id, i.id, coalesce(f.layer_id, 0), f.reason, f.state, "
                      "f.created_ms FROM flags f JOIN items i ON i.seq = f.item_seq "
                      "WHERE f.id > ?1 ORDER BY f.id LIMIT ?2",
    [ST_EVENTS_PAGE] = "SELECT id, at_ms, actor, kind, subject, detail FROM events "
                       "WHERE id > ?1 ORDER BY id LIMIT ?2",
    /* the layer lifecycle (store_layers.c) */
    [ST_LAYER_TRAIN_INSERT] =
        "INSERT INTO layers(parent, status, kind, request, created_ms) VALUES((SELECT id FROM "
        "layers WHERE status = 'active'), 'training', 'hashed-bt', ?1, ?2)",
    [ST_LAYER_TRAIN_NEXT] =
        "SELECT id, request FROM layers WHERE status = 'training' ORDER BY id LIMIT 1",
    [ST_LAYER_TRAINED] = "UPDATE layers SET status = ?2, params = ?3, train_size = ?4, "
                         "sources = ?5, metrics = ?6, threshold = ?7, lineage = ?8 "
                         "WHERE id = ?1 AND status = 'training'",
    [ST_LAYER_GET] = "SELECT " LAYER_COLUMNS " FROM layers WHERE id = ?1",
    [ST_LAYER_STATUS] = "SELECT status, coalesce(prev_active, 0) FROM layers WHERE id = ?1",
    /* the active layer, read before a check's outcome is written (locked
     * on PostgreSQL: store_pg_sql.c's pg_lock) */
    [ST_LAYER_ACTIVE_LOCK] = "SELECT id FROM layers WHERE status = 'active'",
    [ST_CMP_NEWEST] =
        "SELECT prompt, chosen, rejected, tie, label, source, weight, layer_id, item_seq, "
        "provenance, id FROM comparisons c WHERE " CMP_LIVE " ORDER BY id DESC",
    /* measured trust: store_audit.c */
    [ST_AUDIT_LAYER_DEMOTED] = "SELECT demoted_ms IS NOT NULL FROM layers WHERE id = ?1",
    [ST_AUDIT_ITEM_FACTS] = "SELECT batch, domain, priority, kind FROM items WHERE seq = ?1",
    [ST_AUDIT_MARK_TASK] = "UPDATE tasks SET audit = ?2, blind = 1 WHERE id = ?1",
    [ST_AUDIT_INSERT] = "INSERT INTO audits(task_id, item_seq, layer_id, layer_verdict, "
                        "created_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_AUDIT_GET] =
        "SELECT item_seq, layer_id, layer_verdict, outcome FROM audits WHERE task_id = ?1",
    [ST_AUDIT_DECIDE] = "UPDATE audits SET human_verdict = ?2, outcome = ?3, decided_ms = ?4 "
                        "WHERE task_id = ?1",
    [ST_AUDIT_LAYER] =
        "SELECT count(a.task_id) FILTER (WHERE a.outcome = 'agree'), "
        "count(a.task_id) FILTER (WHERE a.outcome = 'disagree'), "
        "count(a.task_id) FILTER (WHERE a.outcome = 'inconclusive'), "
        "count(a.task_id) FILTER (WHERE a.outcome IS NULL AND EXISTS (SELECT 1 FROM tasks t "
        "WHERE t.id = a.task_id AND t.state = 'open' AND t.gold = 0)), y.metrics, y.demoted_ms "
        "FROM layers y LEFT JOIN audits a ON a.layer_id = y.id WHERE y.id = ?1 GROUP BY y.id",
    [ST_AUDIT_DEMOTE] = "UPDATE layers SET demoted_ms = ?2 WHERE id = ?1 AND demoted_ms IS NULL",
    /* Whole-item labels on the layer's items, blind or shown with its
     * scores, and how many gave its preference (answers in item order).
     * Both sides read the same window, the latest 10,000 labels of any
     * layer, so a listing of many layers stays bounded and the two
     * shares are comparable. */
    [ST_AUDIT_ASSIST] =
        "WITH w AS (SELECT task_id, answer, assistance FROM labels ORDER BY id DESC LIMIT 10000), "
        "x AS (SELECT t.blind AS blind, w.assistance IS NOT NULL AS shown, w.answer = "
        "json_extract(i.scores, '$.preference') AS same FROM w JOIN tasks t ON t.id = w.task_id "
        "JOIN items i ON i.seq = t.item_seq WHERE t.audit = 0 AND t.gold = 0 "
        "AND t.subq_id IS NULL AND i.layer_id = ?1) "
        "SELECT count(*), coalesce(sum(same), 0) FROM x WHERE blind = 1 "
        "UNION ALL SELECT count(*), coalesce(sum(same), 0) FROM x WHERE blind = 0 AND shown",
    /* A demotion's evidence among the audits decided after ?2: decided,
     * disagreeing, and the distinct raters who gave the disagreeing
     * answer. */
    [ST_AUDIT_DEMOTE_FACTS] =
        "SELECT count(*) FILTER (WHERE outcome IN ('agree', 'disagree')), "
        "count(*) FILTER (WHERE outcome = 'disagree'), (SELECT count(DISTINCT l.rater_id) "
        "FROM audits d JOIN labels l ON l.task_id = d.task_id WHERE d.layer_id = ?1 "
        "AND d.outcome = 'disagree' AND d.decided_ms > ?2 AND l.answer = d.human_verdict) "
        "FROM audits WHERE layer_id = ?1 AND decided_ms > ?2",
    [ST_AUDIT_REINSTATED] = "SELECT at_ms FROM events WHERE kind = 'layer_reinstated' "
                            "AND subject = ?1 ORDER BY id DESC LIMIT 1",
    [ST_AUDIT_REINSTATE] =
        "UPDATE layers SET demoted_ms = NULL WHERE id = ?1 AND demoted_ms IS NOT NULL",
    [ST_DRIFT_PROBE] = "SELECT seq, prompt, response_a, response_b FROM items "
                       "WHERE kind = 'pair' AND deleted_ms IS NULL ORDER BY seq LIMIT ?1",
    [ST_DRIFT_RECENT] = "SELECT seq, prompt, response_a, response_b FROM items "
                        "WHERE kind = 'pair' AND deleted_ms IS NULL ORDER BY seq DESC LIMIT ?1",
    [ST_DRIFT_SAVE] = "INSERT INTO layer_drift(layer_id, parent_id, detail, computed_ms) "
                      "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(layer_id) DO UPDATE SET "
                      "parent_id = excluded.parent_id, detail = excluded.detail, "
                      "computed_ms = excluded.computed_ms",
    [ST_DRIFT_GET] = "SELECT parent_id, detail, computed_ms FROM layer_drift WHERE layer_id = ?1",
    [ST_LAYER_PARENT] = "SELECT coalesce(parent, 0) FROM layers WHERE id = ?1",
    /* webhooks (store_webhooks.c; the outbox is filled by the triggers of
     * schema/010_webhooks.sql) */
    [ST_WEBHOOK_COUNT] = "SELECT count(*) FROM webhooks WHERE key_id = ?1",
    [ST_WEBHOOK_INSERT] =
        "INSERT INTO webhooks(key_id, url, secret, created_ms) VALUES(?1, ?2, ?3, ?4)",
    [ST_WEBHOOK_LIST] =
        "SELECT w.id, w.url, w.created_ms, (SELECT count(*) FROM webhook_outbox o "
        "WHERE o.hook_id = w.id), w.delivered, w.failures, coalesce(w.last_status, 0), "
        "w.last_error, coalesce(w.last_attempt_ms, 0) FROM webhooks w WHERE w.key_id = ?1 "
        "ORDER BY w.id",
    [ST_WEBHOOK_DELETE] = "DELETE FROM webhooks WHERE id = ?1 AND key_id = ?2",
    [ST_WEBHOOK_DROP_OUTBOX] = "DELETE FROM webhook_outbox WHERE hook_id = ?1",
    /* Each live key's hook's oldest pending delivery (the outbox index
     * finds it), with the hook and the item's names. */
    [ST_WEBHOOK_HEADS] =
        "SELECT o.id, o.hook_id, o.attempts, w.url, w.secret, i.id, i.external_id, i.batch, "
        "o.verdict, o.source, o.confidence, o.resolved_ms, o.next_ms, o.nonce FROM webhooks w "
        "JOIN api_keys k ON k.id = w.key_id JOIN webhook_outbox o ON o.id = "
        "(SELECT min(x.id) FROM webhook_outbox x WHERE x.hook_id = w.id) "
        "JOIN items i ON i.seq = o.item_seq WHERE k.revoked_ms IS NULL ORDER BY o.id",
    [ST_WEBHOOK_ACKED] = "DELETE FROM webhook_outbox WHERE id = ?1",
    [ST_WEBHOOK_RETRY] =
        "UPDATE webhook_outbox SET attempts = attempts + 1, next_ms = ?2 WHERE id = ?1",
    [ST_WEBHOOK_OUTCOME] =
        "UPDATE webhooks SET delivered = delivered + ?2, failures = failures + ?3, "
        "last_status = ?4, last_error = ?5, last_attempt_ms = ?6 WHERE id = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_SAVEPOINT] = "SAVEPOINT job",
    [ST_ROLLBACK_TO] = "ROLLBACK TO job",
    [ST_RELEASE] = "RELEASE job",
    /* An item stored settled by the layer queues its deliveries here, not
     * in a trigger: on SQLite an INSERT that fires a trigger keeps a
     * statement journal of every page it touches (~8 pages of 4 KB an
     * item, written to a temporary file inside a request's savepoint),
     * measured at over a third of the writer's time. Migration 011 drops
     * items_webhook_insert; the UPDATE trigger stays. What it queued: see
     * schema/010_webhooks.sql. The casts let PostgreSQL prepare it. */
    [ST_OUTBOX_SETTLED_AT_INGEST] =
        "INSERT INTO webhook_outbox(hook_id, item_seq, verdict, source, confidence, resolved_ms) "
        "SELECT w.id, CAST(?1 AS BIGINT), CAST(?2 AS TEXT), 'layer', CAST(?3 AS DOUBLE PRECISION), "
        "CAST(?4 AS BIGINT) FROM webhooks w JOIN api_keys k ON k.id = w.key_id "
        "WHERE w.key_id = ?5 AND k.revoked_ms IS NULL ORDER BY w.id",
};

const char *store_sql(enum stmt_id id)
{
    return sql_text[id];
}

/* ---- connections ---- */

/* Failed binds not yet reported, per thread: a statement is used by one
 * thread at a time (the writer's own, or a borrowed reader). A few slots
 * suffice: conn_stmt() and conn_done() free a statement's slot, and a
 * statement is bound just before it is stepped. */
#define BIND_SLOTS 8
static _Thread_local struct {
    struct dbst *st;
    int rc;
} bind_fail[BIND_SLOTS];
static _Thread_local unsigned bind_next;

static int bind_slot(struct dbst *st)
{
    for (int i = 0; i < BIND_SLOTS; i++)
        if (bind_fail[i].st == st)
            return i;
    return -1;
}

static void bind_forget(struct dbst *st)
{
    int i = st ? bind_slot(st) : -1;
    if (i >= 0)
        bind_fail[i].st = NULL;
}

int store_bind_failed(struct dbst *st, int rc)
{
    if (!st || bind_slot(st) >= 0)
        return rc; /* keep the first failure */
    int i = bind_slot(NULL);
    if (i < 0)
        i = (int)(bind_next++ % BIND_SLOTS);
    bind_fail[i].st = st;
    bind_fail[i].rc = rc;
    return rc;
}

static void stmt_reset(struct dbst *st)
{
    if (st->pg)
        pgst_reset(st->pg);
    else
        sqlite3_reset(st->lite);
}

int store_step(struct dbst *st)
{
    if (!st)
        return SQLITE_MISUSE;
    int i = bind_slot(st);
    if (i < 0 && st->pg)
        return pgst_step(st->pg, &st->c->last_id, &st->c->changes);
    if (i < 0)
        return sqlite3_step(st->lite);
    int rc = bind_fail[i].rc;
    bind_fail[i].st = NULL;
    stmt_reset(st);
    log_json("error", "bind failed", "{s:i,s:s,s:i}", "code", rc, "why", sqlite3_errstr(rc), "sql",
             (int)(st - st->c->st));
    return rc;
}

/* PostgreSQL: the statements whose rows may be many or large run as
 * cursors (pgst_new). */
static bool stmt_streams(enum stmt_id id)
{
    switch (id) {
    case ST_ITEMS_ALL:
    case ST_ITEMS_BATCH:
    case ST_ITEMS_STATUS:
    case ST_ITEMS_EXT:
    case ST_EXPORT_PREFERENCE:
    case ST_EXPORT_STEP_SIDES:
    case ST_EXPORT_ITEMS:
    case ST_CMP_ALL:
    case ST_CMP_NEWEST:
        return true;
    default:
        return false;
    }
}

/* Prepares statement id on c: 0 or -EIO (logged). */
static int stmt_prepare(struct conn *c, enum stmt_id id)
{
    struct dbst *st = &c->st[id];
    st->c = c;
    if (c->pg) {
        char *sql = store_pg_text(id), name[16];
        snprintf(name, sizeof name, "s%d", (int)id);
        st->pg = sql ? pgst_new(c->pg, name, sql, stmt_streams(id)) : NULL;
        free(sql);
        return st->pg ? 0 : -EIO;
    }
    if (sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &st->lite, NULL) ==
        SQLITE_OK)
        return 0;
    log_json("error", "prepare failed", "{s:i,s:s}", "sql", (int)id, "why", sqlite3_errmsg(c->db));
    return -EIO;
}

struct dbst *conn_stmt(struct conn *c, enum stmt_id id)
{
    struct dbst *st = &c->st[id];
    if (!st->lite && !st->pg) {
        if (stmt_prepare(c, id))
            return NULL;
    } else if (st->pg) {
        pgst_reset(st->pg);
    } else {
        sqlite3_reset(st->lite);
        sqlite3_clear_bindings(st->lite);
    }
    bind_forget(st);
    return st;
}

void conn_done(struct dbst *st)
{
    bind_forget(st);
    if (st)
        stmt_reset(st);
}

int conn_exec(struct conn *c, const char *sql)
{
    if (c->pg)
        return pg_exec(c->pg, sql, &c->changes) == SQLITE_OK ? 0 : -EIO;
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_json("error", "sql failed", "{s:s}", "why", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -EIO;
    }
    return 0;
}

bool conn_in_tx(struct conn *c)
{
    return c->pg ? pg_in_tx(c->pg) : !sqlite3_get_autocommit(c->db);
}

bool conn_tx_ok(struct conn *c)
{
    return c->pg ? pg_tx_ok(c->pg) : !sqlite3_get_autocommit(c->db);
}

const char *conn_errmsg(struct conn *c)
{
    return c->pg ? pg_errmsg(c->pg) : c->db ? sqlite3_errmsg(c->db) : "out of memory";
}

void conn_rollback(struct conn *c)
{
    if (c->pg)
        pg_exec(c->pg, "ROLLBACK", NULL);
    else
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

int conn_open(struct conn *c, const char *path, bool readonly, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (pg_is_uri(path)) {
        c->pg = pg_connect(path, readonly, err, errlen);
        c->readonly = readonly;
        return c->pg ? 0 : -EIO;
    }
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK ||
        (sqlite3_busy_timeout(c->db, 10000),
         conn_exec(c, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"))) {
        snprintf(err, errlen, "cannot open %s: %s", path, conn_errmsg(c));
        return -EIO;
    }
    return 0;
}

#define REVIVE_FIRST_MS 250u
#define REVIVE_MAX_MS 8000u

/* PostgreSQL: the writer listens on STORE_TASKS_CHANNEL too, so that a
 * claim counts the tasks another session committed before the claim's
 * transaction began, as SQLite's data_version tells it (store_tasks.c).
 * Its backend's pid is noted for the listener thread (store_listen.c),
 * for which the writer's own notifications are not news. */
static int writer_listen(struct store *s, struct pg_conn *pc, char *err, size_t errlen)
{
    if (!pc)
        return 0;
    if (pg_listen(pc, STORE_TASKS_CHANNEL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot LISTEN %s: %s", STORE_TASKS_CHANNEL, pg_errmsg(pc));
        return -EIO;
    }
    atomic_store(&s->writer_pid, pg_backend_pid(pc));
    return 0;
}

/* PostgreSQL: when c lost its connection, connects again (with doubling
 * backoff between failed tries, so a dead server costs each request one
 * check, not a connect). Its statements are prepared again on use. 0, or
 * -EAGAIN while the server cannot be reached. */
static int conn_revive(struct store *s, struct conn *c)
{
    if (!c->pg || !pg_lost(c->pg))
        return 0;
    uint64_t now = util_mono_us();
    if (now < c->retry_us)
        return -EAGAIN;
    char err[256];
    struct pg_conn *fresh = pg_connect(s->path, c->readonly, err, sizeof err);
    if (fresh && c == &s->writer && writer_listen(s, fresh, err, sizeof err)) {
        pg_close(fresh);
        fresh = NULL;
    }
    if (!fresh) {
        c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : REVIVE_FIRST_MS;
        if (c->backoff_ms > REVIVE_MAX_MS)
            c->backoff_ms = REVIVE_MAX_MS;
        c->retry_us = now + c->backoff_ms * 1000ull;
        log_json("warn", "postgresql unreachable", "{s:s,s:i}", "why", err, "retry_ms",
                 (int)c->backoff_ms);
        return -EAGAIN;
    }
    for (int i = 0; i < STMT_COUNT; i++) {
        pgst_free(c->st[i].pg);
        c->st[i].pg = NULL;
    }
    pg_close(c->pg);
    c->pg = fresh;
    c->backoff_ms = 0;
    log_json("info", "postgresql reconnected", "{s:b}", "reader", c->readonly);
    return 0;
}

void conn_close(struct conn *c)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_finalize(c->st[i].lite);
        pgst_free(c->st[i].pg);
    }
    sqlite3_close(c->db);
    pg_close(c->pg);
    memset(c, 0, sizeof *c);
}

struct conn *store_reader(struct store *s)
{
    pthread_mutex_lock(&s->pool_mu);
    for (;;) {
        for (unsigned i = 0; i < s->nreaders; i++) {
            if (!s->reader_busy[i]) {
                s->reader_busy[i] = true;
                pthread_mutex_unlock(&s->pool_mu);
                conn_revive(s, &s->readers[i]); /* else its statements fail: 503 */
                return &s->readers[i];
            }
        }
        pthread_cond_wait(&s->pool_cv, &s->pool_mu);
    }
}

void store_reader_put(struct store *s, struct conn *c)
{
    pthread_mutex_lock(&s->pool_mu);
    s->reader_busy[c - s->readers] = false;
    pthread_cond_signal(&s->pool_cv);
    pthread_mutex_unlock(&s->pool_mu);
}

/* Makes room in the array *v of *cap elements of size bytes for element
 * n, doubling from 16, and zeroes it. 0 or -ENOMEM with *v untouched. */
static int grow(char **v, size_t *cap, size_t n, size_t size)
{
    if (n >= *cap) {
        size_t want = *cap ? *cap * 2 : 16;
        char *grown = realloc(*v, want * size);
        if (!grown)
            return -ENOMEM;
        *v = grown;
        *cap = want;
    }
    memset(*v + n * size, 0, size);
    return 0;
}

int store_rows_read(struct dbst *st, const struct rows_spec *spec, struct rows *out)
{
    return store_rows_read_budget(st, spec, NULL, 0, out);
}

int store_rows_read_budget(struct dbst *st, const struct rows_spec *spec,
                           size_t (*row_bytes)(struct dbst *st), size_t budget, struct rows *out)
{
    char *v = NULL;
    size_t cap = 0, k = 0;
    bool left = false;
    int rc = st ? 0 : -EIO, step = SQLITE_DONE;
    size_t bytes = 0;
    while (!rc && (step = store_step(st)) == SQLITE_ROW) {
        size_t row = budget ? row_bytes(st) : 0;
        if (k == spec->max || (k && budget && row > budget - bytes)) {
            left = true;
            break;
        }
        bytes += row < budget - bytes ? row : budget - bytes;
        rc = grow(&v, &cap, k, spec->size);
        if (rc)
            break;
        rc = spec->read(st, v + k++ * spec->size);
    }
    if (!rc && !left && step != SQLITE_DONE)
        rc = store_sqlite_errno(step);
    if (rc) {
        if (spec->undo)
            spec->undo(v, k);
        else
            free(v);
        v = NULL;
        k = 0;
        left = false;
    }
    *out = (struct rows){.v = v, .n = k, .more = left};
    return rc;
}

int conn_rows(struct conn *c, enum stmt_id id, const struct rows_spec *spec, struct rows *out)
{
    struct dbst *st = conn_stmt(c, id);
    int rc = store_rows_read(st, spec, out);
    conn_done(st);
    return rc;
}

int store_rows(struct store *s, enum stmt_id id, const struct rows_spec *spec, struct rows *out)
{
    return store_rows_args(s, id, NULL, 0, spec, out);
}

int store_rows_args(struct store *s, enum stmt_id id, const int64_t *args, size_t nargs,
                    const struct rows_spec *spec, struct rows *out)
{
    struct conn *c = store_reader(s);
    struct dbst *st = conn_stmt(c, id);
    for (size_t i = 0; st && i < nargs; i++)
        bind_int64(st, (int)i + 1, args[i]);
    int rc = store_rows_read(st, spec, out);
    conn_done(st);
    store_reader_put(s, c);
    return rc;
}

/* ---- migrations ---- */

/* PostgreSQL: the schema's version is a row of rung_schema; one daemon at
 * a time migrates, under a transaction-scoped advisory lock. */
#define PG_MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7316812)"
#define PG_VERSION_SQL "SELECT coalesce(max(version), 0) FROM rung_schema"

static int pg_migrate_from(struct conn *c, int64_t version, char *err, size_t errlen)
{
    if (version > (int64_t)schema_pg_migration_count) {
        snprintf(err, errlen, "database schema %lld is newer than this rungd (%zu)",
                 (long long)version, schema_pg_migration_count);
        return -EPROTO;
    }
    for (size_t i = (size_t)version; i < schema_pg_migration_count; i++) {
        char set[80];
        snprintf(set, sizeof set, "DELETE FROM rung_schema; INSERT INTO rung_schema VALUES (%zu)",
                 i + 1);
        if (pg_exec(c->pg, schema_pg_migrations[i], NULL) != SQLITE_OK ||
            pg_exec(c->pg, set, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %03zu failed: %s", i + 1, conn_errmsg(c));
            return -EPROTO;
        }
    }
    return 0;
}

static int pg_migrate(struct conn *c, char *err, size_t errlen)
{
    int64_t version = 0;
    int rc = pg_exec(c->pg,
                     "BEGIN; " PG_MIGRATE_LOCK "; CREATE TABLE IF NOT EXISTS rung_schema "
                     "(version BIGINT NOT NULL)",
                     NULL) == SQLITE_OK
                 ? 0
                 : -EIO;
    if (!rc && pg_query_int(c->pg, PG_VERSION_SQL, &version) != SQLITE_OK)
        rc = -EIO;
    if (rc)
        snprintf(err, errlen, "cannot lock the database: %s", conn_errmsg(c));
    if (!rc)
        rc = pg_migrate_from(c, version, err, errlen);
    if (!rc && pg_exec(c->pg, "COMMIT", NULL) != SQLITE_OK) {
        snprintf(err, errlen, "migration commit failed: %s", conn_errmsg(c));
        rc = -EIO;
    }
    if (rc)
        conn_rollback(c);
    return rc;
}

static int migrate(struct conn *c, char *err, size_t errlen)
{
    if (c->pg)
        return pg_migrate(c, err, errlen);
    int rc = conn_exec(c, "BEGIN IMMEDIATE");
    if (rc) {
        snprintf(err, errlen, "cannot lock the database: %s", conn_errmsg(c));
        return rc;
    }
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)schema_migration_count) {
        snprintf(err, errlen, "database schema %d is newer than this rungd (%zu)", version,
                 schema_migration_count);
        rc = -EPROTO;
        goto out;
    }
    for (size_t i = (size_t)version; i < schema_migration_count; i++) {
        char *msg = NULL;
        if (sqlite3_exec(c->db, schema_migrations[i], NULL, NULL, &msg) != SQLITE_OK) {
            snprintf(err, errlen, "migration %03zu failed: %s", i + 1, msg ? msg : "?");
            sqlite3_free(msg);
            rc = -EPROTO;
            goto out;
        }
        /* user_version cannot be a bound parameter: the value is ours. */
        char set[48];
        snprintf(set, sizeof set, "PRAGMA user_version = %zu", i + 1);
        if (conn_exec(c, set)) {
            snprintf(err, errlen, "cannot record schema version %zu", i + 1);
            rc = -EIO;
            goto out;
        }
    }
    rc = conn_exec(c, "COMMIT");
    if (rc)
        snprintf(err, errlen, "migration commit failed: %s", conn_errmsg(c));
out:
    if (rc)
        conn_rollback(c);
    return rc;
}

int store_schema_version(struct store *s)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = NULL;
    int v = -1;
    int64_t pv = -1;
    if (c->pg)
        v = pg_query_int(c->pg, PG_VERSION_SQL, &pv) == SQLITE_OK ? (int)pv : -1;
    else if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    store_reader_put(s, c);
    return v;
}

/* ---- the writer ---- */

struct wjob {
    store_job_fn run;
    void *arg;
    store_done_fn done;
    void *cls;
    int *rc_out;
    bool lean; /* store_submit_lean: no savepoint unless the group is guarded */
    struct wjob *next;
};

#define GROUP_MAX 1024 /* jobs committed in one transaction at most */

int store_sqlite_errno(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
        return 0;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -EFBIG;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_MISMATCH: /* PostgreSQL: text that is not UTF-8 */
        return -EILSEQ;
    case SQLITE_BUSY: /* PostgreSQL: a lost connection, a timeout, a conflict */
        return -EAGAIN;
    default:
        return -EIO;
    }
}

int conn_run(struct conn *c, enum stmt_id id)
{
    struct dbst *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    int rc = store_step(st);
    conn_done(st);
    if (rc != SQLITE_DONE) {
        log_json("error", "sql failed", "{s:i,s:s}", "sql", (int)id, "why", conn_errmsg(c));
        return store_sqlite_errno(rc);
    }
    return 0;
}

int conn_step_done(struct dbst *st)
{
    if (!st)
        return -EIO;
    int rc = store_step(st);
    conn_done(st);
    return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
}

int conn_run_id(struct conn *c, enum stmt_id id, int64_t row)
{
    struct dbst *st = conn_stmt(c, id);
    if (!st)
        return -EIO;
    bind_int64(st, 1, row);
    return conn_step_done(st);
}

#define GROUP_AGAIN 2    /* run_jobs: a conflict rolled the group back; run it again */
#define GROUP_GUARD 3    /* run_jobs: a lean job failed; run the group again, guarded */
#define GROUP_RETRIES 10 /* conflicts in a row before the group's jobs fail (503) */

/* PostgreSQL: whether a statement of this thread's group failed on a
 * conflict with another daemon's transaction (a deadlock, a serialization
 * failure) since the last call. Whatever errno the job made of it, the
 * group is rolled back and run again. */
static bool conflicted(struct conn *c)
{
    return c->pg && pg_take_conflict();
}

/* One job in its own savepoint, so a failing request leaves the others of
 * the group intact; a lean job of an unguarded group without one. Its
 * result, GROUP_AGAIN or GROUP_GUARD. */
static int run_job(struct store *s, struct conn *c, struct wjob *j, bool guarded)
{
    if (j->lean && !guarded) {
        int rc = j->run(s, c, j->arg);
        if (conflicted(c))
            return GROUP_AGAIN;
        /* PostgreSQL: a failed statement the job got past leaves the
         * transaction aborted, and its COMMIT would roll it all back. */
        return rc || !conn_tx_ok(c) ? GROUP_GUARD : 0;
    }
    if (conn_run(c, ST_SAVEPOINT))
        return conflicted(c) ? GROUP_AGAIN : -EIO;
    int rc = j->run(s, c, j->arg);
    if (conflicted(c))
        return GROUP_AGAIN;
    /* Failed because PostgreSQL could not be reached: 503, not 500. */
    if (rc < 0 && c->pg && pg_take_unavailable())
        rc = -EAGAIN;
    /* A failed job keeps its own error (a full disk stays -ENOSPC). */
    if (rc && conn_run(c, ST_ROLLBACK_TO) && rc > 0)
        rc = -EIO;
    if (conn_run(c, ST_RELEASE) && !rc)
        rc = -EIO;
    /* STORE_ROLLBACK is the job's own decision, not a failure. */
    return rc == STORE_ROLLBACK ? 0 : rc;
}

/* Runs the group's jobs in one transaction and commits it. The
 * transaction's result (the jobs' own in their rc_out), or GROUP_AGAIN
 * when a conflict rolled it all back, GROUP_GUARD when a lean job failed
 * in an unguarded run (rolled back too). */
static int run_jobs(struct store *s, struct conn *c, struct wjob *head, bool guarded)
{
    if (c->pg) { /* flags left by the idle hooks are not this group's */
        pg_take_conflict();
        pg_take_unavailable();
    }
    if (s->hooks.before_group)
        s->hooks.before_group(s, c);
    int txrc = conn_revive(s, c);
    if (!txrc)
        txrc = conn_run(c, ST_BEGIN);
    /* Holding the write lock, the writer sees every commit: the group
     * lookup catches up with other processes' items here. */
    if (!txrc && !c->pg && (txrc = store_groups_catch_up(s, c)) != 0)
        conn_rollback(c);
    if (txrc < 0 && c->pg && pg_take_unavailable())
        txrc = -EAGAIN;
    for (struct wjob *j = head; j; j = j->next) {
        if (txrc) {
            *j->rc_out = txrc;
            continue;
        }
        int rc = run_job(s, c, j, guarded);
        if (rc == GROUP_AGAIN || rc == GROUP_GUARD) {
            conn_rollback(c);
            return rc;
        }
        *j->rc_out = rc;
        if (!conn_in_tx(c)) {
            /* SQLite rolled the whole transaction back (disk full, I/O
             * error): every job of the group is lost, including those that
             * ran before, and nothing more may run outside a transaction. */
            txrc = rc < 0 ? rc : -EIO;
            for (struct wjob *k = head; k; k = k->next)
                *k->rc_out = txrc;
        }
    }
    if (!txrc && (txrc = conn_run(c, ST_COMMIT)) != 0) {
        conn_rollback(c);
        if (conflicted(c))
            return GROUP_AGAIN;
        for (struct wjob *j = head; j; j = j->next)
            *j->rc_out = txrc;
    }
    return txrc;
}

/* Runs a group, again after a conflict (PostgreSQL, several daemons):
 * after a short random pause that grows, at most GROUP_RETRIES times; and
 * at once, with a savepoint for every job, when a lean job failed. */
static int run_group_tx(struct store *s, struct conn *c, struct wjob *head)
{
    int txrc;
    bool guarded = false;
    unsigned attempt = 0;
    while ((txrc = run_jobs(s, c, head, guarded)) == GROUP_AGAIN || txrc == GROUP_GUARD) {
        /* What the rolled-back jobs counted is counted again. */
        if (s->hooks.after_group)
            s->hooks.after_group(s, c, false, true);
        if (txrc == GROUP_GUARD) {
            atomic_fetch_add(&s->guarded_reruns, 1);
            guarded = true;
            continue;
        }
        if (attempt == GROUP_RETRIES) {
            log_json("warn", "group given up after conflicts", "{s:i}", "tries", (int)attempt + 1);
            for (struct wjob *j = head; j; j = j->next)
                *j->rc_out = -EAGAIN;
            return -EAGAIN;
        }
        long ms = 1 + (long)randombytes_uniform(2u << (attempt < 6 ? attempt : 6));
        nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L}, NULL);
        attempt++;
    }
    return txrc;
}

static void run_group(struct store *s, struct wjob *head)
{
    struct conn *c = &s->writer;
    int txrc = run_group_tx(s, c, head);
    atomic_fetch_add(&s->commits, 1);
    bool any_failed = txrc != 0;
    for (struct wjob *j = head; j && !any_failed; j = j->next)
        any_failed = *j->rc_out < 0;
    if (s->hooks.after_group)
        s->hooks.after_group(s, c, !txrc, any_failed);
    while (head) {
        struct wjob *next = head->next;
        atomic_fetch_add(&s->committed_jobs, 1);
        head->done(head->cls);
        free(head);
        head = next;
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_setname_np(pthread_self(), "rung-writer");
    pthread_mutex_lock(&s->wq_mu);
    for (;;) {
        while (!s->wq_head && !s->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (pthread_cond_timedwait(&s->wq_cv, &s->wq_mu, &ts) == ETIMEDOUT) {
                /* Idle for a second: the hooks' housekeeping (expired
                 * leases, work another process added). */
                pthread_mutex_unlock(&s->wq_mu);
                store_groups_catch_up(s, &s->writer); /* logs a failure; tried again */
                if (s->hooks.idle)
                    s->hooks.idle(s, &s->writer);
                pthread_mutex_lock(&s->wq_mu);
            }
        }
        if (!s->wq_head && s->stopping)
            break;
        /* Take up to GROUP_MAX jobs, keeping their order. */
        struct wjob *head = s->wq_head, *tail = head;
        size_t n = 1;
        while (tail->next && n < GROUP_MAX) {
            tail = tail->next;
            n++;
        }
        s->wq_head = tail->next;
        if (!s->wq_head)
            s->wq_tail = NULL;
        tail->next = NULL;
        pthread_mutex_unlock(&s->wq_mu);
        store_ckpt_gate(s);
        run_group(s, head);
        pthread_mutex_lock(&s->wq_mu);
    }
    pthread_mutex_unlock(&s->wq_mu);
    return NULL;
}

static int submit(struct store *s, store_job_fn run, void *arg, int *rc_out, store_done_fn done,
                  void *cls, bool lean)
{
    struct wjob *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    *j = (struct wjob){
        .run = run, .arg = arg, .done = done, .cls = cls, .rc_out = rc_out, .lean = lean};
    pthread_mutex_lock(&s->wq_mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->wq_mu);
        free(j);
        return -ESHUTDOWN;
    }
    if (s->wq_tail)
        s->wq_tail->next = j;
    else
        s->wq_head = j;
    s->wq_tail = j;
    pthread_cond_signal(&s->wq_cv);
    pthread_mutex_unlock(&s->wq_mu);
    return 0;
}

int store_submit(struct store *s, store_job_fn run, void *arg, int *rc_out, store_done_fn done,
                 void *cls)
{
    return submit(s, run, arg, rc_out, done, cls, false);
}

int store_submit_lean(struct store *s, store_job_fn run, void *arg, int *rc_out, store_done_fn done,
                      void *cls)
{
    return submit(s, run, arg, rc_out, done, cls, true);
}

struct sync_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void sync_done(void *cls)
{
    struct sync_wait *w = cls;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int store_run(struct store *s, store_job_fn run, void *arg)
{
    struct sync_wait w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int rc = -EIO;
    int sub = store_submit(s, run, arg, &rc, sync_done, &w);
    if (sub)
        return sub;
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

void store_set_hooks(struct store *s, const struct store_hooks *h)
{
    assert(!s->writer_running && !s->hooks.idle && !s->hooks.before_group && !s->hooks.after_group);
    s->hooks = *h;
}

void store_stats(struct store *s, uint64_t *groups, uint64_t *writes)
{
    *groups = atomic_load(&s->commits);
    *writes = atomic_load(&s->committed_jobs);
}

uint64_t store_guarded_reruns(struct store *s)
{
    return atomic_load(&s->guarded_reruns);
}

/* ---- open / close ---- */

bool store_unavailable_take(void)
{
    return pg_take_unavailable();
}

bool store_is_uri(const char *path)
{
    return pg_is_uri(path);
}

void store_db_label(const char *path, char *out, size_t outlen)
{
    if (pg_is_uri(path))
        pg_redact(path, out, outlen);
    else
        snprintf(out, outlen, "%s", path);
}

/* SQLite's own settings on the writer connection (nothing for
 * PostgreSQL): 0 or -EIO with the reason in err. */
static int sqlite_setup(struct store *s, char *err, size_t errlen)
{
    if (!s->writer.db)
        return 0;
    /* WAL lets readers run beside the writer. SECURE_DELETE (on in
     * Debian's build) only costs writes for rows we never hide from the
     * database owner, so it is turned off. */
    if (conn_exec(&s->writer, "PRAGMA journal_mode = WAL; PRAGMA secure_delete = OFF; "
                              "PRAGMA journal_size_limit = 67108864;")) {
        snprintf(err, errlen, "cannot set WAL mode on %s: %s", s->path, conn_errmsg(&s->writer));
        return -EIO;
    }
    if (store_digest_register(&s->writer)) {
        snprintf(err, errlen, "cannot register the digest function on %s", s->path);
        return -EIO;
    }
    return 0;
}

/* Every write job runs in a savepoint, whose journal keeps the pages the
 * job changes. Past 64 KiB (SQLite's default spill) that journal became a
 * temporary file for the rest of the group's transaction, which one 1 KB
 * item's job could fill, and every later job of the group then wrote its
 * pages there: a pwrite per page, more calls than the WAL got. With
 * temporary storage in memory the journal stays in memory (in 1 KiB
 * chunks; a larger spill threshold would allocate chunks of its size for
 * every job). Set after the migrations, whose index builds may sort more
 * than memory should hold; the writer's own jobs touch a bounded number of
 * pages each. */
static int journal_in_memory(struct store *s, char *err, size_t errlen)
{
    if (!s->writer.db || !conn_exec(&s->writer, "PRAGMA temp_store = MEMORY"))
        return 0;
    snprintf(err, errlen, "cannot set temp_store on %s: %s", s->path, conn_errmsg(&s->writer));
    return -EIO;
}

struct store *store_open(const char *path, unsigned readers, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof *s);
    if (!s || readers < 1) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->wq_mu, NULL);
    pthread_cond_init(&s->wq_cv, NULL);
    pthread_mutex_init(&s->pool_mu, NULL);
    pthread_cond_init(&s->pool_cv, NULL);
    s->path = strdup(path);
    if (conn_open(&s->writer, path, false, err, errlen) ||
        writer_listen(s, s->writer.pg, err, errlen) || sqlite_setup(s, err, errlen) ||
        migrate(&s->writer, err, errlen) || journal_in_memory(s, err, errlen))
        goto fail;
    /* The parts that keep state beside the rows register their writer
     * hooks here; the writer itself knows none of them. */
    if (store_tasks_open(s)) {
        snprintf(err, errlen, "cannot set up the task queue (counting the open tasks)");
        goto fail;
    }
    if (store_groups_open(s)) {
        snprintf(err, errlen, "cannot load the sample groups (the table item_groups)");
        goto fail;
    }
    s->readers = calloc(readers, sizeof *s->readers);
    s->reader_busy = calloc(readers, sizeof *s->reader_busy);
    if (!s->readers || !s->reader_busy) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < readers; i++) {
        if (conn_open(&s->readers[i], path, true, err, errlen))
            goto fail;
        s->nreaders++;
    }
    if (s->writer.db && store_ckpt_start(s)) {
        snprintf(err, errlen, "cannot start the checkpointer on %s", path);
        goto fail;
    }
    if (pthread_create(&s->writer_thread, NULL, writer_main, s)) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail;
    }
    s->writer_running = true;
    if (store_listen_start(s)) {
        snprintf(err, errlen, "cannot listen for other daemons' work (LISTEN)");
        goto fail;
    }
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    store_listen_stop(s);
    if (s->writer_running) {
        pthread_mutex_lock(&s->wq_mu);
        s->stopping = true;
        pthread_cond_signal(&s->wq_cv);
        pthread_mutex_unlock(&s->wq_mu);
        pthread_join(s->writer_thread, NULL);
    }
    store_ckpt_stop(s);
    for (unsigned i = 0; i < s->nreaders; i++)
        conn_close(&s->readers[i]);
    if (s->writer.db)
        sqlite3_wal_checkpoint_v2(s->writer.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    conn_close(&s->writer);
    store_tasks_close(s);
    store_groups_close(s);
    store_keys_close(s);
    free(s->readers);
    free(s->reader_busy);
    free(s->path);
    pthread_mutex_destroy(&s->wq_mu);
    pthread_cond_destroy(&s->wq_cv);
    pthread_mutex_destroy(&s->pool_mu);
    pthread_cond_destroy(&s->pool_cv);
    free(s);
}

/* ---- ad-hoc SQL (store_copy.c) ---- */

struct dbst *conn_adhoc(struct conn *c, const char *sql)
{
    static _Atomic unsigned next;
    struct dbst *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->c = c;
    if (c->pg) {
        char name[24];
        snprintf(name, sizeof name, "x%u", atomic_fetch_add(&next, 1));
        st->pg = pgst_new(c->pg, name, sql, false);
    } else if (sqlite3_prepare_v2(c->db, sql, -1, &st->lite, NULL) != SQLITE_OK) {
        log_json("error", "prepare failed", "{s:s,s:s}", "sql", sql, "why", sqlite3_errmsg(c->db));
        st->lite = NULL;
    }
    if (!st->lite && !st->pg) {
        free(st);
        return NULL;
    }
    return st;
}

void conn_adhoc_free(struct dbst *st)
{
    if (!st)
        return;
    bind_forget(st);
    sqlite3_finalize(st->lite);
    pgst_drop(st->pg);
    free(st);
}
