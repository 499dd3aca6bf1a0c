-- The procedure catalog pulled from the portal (catalog/): every version of every procedure,
-- the pulls that produced them, and which changes have been fanned out to the subscribers.
-- Flags are 0/1 integers on both backends.

-- One row per procedure: its latest version as published.
CREATE TABLE catalog_procedures (
    code TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    in_force BIGINT NOT NULL,
    -- sha256:<hex> of the RFC 8785 canonical JSON of the latest in-force object (kept after a
    -- withdrawal, so a return with the same content is still a new version).
    hash TEXT,
    name TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    -- The last published pull that listed it.
    seen_at BIGINT NOT NULL
);

-- Every version: the portal's object as received (key order kept) for an in-force version,
-- none for a withdrawal. seq orders all changes across procedures (fan-out and diff --since).
CREATE TABLE catalog_versions (
    code TEXT NOT NULL,
    version BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    in_force BIGINT NOT NULL,
    hash TEXT,
    object TEXT,
    reason TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    pull_id TEXT NOT NULL,
    fanned_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (code, version)
);
CREATE UNIQUE INDEX catalog_versions_seq ON catalog_versions (seq);
CREATE INDEX catalog_versions_unfanned ON catalog_versions (seq) WHERE fanned_out = 0;

-- Pulls: running (its list staged, procedures being fetched; resumed by the next pull), held
-- (the list shrank past the guard; waits for an operator), published, or abandoned.
CREATE TABLE catalog_pulls (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    listed BIGINT NOT NULL DEFAULT 0,
    in_force BIGINT NOT NULL DEFAULT 0,
    fetched BIGINT NOT NULL DEFAULT 0,
    added BIGINT NOT NULL DEFAULT 0,
    changed BIGINT NOT NULL DEFAULT 0,
    withdrawn BIGINT NOT NULL DEFAULT 0,
    returned BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    note TEXT
);
CREATE INDEX catalog_pulls_started ON catalog_pulls (started_at);

-- A running pull's list and what has been fetched so far: a pull cut half-way resumes here.
-- Deleted when the pull is published or abandoned.
CREATE TABLE catalog_pull_items (
    pull_id TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    listed_state TEXT NOT NULL,
    -- 1 once fetched (or not to be fetched: withdrawn in the list, unknown to LayThuTuc).
    done BIGINT NOT NULL DEFAULT 0,
    object TEXT,
    hash TEXT,
    note TEXT,
    PRIMARY KEY (pull_id, code)
);

-- Subscribers the catalog has been sent to in full (a new one is sent the whole catalog once).
CREATE TABLE catalog_subscribers (
    name TEXT PRIMARY KEY,
    seeded_at BIGINT NOT NULL
);
