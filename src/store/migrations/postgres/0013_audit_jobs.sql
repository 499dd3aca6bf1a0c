-- Every operator action (dashboard forms, admin API changes, the CLI's changing commands): who,
-- with which role, which way, what, on what (ids, filters, counts; never personal data) and the
-- outcome. Newest first by (at_ms, id).
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    way TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms, id);
CREATE INDEX audit_log_who ON audit_log (who, at_ms, id);
CREATE INDEX audit_log_action ON audit_log (action, at_ms, id);

-- Bulk actions on every message matching a filter, run in the background in chunks; the row
-- keeps the progress, so it survives a page reload, and a job whose runner stopped renewing
-- `heartbeat_ms` shows as interrupted (running it again is safe: replay and skip are idempotent).
CREATE TABLE outbox_jobs (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    filter TEXT NOT NULL,
    reason TEXT,
    who TEXT NOT NULL,
    state TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    changed BIGINT NOT NULL DEFAULT 0,
    after_position BIGINT,
    error TEXT,
    created_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    finished_ms BIGINT
);
CREATE INDEX outbox_jobs_created ON outbox_jobs (created_ms, id);

-- The outbox browser pages newest first by queue position (unique, and kept by a replay, so a
-- page boundary never moves while rows change state): through `outbox_position` unfiltered, and
-- through these when a state or a dossier code narrows it.
CREATE INDEX outbox_browse_state ON outbox (state, position);
CREATE INDEX outbox_browse_dossier ON outbox (dossier, position);
