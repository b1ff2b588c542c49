-- Refunds through Paystack and Flutterwave: a refund is claimed `pending` (its amount held,
-- as `refunded_total` counts every refund but a failed one), the provider is asked, and its
-- answer (or its webhook, or the reconciler's re-verification) settles it succeeded or
-- failed. The provider is the intent's at refund time; its own id for the refund is known
-- once it answered.
ALTER TABLE refunds
    ADD COLUMN provider           text,
    ADD COLUMN provider_refund_id text,
    -- Stripe's values: declined, insufficient_funds, expired_or_canceled_card,
    -- merchant_request, unknown. Null unless failed.
    ADD COLUMN failure_reason     text,
    ADD COLUMN updated_at         timestamptz NOT NULL DEFAULT now();

-- Every refund before this one went through the simulator (others were refused).
UPDATE refunds r SET provider = pi.provider FROM payment_intents pi
    WHERE pi.id = r.payment_intent_id AND r.provider IS NULL;
UPDATE refunds SET updated_at = created_at;
ALTER TABLE refunds ALTER COLUMN provider SET NOT NULL;
-- A refund is written with the status it has; none is assumed succeeded any more.
ALTER TABLE refunds ALTER COLUMN status SET DEFAULT 'pending';

-- A provider's webhook names its refund by its own id (looked up with the account the
-- payment went through, so not unique here: two accounts' ids are the providers' to keep
-- apart).
CREATE INDEX refunds_provider_refund_idx
    ON refunds (provider, provider_refund_id) WHERE provider_refund_id IS NOT NULL;
-- What the reconciler re-verifies.
CREATE INDEX refunds_pending_idx ON refunds (updated_at) WHERE status = 'pending';

-- Status, the provider's id and the reason change as the provider answers; the amount, the
-- intent and the currency never do.
GRANT UPDATE (status, provider_refund_id, failure_reason, updated_at) ON refunds TO :"app_role";
