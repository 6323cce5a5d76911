-- Sample groups (issue 11, item 1). An item's "group" names the samples of
-- one prompt (best-of-n): the API's "group" field, by default a hash of the
-- normalised prompt ("prompt:" and 16 hex digits). Groups are per key: two
-- pipelines' items never share one. Items stored before this migration
-- have none (NULL) and are scored as a group of their own responses.
ALTER TABLE items ADD COLUMN "group" TEXT;
-- Nonzero when a sample joined the item's group after the item was scored:
-- the layer watcher scores it again with the grown group and sets it back
-- to 0 (only if no later join bumped it meanwhile). Set in the same
-- transaction as the join, so a crash leaves the work to the next start.
ALTER TABLE items ADD COLUMN group_stale INTEGER NOT NULL DEFAULT 0;
-- A group's first samples, in seq order.
CREATE INDEX items_group ON items(key_id, "group", seq) WHERE "group" IS NOT NULL;
-- The items waiting to be scored again.
CREATE INDEX items_group_stale ON items(seq) WHERE group_stale > 0;
-- Checker answers (issue 11, item 4): when set, a step sub-question of the
-- domain's items whose text holds an equation the arithmetic checker finds
-- wrong is answered "no" by the checker (source 'checker'); off by default.
ALTER TABLE domains ADD COLUMN checker_answers INTEGER NOT NULL DEFAULT 0;
-- Which checkers' findings a domain's tasks show (issue 11, item 2): a bit
-- per checker, in check.h's enum check_kind order (1 answer, 2 agreement,
-- 4 arithmetic, 8 numbers, 16 form); 31, every one, by default. The
-- built-in layer's features always use all five (its weights were trained
-- on them); checker answers need the arithmetic checker.
ALTER TABLE domains ADD COLUMN checkers INTEGER NOT NULL DEFAULT 31;
