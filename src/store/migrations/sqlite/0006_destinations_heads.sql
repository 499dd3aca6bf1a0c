-- Many destinations of one peer family, messages without a source record, and the head of each
-- ordering key. SQLite cannot drop NOT NULL: the outbox is rebuilt, every row kept with its
-- position, and every index made again.

ALTER TABLE batches ADD COLUMN destination TEXT NOT NULL DEFAULT '';

CREATE TABLE outbox_new (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    -- Which destination of the peer family ('' for a peer with one).
    destination TEXT NOT NULL DEFAULT '',
    operation TEXT NOT NULL,
    dossier TEXT NOT NULL,
    position INTEGER NOT NULL,
    at INTEGER,
    source_seq INTEGER,
    is_update INTEGER NOT NULL,
    item TEXT NOT NULL,
    -- A catalog change or a postal order is queued without a source record or a mapping.
    record_id TEXT,
    mapping_version TEXT,
    warnings TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    batch_id TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    delivered_at INTEGER,
    batch_history TEXT,
    replayed_at INTEGER,
    -- The first pending, inflight or dead message of its (peer, destination, dossier): the only
    -- one a claim may take.
    is_head INTEGER NOT NULL DEFAULT 0
);

INSERT INTO outbox_new (id, peer, destination, operation, dossier, position, at, source_seq,
    is_update, item, record_id, mapping_version, warnings, state, attempts, next_attempt_at,
    batch_id, last_error, created_at, updated_at, delivered_at, batch_history, replayed_at, is_head)
SELECT id, peer, '', operation, dossier, position, at, source_seq,
    is_update, item, record_id, mapping_version, warnings, state, attempts, next_attempt_at,
    batch_id, last_error, created_at, updated_at, delivered_at, batch_history, replayed_at, 0
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- The order index first: the backfill below looks up each active row's earlier messages through
-- it (without it, a store of a million messages takes hours to migrate).
CREATE INDEX outbox_order ON outbox (peer, destination, dossier, position);

UPDATE outbox SET is_head = TRUE
WHERE state IN ('pending', 'inflight', 'dead')
  AND NOT EXISTS (
    SELECT 1 FROM outbox p
    WHERE p.peer = outbox.peer AND p.destination = outbox.destination AND p.dossier = outbox.dossier
      AND p.position < outbox.position AND p.state IN ('pending', 'inflight', 'dead'));

CREATE UNIQUE INDEX outbox_position ON outbox (position);
CREATE INDEX outbox_batch ON outbox (batch_id);
CREATE INDEX outbox_waiting ON outbox (dossier) WHERE state = 'waiting';
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE state = 'delivered';
CREATE INDEX outbox_record ON outbox (record_id);
-- One head per key, enforced.
CREATE UNIQUE INDEX outbox_head ON outbox (peer, destination, dossier) WHERE is_head;
-- Claims and next_due read due heads only.
CREATE INDEX outbox_claim ON outbox (peer, operation, position) WHERE state = 'pending' AND is_head;
CREATE INDEX outbox_head_due ON outbox (peer, next_attempt_at) WHERE state = 'pending' AND is_head;
