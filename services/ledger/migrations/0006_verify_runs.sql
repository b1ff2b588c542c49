-- What the periodic `ledger verify` found last (services/ledger/service/verify_job.py): one
-- row, replaced by each run, read by every replica's /metrics so all report the same figures.
CREATE TABLE verify_runs (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    discrepancies integer NOT NULL CHECK (discrepancies >= 0),
    finished_at   timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON verify_runs TO :"app_role";
