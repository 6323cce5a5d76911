-- rung schema, first cut. Times are milliseconds since the Unix epoch.
-- Later parts (decomposition, layer lifecycle, flags) have their tables here
-- already so that they only need new columns, not new shapes.

CREATE TABLE api_keys (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'pipeline', 'rater')),
  lookup      TEXT NOT NULL UNIQUE,      -- public prefix of the token, for lookup only
  hash        BLOB NOT NULL,             -- BLAKE2b-256 of the whole token
  created_ms  INTEGER NOT NULL,
  revoked_ms  INTEGER                    -- NULL while the key is valid
);

CREATE TABLE layers (
  id          INTEGER PRIMARY KEY,
  parent      INTEGER REFERENCES layers(id),
  status      TEXT NOT NULL CHECK (status IN ('training', 'candidate', 'active', 'rejected', 'retired')),
  kind        TEXT NOT NULL DEFAULT 'hashed-bt',
  params      BLOB,
  train_size  INTEGER NOT NULL DEFAULT 0,
  sources     TEXT,                      -- JSON: comparisons by source
  metrics     TEXT,                      -- JSON report of training
  threshold   REAL,                      -- deferral threshold tau; NULL = none reached
  consistency TEXT,                      -- JSON report of the consistency check
  created_ms  INTEGER NOT NULL
);
CREATE UNIQUE INDEX layers_one_active ON layers(status) WHERE status = 'active';

CREATE TABLE items (
  seq            INTEGER PRIMARY KEY,    -- insertion order: the pagination key
  id             TEXT NOT NULL UNIQUE,   -- uuid shown to clients
  key_id         INTEGER REFERENCES api_keys(id), -- NULL: loaded by an admin tool
  external_id    TEXT,
  batch          TEXT,
  kind           TEXT NOT NULL CHECK (kind IN ('single', 'pair')),
  prompt         TEXT NOT NULL,
  response_a     TEXT NOT NULL,
  response_b     TEXT,
  domain         TEXT,
  metadata       TEXT,                   -- JSON object
  priority       INTEGER NOT NULL DEFAULT 0,
  status         TEXT NOT NULL CHECK (status IN ('queued', 'auto', 'decomposed', 'awaiting_human', 'resolved')),
  route          TEXT CHECK (route IN ('auto', 'human')),
  verdict        TEXT,                   -- a | b | tie | good | bad
  verdict_source TEXT CHECK (verdict_source IN ('human', 'layer', 'aggregate')),
  confidence     REAL,
  layer_id       INTEGER REFERENCES layers(id),
  scores         TEXT,                   -- JSON: the layer's scores
  gold_answer    TEXT,                   -- set when an admin marks it gold
  created_ms     INTEGER NOT NULL,
  updated_ms     INTEGER NOT NULL
);
CREATE UNIQUE INDEX items_external ON items(key_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX items_batch ON items(batch, seq);
CREATE INDEX items_status ON items(status, seq);

CREATE TABLE subquestions (
  id          INTEGER PRIMARY KEY,
  item_seq    INTEGER NOT NULL REFERENCES items(seq),
  side        TEXT NOT NULL CHECK (side IN ('a', 'b')),
  ordinal     INTEGER NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('step', 'code', 'paragraph', 'criterion')),
  span_start  INTEGER NOT NULL,          -- byte offsets into the response
  span_end    INTEGER NOT NULL,
  question    TEXT NOT NULL,
  score       REAL,
  confidence  REAL,
  status      TEXT NOT NULL DEFAULT 'open',
  verdict     TEXT,
  UNIQUE (item_seq, side, ordinal)
);

CREATE TABLE raters (
  id          INTEGER PRIMARY KEY,
  key_id      INTEGER NOT NULL UNIQUE REFERENCES api_keys(id),
  gold_seen   INTEGER NOT NULL DEFAULT 0,
  gold_right  INTEGER NOT NULL DEFAULT 0,
  labels      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
  id           INTEGER PRIMARY KEY,
  item_seq     INTEGER NOT NULL REFERENCES items(seq),
  subq_id      INTEGER REFERENCES subquestions(id),
  kind         TEXT NOT NULL CHECK (kind IN ('pair', 'single')),
  priority     INTEGER NOT NULL DEFAULT 0,
  overlap      INTEGER NOT NULL DEFAULT 1,  -- labels wanted
  labels_done  INTEGER NOT NULL DEFAULT 0,
  leased       INTEGER NOT NULL DEFAULT 0,  -- live leases
  gold         INTEGER NOT NULL DEFAULT 0,
  extra_used   INTEGER NOT NULL DEFAULT 0,  -- a split already asked for one more label
  state        TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
  created_ms   INTEGER NOT NULL
);
-- Claimable tasks in claim order; the partial index keeps the claim query
-- independent of how many tasks are queued or done. The slot term is
-- written with the lone column on the left, as SQLite normalises it, so the
-- claim query's term matches the index (tests/unit/test_store.c checks it).
CREATE INDEX tasks_claim ON tasks(priority DESC, id)
  WHERE state = 'open' AND gold = 0 AND overlap > labels_done + leased;
CREATE INDEX tasks_gold ON tasks(id) WHERE gold = 1;
CREATE INDEX tasks_item ON tasks(item_seq);

-- A rater's hold on a task. An expired lease is kept (live = 0) so that a
-- late label can be matched to the task it was served for; it no longer
-- counts in tasks.leased.
CREATE TABLE leases (
  task_id     INTEGER NOT NULL REFERENCES tasks(id),
  rater_id    INTEGER NOT NULL REFERENCES raters(id),
  expires_ms  INTEGER NOT NULL,
  live        INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (task_id, rater_id)
) WITHOUT ROWID;
CREATE INDEX leases_expiry ON leases(expires_ms) WHERE live = 1;
CREATE INDEX leases_rater ON leases(rater_id) WHERE live = 1;

-- A rater who skipped a task is not offered it again.
CREATE TABLE skips (
  task_id     INTEGER NOT NULL REFERENCES tasks(id),
  rater_id    INTEGER NOT NULL REFERENCES raters(id),
  PRIMARY KEY (task_id, rater_id)
) WITHOUT ROWID;

CREATE TABLE labels (
  id          INTEGER PRIMARY KEY,
  task_id     INTEGER NOT NULL REFERENCES tasks(id),
  rater_id    INTEGER NOT NULL REFERENCES raters(id),
  answer      TEXT NOT NULL CHECK (answer IN ('a', 'b', 'tie', 'good', 'bad', 'yes', 'no', 'unsure')),
  confidence  INTEGER,
  rationale   TEXT,
  seconds     REAL,
  assistance  TEXT,                      -- JSON: what the layer showed
  created_ms  INTEGER NOT NULL,
  UNIQUE (task_id, rater_id)
);
CREATE INDEX labels_rater ON labels(rater_id, task_id);

CREATE TABLE comparisons (
  id          INTEGER PRIMARY KEY,
  prompt      TEXT NOT NULL,
  chosen      TEXT NOT NULL,
  rejected    TEXT,                      -- NULL for a pointwise verdict
  tie         INTEGER NOT NULL DEFAULT 0,
  label       TEXT,                      -- pointwise: good | bad
  source      TEXT NOT NULL,             -- import | human | layer
  weight      REAL NOT NULL DEFAULT 1,
  layer_id    INTEGER REFERENCES layers(id),
  item_seq    INTEGER REFERENCES items(seq),
  provenance  TEXT,                      -- JSON: raters, assistance
  created_ms  INTEGER NOT NULL
);

CREATE TABLE flags (
  id          INTEGER PRIMARY KEY,
  item_seq    INTEGER NOT NULL REFERENCES items(seq),
  layer_id    INTEGER REFERENCES layers(id),
  reason      TEXT NOT NULL,
  state       TEXT NOT NULL DEFAULT 'open',
  created_ms  INTEGER NOT NULL
);

CREATE TABLE events (
  id          INTEGER PRIMARY KEY,
  at_ms       INTEGER NOT NULL,
  actor       TEXT,
  kind        TEXT NOT NULL,
  detail      TEXT
);

-- How many labels a task wants, by batch or by domain (batch wins).
CREATE TABLE overlap_rules (
  scope       TEXT NOT NULL CHECK (scope IN ('batch', 'domain')),
  value       TEXT NOT NULL,
  overlap     INTEGER NOT NULL CHECK (overlap BETWEEN 1 AND 100),
  PRIMARY KEY (scope, value)
);
