-- Data management (issue 13): retracted items keep their row as a
-- tombstone, and a batch can be paused.

-- When the item was retracted (DELETE /v1/items/{id} or its batch); NULL
-- while it is live. A tombstoned item is read by no listing, claim,
-- training set or export; its row stays so events, labels and comparisons
-- still point at something.
ALTER TABLE items ADD COLUMN deleted_ms INTEGER;

-- A paused batch's tasks are not handed out; leases already granted run
-- on. The claim checks it per candidate (ST_TASK_PICK), outside the
-- tasks_claim partial index, so pausing rewrites no task rows.
ALTER TABLE batches ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
