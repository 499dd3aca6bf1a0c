-- Every try of a batch, written by its settlement in the same transaction: when, how it ended
-- (`delivered`, `partial`: some messages went and some did not, `failed`, or `held`: a
-- pause or a re-login that did not count as a try), the peer's answer as the lane summed it up
-- (none when everything went) and the hash of the answer's body. In a partial try the messages
-- that did not go carry their own answer in `failures`, a JSON object keyed by message id whose
-- values are {"fate": "retry" | "dead", "error": "..."}. Pruned with its batch.
CREATE TABLE batch_attempts (
    batch_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    answer TEXT,
    answer_sha256 TEXT,
    failures TEXT
);
CREATE INDEX batch_attempts_batch ON batch_attempts (batch_id, at_ms);

-- A bulk remap leaves alone the messages the current mapping refuses (or puts in another
-- dossier): how many, and the last reason given.
ALTER TABLE outbox_jobs ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox_jobs ADD COLUMN last_refusal TEXT;
