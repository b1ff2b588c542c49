-- A posting the ledger refused (a 4xx: an unknown or frozen account, not enough funds) is
-- never sent again: it is marked failed with the ledger's error, for an operator to settle.
ALTER TABLE ledger_outbox
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN failure   jsonb;

DROP INDEX ledger_outbox_due_idx;
CREATE INDEX ledger_outbox_due_idx ON ledger_outbox (next_attempt)
    WHERE posted_at IS NULL AND failed_at IS NULL;
-- What `micro dev status` and the refused-postings gauge count.
CREATE INDEX ledger_outbox_failed_idx ON ledger_outbox (failed_at) WHERE failed_at IS NOT NULL;
