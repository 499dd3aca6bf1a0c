-- What the portal should hold of each dossier, as this gateway last queued it: written with
-- the messages in the ingest's transaction (a header replaces the row, a step moves its status);
-- what the service report and the overdue list count, and what reconciliation checks.
CREATE TABLE dossier_facts (
    dossier TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    -- The agency identifier that registered it (the code's first part) and the day it was
    -- registered (yyyymmdd, from the code).
    agency TEXT NOT NULL,
    registered_on INTEGER NOT NULL,
    procedure_code TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at INTEGER,
    -- The appointment now (NgayHenTra) and the one before the first apology round.
    appointment_at INTEGER,
    due_at INTEGER,
    apologies INTEGER NOT NULL,
    finished_at INTEGER,
    returned_at INTEGER,
    by_post INTEGER NOT NULL,
    digitised_inputs INTEGER NOT NULL,
    digitised_results INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX dossier_facts_registered ON dossier_facts (registered_on, dossier);
CREATE INDEX dossier_facts_received ON dossier_facts (received_at);
CREATE INDEX dossier_facts_finished ON dossier_facts (finished_at);
-- Open dossiers (not terminal: `codes.md`) by their appointment, for the overdue list.
CREATE INDEX dossier_facts_open ON dossier_facts (appointment_at)
    WHERE status NOT IN ('3', '7', '8', '10');

-- Reconciliation runs against the portal's record, resumable from their cursor (the last
-- dossier checked, moved in the transaction that keeps its page's findings and repairs).
CREATE TABLE reconcile_runs (
    id TEXT PRIMARY KEY,
    from_day INTEGER NOT NULL,
    to_day INTEGER NOT NULL,
    agency TEXT NOT NULL,
    repair INTEGER NOT NULL,
    state TEXT NOT NULL,
    cursor_day INTEGER,
    cursor_dossier TEXT,
    total INTEGER NOT NULL,
    checked INTEGER NOT NULL,
    in_sync INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    stale INTEGER NOT NULL,
    missing_steps INTEGER NOT NULL,
    unknown INTEGER NOT NULL,
    undelivered INTEGER NOT NULL,
    repaired INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    last_error TEXT,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at);

CREATE TABLE reconcile_findings (
    run_id TEXT NOT NULL,
    dossier TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    repaired INTEGER NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run_id, dossier, kind)
);

-- Monthly satisfaction figures as last queued for the portal, per procedure and agency.
CREATE TABLE survey_facts (
    month TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    agency TEXT NOT NULL,
    respondents INTEGER NOT NULL,
    very_satisfied TEXT NOT NULL,
    satisfied TEXT NOT NULL,
    unsatisfied TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (month, procedure_code, agency)
);
