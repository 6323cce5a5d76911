-- Issue 9: content digests, so that a comparison or an imported item is
-- stored once, and a lookup of items by the pipeline's own id.
--
-- digest is a 16-byte BLAKE2b of the row's content, computed by the SQL
-- function rung_digest() that the store registers on its writer connection
-- (core/store_items.c; the same expressions as ST_CMP_INSERT and
-- ITEM_DIGEST in core/store.c). Existing rows get theirs here: the first
-- copy of each content (lowest id) carries the digest, later copies keep
-- NULL. They stay stored (training counts exact duplicates once anyway)
-- but no longer block the unique index; NULLs never conflict.

ALTER TABLE comparisons ADD COLUMN digest BLOB;
UPDATE comparisons
   SET digest = rung_digest('cmp', prompt, chosen, rejected, tie, label, source)
 WHERE id IN (SELECT min(id) FROM comparisons
              GROUP BY prompt, chosen, rejected, tie, label, source);
CREATE UNIQUE INDEX comparisons_digest ON comparisons(digest);

-- Items: only those loaded by `rungd import --as items` (key_id NULL, pairs)
-- are deduplicated by content (prompt, the two responses in either order,
-- batch). Items posted over the API keep their external_id idempotency.
ALTER TABLE items ADD COLUMN digest BLOB;
UPDATE items
   SET digest = rung_digest('item', prompt,
         CASE WHEN response_a <= response_b THEN response_a ELSE response_b END,
         CASE WHEN response_a <= response_b THEN response_b ELSE response_a END, batch)
 WHERE seq IN (SELECT min(seq) FROM items WHERE key_id IS NULL AND kind = 'pair'
               GROUP BY prompt, min(response_a, response_b), max(response_a, response_b), batch);
CREATE UNIQUE INDEX items_digest ON items(digest);

-- GET /v1/items?external_id=: an admin looks across every key.
CREATE INDEX items_external_id ON items(external_id, seq) WHERE external_id IS NOT NULL;
