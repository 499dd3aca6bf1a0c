-- Messages queued at most once per (peer, destination, key, tag): a dossier's postal
-- collection order, its delivery order, its cancel. A message that names a tag already here is
-- not queued again; one that requires a tag is queued only when that tag is here.
CREATE TABLE message_once (
    peer TEXT NOT NULL,
    destination TEXT NOT NULL,
    dossier TEXT NOT NULL,
    tag TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (peer, destination, dossier, tag)
);

-- Messages held (state 'held', still their key's head) until their dossier's header is at the
-- portal: the release looks them up by peer.
CREATE INDEX outbox_held ON outbox (peer, position) WHERE state = 'held';

-- The postal service's tracking events, by poll or by push, each kept once: the same order,
-- status code, event time and post office is the same event, whatever else differs.
CREATE TABLE postal_events (
    id TEXT PRIMARY KEY,
    order_number TEXT NOT NULL,
    order_type TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    event_time TEXT NOT NULL,
    pos_id TEXT NOT NULL,
    item_code TEXT,
    raw TEXT NOT NULL,
    via TEXT NOT NULL,
    -- 1 when the gateway had queued this order; 0 for an order it does not know.
    known BIGINT NOT NULL,
    -- What applying it did: 'advanced', 'milestone', 'unchanged', 'unknown_order'.
    effect TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (order_number, order_type, status_code, event_time, pos_id)
);
CREATE INDEX postal_events_order ON postal_events (order_number, order_type, event_time);
CREATE INDEX postal_events_unknown ON postal_events (received_at) WHERE known = 0;

-- Each order's state as tracking made it: forward only.
CREATE TABLE postal_orders (
    order_number TEXT NOT NULL,
    order_type TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    status_time TEXT NOT NULL,
    item_code TEXT,
    collected_at TEXT,
    delivered_at TEXT,
    -- The last failure or cancel VNPost reported ('15', '22', ...), or a cancel refused as too late.
    alert TEXT,
    alert_at BIGINT,
    events BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (order_number, order_type)
);
CREATE INDEX postal_orders_alert ON postal_orders (alert_at) WHERE alert IS NOT NULL;

-- Where the tracking poll goes on from: advanced in the transaction that stores a page's events.
CREATE TABLE postal_cursor (
    name TEXT PRIMARY KEY,
    last_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
