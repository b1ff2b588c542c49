-- The balance at a moment is the balance_after of the account's last posted entry made by
-- then. Walking the account's entries back from the newest (0007) costs one index tuple per
-- entry made since: on the busiest account of the 1,000,000-transaction benchmark, halfway
-- back, 16 ms at p50, and it grows with the account's history (#19).
--
-- A transaction's time is now taken as its row is written, after its accounts are locked
-- (`accounts.lock` runs first, and the lock is held to commit), instead of when its
-- database transaction began. Begun times broke the order two ways: the postings the
-- coalescer batches into one database transaction all shared one time, and a batch that
-- waited on a lock carried a time earlier than the one applied before it. On each account,
-- entry times now follow seq, so the last entry made by a moment is found by time, from an
-- index, in a few page reads.
ALTER TABLE transactions ALTER COLUMN created_at SET DEFAULT clock_timestamp();

CREATE INDEX entries_account_posted_at_idx ON entries (account_id, created_at, seq)
    WHERE NOT pending;
