-- The layer lifecycle (issue 12, parts 1 and 2): layers trained by the
-- daemon, their lineage, and which layer each active one replaced.

-- The training request of a layer trained over REST (POST /v1/layers):
-- JSON of its parameters and who asked. A layer still 'training' is in the
-- trainer's queue; the daemon resumes it at start after a crash.
ALTER TABLE layers ADD COLUMN request TEXT;

-- JSON: exactly which comparisons trained it (their id range, counts by
-- source, a BLAKE2b digest of their ids) and what was left out.
ALTER TABLE layers ADD COLUMN lineage TEXT;

-- The layer that was active when this one became active by promotion:
-- what POST /v1/layers/{id}/rollback reactivates. NULL: none was.
ALTER TABLE layers ADD COLUMN prev_active INTEGER REFERENCES layers(id);

-- When it last became active (ms since the epoch); NULL: never.
ALTER TABLE layers ADD COLUMN activated_ms INTEGER;
