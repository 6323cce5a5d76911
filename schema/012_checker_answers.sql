-- Checker answers (issue 11, item 4): GET /v1/checker-answers reads the
-- sub-questions the checker answered; this keeps that read to them.
CREATE INDEX subq_checker ON subquestions(item_seq) WHERE source = 'checker';
