-- Many destinations of one peer family, messages without a source record, and the head of each
-- ordering key.

-- Which destination of the peer family a message and a batch go to ('' for a peer with one).
ALTER TABLE outbox ADD COLUMN destination TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN destination TEXT NOT NULL DEFAULT '';

-- A catalog change or a postal order is queued without a source record or a mapping.
ALTER TABLE outbox ALTER COLUMN record_id DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN mapping_version DROP NOT NULL;

-- The first pending, inflight or dead message of its (peer, destination, dossier): the only one
-- a claim may take. Kept by the statements that queue, settle and skip, so a claim reads heads
-- only, whatever the backlog behind blocked keys.
ALTER TABLE outbox ADD COLUMN is_head BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE outbox SET is_head = TRUE
WHERE state IN ('pending', 'inflight', 'dead')
  AND NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.peer = outbox.peer AND p.destination = outbox.destination AND p.dossier = outbox.dossier
      AND p.position < outbox.position AND p.state IN ('pending', 'inflight', 'dead'));

DROP INDEX outbox_order;
CREATE INDEX outbox_order ON outbox (peer, destination, dossier, position);
-- One head per key, enforced.
CREATE UNIQUE INDEX outbox_head ON outbox (peer, destination, dossier) WHERE is_head;
-- Claims and next_due read due heads only.
CREATE INDEX outbox_claim ON outbox (peer, operation, position) WHERE state = 'pending' AND is_head;
CREATE INDEX outbox_head_due ON outbox (peer, next_attempt_at) WHERE state = 'pending' AND is_head;
-- The old claim index served the scan this replaces.
DROP INDEX outbox_due;
