-- Named leases held by one instance at a time (e.g. `scheduler`, the leader that runs the
-- scheduled jobs). Taken, renewed and released by single compare-and-set statements on
-- `holder` and `until_ms`; an instance that dies stops renewing and its lease expires.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
