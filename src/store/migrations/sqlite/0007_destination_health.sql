-- Each destination's health, written by the settlement transaction, for `catalog subscribers`,
-- the admin API and metrics; and an index for the backlog per destination (undelivered messages
-- only: a store of delivered history is not read).

CREATE TABLE destination_health (
    peer TEXT NOT NULL,
    destination TEXT NOT NULL,
    last_success_ms INTEGER,
    last_failure_ms INTEGER,
    -- The peer's reason, as classified (masked like every error text).
    last_error TEXT,
    -- Set by the first failure after a success, cleared by the next success.
    failing_since_ms INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    -- Set when the destination refused our credentials; cleared by the next success.
    paused_reason TEXT,
    paused_at_ms INTEGER,
    PRIMARY KEY (peer, destination)
);

CREATE INDEX outbox_backlog ON outbox (peer, destination) WHERE state IN ('pending', 'inflight', 'dead');
