-- Retries and failover across providers (issue #16).
--
-- A tenant's ordered list of providers per currency and mode: an intent created with no
-- `provider` in that currency goes to the first, and a confirm that fails there in a
-- retryable way is tried on the next.
CREATE TABLE provider_routes (
    tenant_id   text COLLATE "C" NOT NULL,
    livemode    boolean NOT NULL,
    currency    text NOT NULL,
    providers   text[] NOT NULL CHECK (cardinality(providers) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, livemode, currency)
);

-- The route an intent was created on, kept as it was then: a tenant changing its route
-- later does not move intents already under way. No row: the intent named its provider,
-- and is never failed over.
CREATE TABLE intent_routes (
    intent_id   text COLLATE "C" PRIMARY KEY REFERENCES payment_intents (id),
    providers   text[] NOT NULL CHECK (cardinality(providers) > 0)
);

-- One row per attempt at a provider: its id is the `ch_` the intent's `latest_charge`
-- shows, its reference the one the provider was sent (`providers/base.attempt_reference`).
CREATE TABLE payment_attempts (
    id                  text COLLATE "C" PRIMARY KEY,
    intent_id           text COLLATE "C" NOT NULL REFERENCES payment_intents (id),
    tenant_id           text COLLATE "C" NOT NULL,
    livemode            boolean NOT NULL,
    number              integer NOT NULL CHECK (number > 0),
    provider            text NOT NULL,
    provider_reference  text NOT NULL,
    status              text NOT NULL
        CHECK (status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
    error_code          text,
    error_message       text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (intent_id, number)
);
CREATE INDEX payment_attempts_tenant_idx ON payment_attempts (tenant_id, livemode, id);

-- Intents confirmed before this migration: their latest attempt only (the earlier ones were
-- never recorded apart), its status read off the intent.
INSERT INTO payment_attempts (id, intent_id, tenant_id, livemode, number, provider,
    provider_reference, status, error_code, error_message, created_at, updated_at)
SELECT latest_charge, id, tenant_id, livemode, greatest(attempts, 1), provider,
    CASE WHEN provider = 'simulator' OR attempts <= 1 THEN id ELSE id || '-' || attempts END,
    CASE
        WHEN status IN ('succeeded', 'requires_capture') THEN 'succeeded'
        WHEN status = 'processing' THEN 'pending'
        WHEN status = 'requires_action' THEN 'requires_action'
        WHEN status = 'canceled' THEN 'canceled'
        ELSE 'failed'
    END,
    coalesce(last_payment_error ->> 'decline_code', last_payment_error ->> 'code'),
    last_payment_error ->> 'message',
    created_at, updated_at
FROM payment_intents
WHERE latest_charge IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON provider_routes TO :"app_role";
GRANT SELECT, INSERT ON intent_routes TO :"app_role";
-- An attempt's intent, number, provider and reference never change; its outcome does.
GRANT SELECT, INSERT ON payment_attempts TO :"app_role";
GRANT UPDATE (status, error_code, error_message, updated_at) ON payment_attempts
    TO :"app_role";
