-- Source records as accepted, kept beside the messages rendered from them (replay, audit).
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    dossier TEXT NOT NULL,
    body TEXT NOT NULL,
    mapping_version TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX records_dossier ON records (dossier);

-- Dossiers whose header has been accepted at ingest: decides create vs update and whether
-- a step may go or must wait for its dossier.
CREATE TABLE dossiers (
    dossier TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    first_record TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The outbox: one row per item to deliver to one peer.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    operation TEXT NOT NULL,
    dossier TEXT NOT NULL,
    position BIGINT NOT NULL,
    at BIGINT,
    source_seq BIGINT,
    is_update BIGINT NOT NULL,
    item TEXT NOT NULL,
    record_id TEXT NOT NULL,
    mapping_version TEXT NOT NULL,
    warnings TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    batch_id TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE UNIQUE INDEX outbox_position ON outbox (position);
CREATE INDEX outbox_order ON outbox (peer, dossier, position);
CREATE INDEX outbox_due ON outbox (peer, operation, state, position);
CREATE INDEX outbox_batch ON outbox (batch_id);

-- A batch is one request: its id is the X-Request-ID and its body is sent unchanged on every try.
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    operation TEXT NOT NULL,
    is_update BIGINT NOT NULL,
    body TEXT NOT NULL,
    items BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    owner TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX batches_open ON batches (peer, state, next_attempt_at);

-- Records rejected at ingest, kept for the operator.
CREATE TABLE quarantine (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    dossier TEXT,
    record_index BIGINT NOT NULL,
    body TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- First answers to requests that carried an Idempotency-Key.
CREATE TABLE idempotency (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    answer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (source, key)
);

-- Positions order messages of one dossier; a sequence hands them out without a table lock.
CREATE SEQUENCE outbox_position_seq;
