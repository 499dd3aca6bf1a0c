-- What the portal should hold of each dossier, as this gateway last queued it: written with
-- the messages in the ingest's transaction (a header replaces the row, a step moves its status);
-- what the service report and the overdue list count, and what reconciliation checks.
CREATE TABLE dossier_facts (
    dossier TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    -- The agency identifier that registered it (the code's first part) and the day it was
    -- registered (yyyymmdd, from the code).
    agency TEXT NOT NULL,
    registered_on BIGINT NOT NULL,
    procedure_code TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at BIGINT,
    -- The appointment now (NgayHenTra) and the one before the first apology round.
    appointment_at BIGINT,
    due_at BIGINT,
    apologies BIGINT NOT NULL,
    finished_at BIGINT,
    returned_at BIGINT,
    by_post BOOLEAN NOT NULL,
    digitised_inputs BOOLEAN NOT NULL,
    digitised_results BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
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
    from_day BIGINT NOT NULL,
    to_day BIGINT NOT NULL,
    agency TEXT NOT NULL,
    repair BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    cursor_day BIGINT,
    cursor_dossier TEXT,
    total BIGINT NOT NULL,
    checked BIGINT NOT NULL,
    in_sync BIGINT NOT NULL,
    missing BIGINT NOT NULL,
    stale BIGINT NOT NULL,
    missing_steps BIGINT NOT NULL,
    unknown BIGINT NOT NULL,
    undelivered BIGINT NOT NULL,
    repaired BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    last_error TEXT,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at);

CREATE TABLE reconcile_findings (
    run_id TEXT NOT NULL,
    dossier TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    repaired BOOLEAN NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (run_id, dossier, kind)
);

-- Monthly satisfaction figures as last queued for the portal, per procedure and agency.
CREATE TABLE survey_facts (
    month TEXT NOT NULL,
    procedure_code TEXT NOT NULL,
    agency TEXT NOT NULL,
    respondents BIGINT NOT NULL,
    very_satisfied TEXT NOT NULL,
    satisfied TEXT NOT NULL,
    unsatisfied TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (month, procedure_code, agency)
);
