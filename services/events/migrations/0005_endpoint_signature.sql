-- Stripe-compatible webhook endpoints (issue #15): which scheme signs an endpoint's
-- deliveries, `standard` (Standard Webhooks, what every endpoint used so far) or `stripe`
-- (`Stripe-Signature`); the tenant's own key-value `metadata`; and `api_version`, the
-- Stripe-Version the endpoint was created with (null when none was given).
ALTER TABLE webhook_endpoints
    ADD COLUMN signature text NOT NULL DEFAULT 'standard'
        CHECK (signature IN ('standard', 'stripe')),
    ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(metadata) = 'object'),
    ADD COLUMN api_version text;
