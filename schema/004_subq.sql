-- Sub-questions (issue 10): domain settings, what the subquestions table
-- of 001 lacked, and each decomposed item's roll-up.
--
-- A sub-question's human task is a row of tasks with subq_id set; its kind
-- column keeps the item's kind (pair | single), so that the CHECK of 001
-- holds and the table need not be rebuilt (SQLite cannot alter a CHECK,
-- and a rebuild here would drop any column a migration before this one
-- adds to tasks). The API shows such a task as kind "subquestion".

-- How a domain's items are judged; a domain without a row takes the
-- defaults (math: steps, code: code, others: none; sequential; 0 tokens).
CREATE TABLE domains (
  name         TEXT PRIMARY KEY,
  decomposer   TEXT NOT NULL CHECK (decomposer IN ('steps', 'code', 'paragraphs', 'criteria', 'none')),
  criteria     TEXT,                     -- JSON array of {"text", "veto"}; NULL when none
  hard_tokens  INTEGER NOT NULL DEFAULT 0 CHECK (hard_tokens >= 0),
  step_order   TEXT NOT NULL DEFAULT 'sequential' CHECK (step_order IN ('sequential', 'parallel')),
  updated_ms   INTEGER NOT NULL
);

-- subquestions.status: pending (not offered yet) | open (a task asks it) |
-- answered (verdict yes | no, by source) | closed (early stop, or the item
-- went to a whole-item task; never asked again).
ALTER TABLE subquestions ADD COLUMN source TEXT;                   -- layer | human, with the verdict
ALTER TABLE subquestions ADD COLUMN sinks INTEGER NOT NULL DEFAULT 1; -- a no fails the response (veto)
CREATE INDEX tasks_subq ON tasks(subq_id) WHERE subq_id IS NOT NULL;

-- One row per decomposed item: its step order and where its roll-up stands.
CREATE TABLE rollups (
  item_seq    INTEGER PRIMARY KEY REFERENCES items(seq),
  step_order  TEXT NOT NULL CHECK (step_order IN ('sequential', 'parallel')),
  state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'whole', 'resolved')),
  reason      TEXT,                      -- whole: both_pass | both_fail | unsure
  provenance  TEXT                       -- JSON: the sub-questions that decided it, with sources
);
