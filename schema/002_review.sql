-- What raters meet (issue 9): the order a pair was shown in, per-batch
-- assistance and guidelines, changed labels as events.

-- The order a rater was shown a pair's two responses in: 1 when
-- responses[0] was the item's response_b. Drawn at random (libsodium) when
-- the lease is first granted and kept with it, so a reloaded page shows the
-- same order; copied into the label, whose answer is stored in the item's
-- own order. A single response is never swapped.
ALTER TABLE leases ADD COLUMN swapped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE labels ADD COLUMN swapped INTEGER NOT NULL DEFAULT 0;

-- What an event is about ("task:12"): the label changes of the undo rule.
ALTER TABLE events ADD COLUMN subject TEXT;

-- A rater's labels by time: the progress counts ("today").
CREATE INDEX labels_rater_time ON labels(rater_id, created_ms);

-- Per-batch settings for raters: when the layer's assistance is shown
-- (before the answer, after it, or never) and plain-text guidelines.
CREATE TABLE batches (
  batch       TEXT PRIMARY KEY,
  assistance  TEXT NOT NULL DEFAULT 'shown' CHECK (assistance IN ('shown', 'after', 'hidden')),
  guidelines  TEXT,
  updated_ms  INTEGER NOT NULL
);
