-- Issue 14: cheaper inserts. (1) SQLite (3.40) evaluates a CHECK of the form
-- `col IN ('a', 'b', 'c', ...)` with three or more values by building a
-- temporary b-tree of the list for every row it checks: measured with
-- callgrind on the ingest's item + task rows (tests/bench/http/raw_sqlite),
-- 149,000 instructions a row with the two such CHECKs of items, 85,000
-- with them written as below. The same constraints, written as ORs of
-- equalities (a NULL passes both forms, a value fails both forms the same
-- way), on the tables every ingest or label writes: items, labels,
-- subquestions, rollups, audits. Only the text of the CHECKs changes, not
-- the rows or the file format, so the table definitions are edited in
-- place (SQLite's documented procedure for changing CHECK constraints,
-- lang_altertable.html, "Making Other Kinds Of Table Schema Changes") and
-- the schema reloaded. Every stored row satisfies the old CHECKs, hence
-- the new ones. PostgreSQL evaluates IN lists without such a cost: its
-- schema keeps them (no PostgreSQL migration).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(replace(sql,
    'CHECK (status IN (''queued'', ''auto'', ''decomposed'', ''awaiting_human'', ''resolved''))',
    'CHECK (status = ''queued'' OR status = ''auto'' OR status = ''decomposed'' OR status = ''awaiting_human'' OR status = ''resolved'')'),
    'CHECK (verdict_source IN (''human'', ''layer'', ''aggregate''))',
    'CHECK (verdict_source = ''human'' OR verdict_source = ''layer'' OR verdict_source = ''aggregate'')')
  WHERE type = 'table' AND name = 'items';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (answer IN (''a'', ''b'', ''tie'', ''good'', ''bad'', ''yes'', ''no'', ''unsure''))',
    'CHECK (answer = ''a'' OR answer = ''b'' OR answer = ''tie'' OR answer = ''good'' OR answer = ''bad'' OR answer = ''yes'' OR answer = ''no'' OR answer = ''unsure'')')
  WHERE type = 'table' AND name = 'labels';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (kind IN (''step'', ''code'', ''paragraph'', ''criterion''))',
    'CHECK (kind = ''step'' OR kind = ''code'' OR kind = ''paragraph'' OR kind = ''criterion'')')
  WHERE type = 'table' AND name = 'subquestions';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (state IN (''open'', ''whole'', ''resolved''))',
    'CHECK (state = ''open'' OR state = ''whole'' OR state = ''resolved'')')
  WHERE type = 'table' AND name = 'rollups';
UPDATE sqlite_schema SET sql = replace(sql,
    'CHECK (outcome IN (''agree'', ''disagree'', ''inconclusive''))',
    'CHECK (outcome = ''agree'' OR outcome = ''disagree'' OR outcome = ''inconclusive'')')
  WHERE type = 'table' AND name = 'audits';
-- (2) An INSERT that fires a trigger makes SQLite keep a statement journal of
-- every page the statement touches (the item's table and index pages, ~8
-- of 4 KB an item), and inside a request's savepoint that journal grows
-- into a temporary file: two writes a page, ~16,000 system calls for a
-- 1,000-item request, about half of the writer's time (strace, perf),
-- whether or not the trigger's WHEN holds. The insert trigger of
-- 010_webhooks.sql is dropped; the store's one INSERT of items queues the
-- same deliveries itself (ST_OUTBOX_SETTLED_AT_INGEST in core/store.c:
-- the only insert that stores an item settled). The UPDATE trigger stays.
DROP TRIGGER items_webhook_insert;
-- Re-reads the schema on this connection (the writer's) without waiting
-- for a reopen; the edited definitions take effect at once.
PRAGMA writable_schema = RESET;
