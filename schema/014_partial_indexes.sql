-- Items without a batch or a domain (a pipeline that sends neither) are
-- never looked up by those columns: every statement that reads
-- items_batch or items_domain asks for batch = ?, domain = ? or batch IS
-- NOT NULL, which SQLite proves implies these indexes' WHERE (the query
-- plans are the same; tests/unit/test_store.c checks them). Leaving the
-- NULLs out saves the writer two index inserts for each such item
-- (issue 14). PostgreSQL keeps its full indexes.
DROP INDEX items_batch;
CREATE INDEX items_batch ON items(batch, seq) WHERE batch IS NOT NULL;
DROP INDEX items_domain;
CREATE INDEX items_domain ON items(domain, seq) WHERE domain IS NOT NULL;
