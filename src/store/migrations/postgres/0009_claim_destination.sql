-- A claim fills a batch with due heads of one destination (peers whose destinations' messages
-- are interleaved in the queue, such as a catalog fan-out to every subscriber).
CREATE INDEX outbox_claim_destination ON outbox (peer, operation, destination, position)
    WHERE state = 'pending' AND is_head;
