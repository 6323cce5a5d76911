-- Measured trust (issue 12, part 3): hidden audits of the layer's own
-- verdicts, tasks shown without assistance, demotion, drift.

-- A task's marks: audit = 1 when it asks people about an item the layer
-- settled (an audit: its labels never change the item); blind = 1 when it
-- is shown without the layer's assistance before the answer (every audit
-- task, and the same share of ordinary tasks, so that raters cannot tell
-- them apart).
ALTER TABLE tasks ADD COLUMN audit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN blind INTEGER NOT NULL DEFAULT 0;
-- Blind tasks are a small share: the assistance effect reads them here.
CREATE INDEX tasks_blind ON tasks(item_seq) WHERE blind = 1;

-- One row per audit task: the layer's verdict when the item was settled,
-- and what people answered once the task had its labels. outcome: agree |
-- disagree | inconclusive (a tie or unsure answer), NULL while open.
CREATE TABLE audits (
  task_id        INTEGER PRIMARY KEY REFERENCES tasks(id),
  item_seq       INTEGER NOT NULL REFERENCES items(seq),
  layer_id       INTEGER NOT NULL REFERENCES layers(id),
  layer_verdict  TEXT NOT NULL,
  human_verdict  TEXT,
  outcome        TEXT CHECK (outcome IN ('agree', 'disagree', 'inconclusive')),
  created_ms     INTEGER NOT NULL,
  decided_ms     INTEGER
);
CREATE INDEX audits_layer ON audits(layer_id, outcome);

-- When a layer was demoted to human-only routing (its audited error
-- rate's lower bound passed its promise); NULL while it routes as usual.
ALTER TABLE layers ADD COLUMN demoted_ms INTEGER;

-- Drift: agreement of a layer with the one before it (its parent), on a
-- fixed probe set and on recent items, as last measured.
CREATE TABLE layer_drift (
  layer_id     INTEGER PRIMARY KEY REFERENCES layers(id),
  parent_id    INTEGER NOT NULL REFERENCES layers(id),
  detail       TEXT NOT NULL,            -- JSON: {"probe": {...}, "recent": {...}}
  computed_ms  INTEGER NOT NULL
);
