-- Rater keys limited to batches or domains (issue 13, item 6). A key with
-- rows here is served only tasks of items whose batch or domain is one of
-- them; a key without rows is not limited. Numbered 006: 005 is taken by
-- retraction and batch pause, written at the same time.
CREATE TABLE key_scopes (
  key_id  INTEGER NOT NULL REFERENCES api_keys(id),
  scope   TEXT NOT NULL CHECK (scope IN ('batch', 'domain')),
  value   TEXT NOT NULL,
  PRIMARY KEY (key_id, scope, value)
) WITHOUT ROWID;
-- A limited key's claim reads the open tasks of its scope's items when
-- the first tasks in claim order are outside it: by batch (items_batch
-- of 001) or by domain (this index).
CREATE INDEX items_domain ON items(domain, seq);
