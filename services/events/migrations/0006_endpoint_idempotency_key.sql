-- The Idempotency-Key an endpoint was created under (scoped as shared/idempotency.py scopes
-- it). A create's answer shows the secret, so the idempotency layer never stores it and a
-- retry with the same key runs again (every Stripe SDK retries a lost POST with its key):
-- it then finds this endpoint and answers it again instead of making a second one.
ALTER TABLE webhook_endpoints ADD COLUMN idempotency_key text;

CREATE UNIQUE INDEX webhook_endpoints_idempotency_key
    ON webhook_endpoints (tenant_id, livemode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
