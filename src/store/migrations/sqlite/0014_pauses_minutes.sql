-- Destinations an operator paused: nothing of theirs is claimed, by any instance, until an
-- operator resumes them. Destination '*' pauses every destination of the peer.
CREATE TABLE outbox_pauses (
    peer TEXT NOT NULL,
    destination TEXT NOT NULL,
    reason TEXT NOT NULL,
    paused_by TEXT NOT NULL,
    paused_at_ms INTEGER NOT NULL,
    PRIMARY KEY (peer, destination)
);

-- Per peer and minute, the messages delivered and the messages whose try failed, written by
-- each settlement in its transaction (the throughput chart reads an hour of these rows, never
-- the outbox); rows older than a day are pruned by housekeeping.
CREATE TABLE delivery_minutes (
    minute_ms INTEGER NOT NULL,
    peer TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute_ms, peer)
);

-- The backlog per destination read from the index alone (state and age included), so the
-- overview's backlog and oldest pending age do not visit the rows of a large backlog.
DROP INDEX outbox_backlog;
CREATE INDEX outbox_backlog ON outbox (peer, destination, state, created_at)
    WHERE state IN ('pending', 'inflight', 'dead');
