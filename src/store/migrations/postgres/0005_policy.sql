-- When an operator last put a message back in the queue: a policy's max_age counts from here
-- (or from created_at if it was never replayed), so a replayed message is not expired at once.
ALTER TABLE outbox ADD COLUMN replayed_at BIGINT;
