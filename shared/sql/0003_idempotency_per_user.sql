-- A signed-in user's keys are scoped to that user (stored as "<user id>:<key>"), so two
-- users of one tenant can pick the same key; API keys share the tenant's scope, as Stripe's
-- keys share an account's.
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_key_check,
    ADD CONSTRAINT idempotency_keys_key_check CHECK (length(key) BETWEEN 1 AND 320);
