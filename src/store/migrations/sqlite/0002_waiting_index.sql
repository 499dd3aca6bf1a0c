-- Steps waiting for their dossier are looked up by dossier each time a new dossier is accepted;
-- without this index that lookup scans the whole outbox.
CREATE INDEX outbox_waiting ON outbox (dossier) WHERE state = 'waiting';
