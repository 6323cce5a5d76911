-- The group lookup leaves the commit path (issue 14). The index
-- items_group was keyed by a group's name, a hash for the default groups:
-- every item of a new group wrote a leaf page of its own, at a random
-- place, to the WAL of its commit (half the frames of a single-item
-- commit, tests/bench/wal_frames.sh). The store now keeps each group's
-- items in memory (core/group_seqs.c), caught up from this log, which
-- only grows at its end: one page a commit however many groups it holds.
-- The store writes a row beside each item it inserts (a trigger would
-- make every item INSERT open a statement journal: a savepoint's page
-- copies on the writer's hot path), copy-db fills it from the copied
-- items. PostgreSQL keeps the index.
CREATE TABLE item_groups (
  seq     INTEGER PRIMARY KEY,  -- the item's seq
  key_id  INTEGER,              -- the item's key (NULL: loaded by an admin tool)
  "group" TEXT NOT NULL
);
INSERT INTO item_groups(seq, key_id, "group")
  SELECT seq, key_id, "group" FROM items WHERE "group" IS NOT NULL;
DROP INDEX items_group;
