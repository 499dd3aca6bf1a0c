-- The outbox browser's other filters, each walked in queue order through its own index, so a
-- page stays fast at a million messages however few rows match (a peer or destination with no
-- message walked the whole queue before).
CREATE INDEX outbox_browse_peer ON outbox (peer, position);
CREATE INDEX outbox_browse_destination ON outbox (destination, position);
CREATE INDEX outbox_browse_operation ON outbox (operation, position);
-- A search in the error text reads only the messages that have one (a delivery clears it);
-- "tried more than once" reads only the messages retried. Both stay small in a healthy queue,
-- and a new message (no error, no try) never touches them.
CREATE INDEX outbox_browse_error ON outbox (position) WHERE last_error IS NOT NULL;
CREATE INDEX outbox_browse_retried ON outbox (position) WHERE attempts > 1;
