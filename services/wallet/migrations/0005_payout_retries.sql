-- A withdrawal whose payout failed because its provider could not be reached is asked
-- again later, under a new payout (the failed one moved no money), instead of at every
-- recovery round: `payout_attempt` numbers the payout now asked for (its Idempotency-Key
-- and metadata carry it), `retries` counts the failed tries so far (the backoff grows with
-- it), `next_attempt_at` is when the recovery job may try again (NULL: at once), and
-- `last_error_code`/`last_error_message` keep the provider's reason, which becomes the
-- withdrawal's failure once `withdrawal_deadline` has passed.
ALTER TABLE wallet_operations
    ADD COLUMN payout_attempt     integer NOT NULL DEFAULT 1 CHECK (payout_attempt >= 1),
    ADD COLUMN retries            integer NOT NULL DEFAULT 0 CHECK (retries >= 0),
    ADD COLUMN next_attempt_at    timestamptz,
    ADD COLUMN last_error_code    text,
    ADD COLUMN last_error_message text;
