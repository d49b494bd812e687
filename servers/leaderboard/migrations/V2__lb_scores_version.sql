-- How new an entry's row is, so batched writes from several instances never put an older
-- state over a newer one: on best boards the score as "higher is better" (the score, or its
-- negation on ascending boards), on cumulative boards the achieved time. NULL on rows written
-- before it: the next write replaces them.
ALTER TABLE lb_scores ADD COLUMN version BIGINT NULL;
