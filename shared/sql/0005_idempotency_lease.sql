-- A claimed key is a lease its process renews while the request runs (shared/idempotency.py):
-- `locked_by` names the process, so a live one keeps its claims fresh with one statement,
-- and a dead one's claims go stale after the lease, not after minutes.
ALTER TABLE idempotency_keys ADD COLUMN locked_by text;
CREATE INDEX idempotency_keys_in_flight_idx ON idempotency_keys (locked_by)
    WHERE status = 'in_flight';
