-- One driver per operation without a transaction held across its calls to the ledger and
-- payments: a driver takes a lease (its token, and until when), commits, calls, and writes
-- each outcome only while the lease is still its own. A driver that died is taken over
-- once its lease has run out; the recovery job skips operations under a live lease.
ALTER TABLE wallet_operations
    ADD COLUMN driver       text,
    ADD COLUMN driver_until timestamptz;
