-- Webhooks (issue 15, item 6): a key registers URLs that receive each of
-- its items' verdicts, signed, retried until acknowledged.

-- A registered URL. secret is the HMAC-SHA-256 key its deliveries are
-- signed with: 64 hex characters from 32 random bytes (libsodium), shown
-- once when the hook is made. It is kept as is, not hashed, because the
-- daemon must sign with it: whoever can read the database file can forge
-- deliveries (see the README's Webhooks section). The counters and the
-- last attempt's outcome are what GET /v1/webhooks shows.
CREATE TABLE webhooks (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id          INTEGER NOT NULL REFERENCES api_keys(id),
  url             TEXT NOT NULL,
  secret          TEXT NOT NULL,
  created_ms      INTEGER NOT NULL,
  delivered       INTEGER NOT NULL DEFAULT 0,  -- deliveries acknowledged (2xx)
  failures        INTEGER NOT NULL DEFAULT 0,  -- attempts that failed
  last_status     INTEGER,                     -- HTTP status of the last attempt, NULL: none
  last_error      TEXT,                        -- why the last attempt failed, NULL after a success
  last_attempt_ms INTEGER
);
CREATE INDEX webhooks_key ON webhooks(key_id);

-- The outbox: one row per verdict to deliver to one hook, written by the
-- triggers below in the same transaction (the same statement) as the
-- verdict, so a verdict acknowledged to anyone is never lost to its hooks,
-- across a crash too. The id is the delivery id: AUTOINCREMENT never reuses
-- one, so a later verdict of an item always has a larger id, and each hook
-- is served in id order. A row is deleted once its delivery is
-- acknowledged (or its hook deleted). The verdict is copied, so a retry
-- sends the same body even if the item's verdict changed since (that
-- change is a row of its own, after this one).
CREATE TABLE webhook_outbox (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  hook_id     INTEGER NOT NULL,
  item_seq    INTEGER NOT NULL,
  verdict     TEXT NOT NULL,
  source      TEXT NOT NULL,       -- human | layer | aggregate | gold
  confidence  REAL,
  resolved_ms INTEGER NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,  -- failed attempts so far
  next_ms     INTEGER NOT NULL DEFAULT 0   -- not tried again before this time
);
CREATE INDEX webhook_outbox_hook ON webhook_outbox(hook_id, id);

-- Every way an item's verdict becomes final goes through one of these two
-- statements' shapes, whatever code path or process writes it: an item
-- settled by the layer at ingest (INSERT with a verdict), and an UPDATE of
-- verdict, verdict_source or status (a task's labels aggregated, a
-- decomposed item rolled up, gold set by an admin, a rescore settling an
-- item, an undo that changes the verdict). A delivery is queued when the
-- item is settled ('auto' or 'resolved') with a verdict and that verdict,
-- its source or the status changed; to every hook of the item's key while
-- the key is live. Items loaded by `rungd import` have no key: no hook.
CREATE TRIGGER items_webhook_insert AFTER INSERT ON items
WHEN NEW.verdict IS NOT NULL AND NEW.status IN ('auto', 'resolved') AND NEW.key_id IS NOT NULL
BEGIN
  INSERT INTO webhook_outbox(hook_id, item_seq, verdict, source, confidence, resolved_ms)
  SELECT w.id, NEW.seq, NEW.verdict,
         CASE WHEN NEW.gold_answer IS NOT NULL THEN 'gold' ELSE coalesce(NEW.verdict_source, 'human') END,
         NEW.confidence, NEW.updated_ms
  FROM webhooks w JOIN api_keys k ON k.id = w.key_id
  WHERE w.key_id = NEW.key_id AND k.revoked_ms IS NULL ORDER BY w.id;
END;

CREATE TRIGGER items_webhook_update AFTER UPDATE OF verdict, verdict_source, status ON items
WHEN NEW.verdict IS NOT NULL AND NEW.status IN ('auto', 'resolved') AND NEW.key_id IS NOT NULL
  AND NEW.deleted_ms IS NULL
  AND (OLD.verdict IS NOT NEW.verdict OR OLD.verdict_source IS NOT NEW.verdict_source
       OR OLD.status IS NOT NEW.status)
BEGIN
  INSERT INTO webhook_outbox(hook_id, item_seq, verdict, source, confidence, resolved_ms)
  SELECT w.id, NEW.seq, NEW.verdict,
         CASE WHEN NEW.gold_answer IS NOT NULL THEN 'gold' ELSE coalesce(NEW.verdict_source, 'human') END,
         NEW.confidence, NEW.updated_ms
  FROM webhooks w JOIN api_keys k ON k.id = w.key_id
  WHERE w.key_id = NEW.key_id AND k.revoked_ms IS NULL ORDER BY w.id;
END;
