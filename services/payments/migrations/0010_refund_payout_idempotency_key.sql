-- As payment intents (0009): the Idempotency-Key a refund or payout was made under, so the
-- retry of a create whose process died after its commit finds it instead of moving the
-- money a second time.
ALTER TABLE refunds ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX refunds_idempotency_key_idx
    ON refunds (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE payouts ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX payouts_idempotency_key_idx
    ON payouts (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
