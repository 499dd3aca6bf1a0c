-- Where each polled source stream (SQL polling) has read to: the watermark of the last row whose
-- records are stored, moved in the transaction that stores them.
CREATE TABLE source_cursors (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    watermark TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, stream)
);

-- Content hash of each row a polled stream stored, so that re-reading an overlap window (or the
-- rows tied on the last watermark) skips rows that have not changed.
CREATE TABLE source_seen (
    source TEXT NOT NULL,
    stream TEXT NOT NULL,
    row_key TEXT NOT NULL,
    hash TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (source, stream, row_key)
);
CREATE INDEX source_seen_at ON source_seen (seen_at);

-- Files taken from drop folders: a file is never processed twice (same name, size, time and
-- content), also when a restart finds it still in the folder.
CREATE TABLE source_files (
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    modified_ms BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    outcome TEXT NOT NULL,
    records BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    error TEXT,
    taken_at BIGINT NOT NULL,
    PRIMARY KEY (source, name, size, modified_ms, sha256)
);
CREATE INDEX source_files_taken ON source_files (taken_at);

-- Where a quarantined record came from (a file, a polled stream) and its retries.
ALTER TABLE quarantine ADD COLUMN origin TEXT;
ALTER TABLE quarantine ADD COLUMN retries BIGINT NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN retried_at BIGINT;
CREATE INDEX quarantine_listed ON quarantine (created_at, id);

-- Each polled or watched source's health as its reader last saw it, for `lienthong sources`,
-- the admin API and the dashboard (any instance may read it; the reader holding the source's
-- lease writes it).
CREATE TABLE source_status (
    source TEXT NOT NULL,
    way TEXT NOT NULL,
    state TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_error TEXT,
    last_ok_at BIGINT,
    next_try_at BIGINT,
    lag_ms BIGINT,
    rows_read BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, way)
);
