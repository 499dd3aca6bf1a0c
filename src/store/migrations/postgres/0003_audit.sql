-- Operator side of the outbox: batch history per message, the hash of each batch's last answer,
-- and an audit row for every delivered message pruned by housekeeping.

-- Every batch (X-Request-ID) a message has been sent in, oldest first, space-separated;
-- batch_id stays the last one.
ALTER TABLE outbox ADD COLUMN batch_history TEXT;
-- Hex SHA-256 of the peer's last answer body to this batch, written when the batch is settled.
ALTER TABLE batches ADD COLUMN answer_sha256 TEXT;

-- What is left of a delivered message once housekeeping has pruned it.
CREATE TABLE outbox_audit (
    message_id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    operation TEXT NOT NULL,
    dossier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    attempts BIGINT NOT NULL,
    final_state TEXT NOT NULL,
    batch_id TEXT,
    -- Hex SHA-256 of the stored request body of its last batch (as stored: without credentials).
    request_sha256 TEXT,
    -- Hex SHA-256 of the peer's answer to that batch, when one was recorded.
    response_sha256 TEXT,
    mapping_version TEXT NOT NULL,
    pruned_at BIGINT NOT NULL
);
CREATE INDEX outbox_audit_dossier ON outbox_audit (dossier);

-- Housekeeping finds old delivered messages without scanning the queue, and a record's last
-- message without scanning the outbox.
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE state = 'delivered';
CREATE INDEX outbox_record ON outbox (record_id);
