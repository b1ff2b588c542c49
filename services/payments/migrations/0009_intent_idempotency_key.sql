-- The Idempotency-Key an intent was created under (scoped as shared/idempotency.py scopes
-- it), so a keyed create whose process died after its commit, before its answer was stored,
-- finds the intent it made when the client retries, instead of making a second one.
ALTER TABLE payment_intents ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX payment_intents_idempotency_key_idx
    ON payment_intents (tenant_id, livemode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
