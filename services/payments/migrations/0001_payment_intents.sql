-- Payment intents, Stripe's state machine (DESIGN §6). Money is BIGINT minor units.
CREATE TABLE payment_intents (
    id                  text COLLATE "C" PRIMARY KEY,
    tenant_id           text COLLATE "C" NOT NULL,
    livemode            boolean NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    amount_received     bigint NOT NULL DEFAULT 0 CHECK (amount_received >= 0),
    currency            text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    status              text NOT NULL DEFAULT 'requires_payment_method' CHECK (status IN (
                            'requires_payment_method', 'requires_confirmation',
                            'requires_action', 'processing', 'requires_capture',
                            'succeeded', 'canceled')),
    capture_method      text NOT NULL DEFAULT 'automatic'
                        CHECK (capture_method IN ('automatic', 'manual')),
    provider            text NOT NULL DEFAULT 'simulator',
    payment_method      text,
    description         text,
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payment_intents_tenant_idx ON payment_intents (tenant_id, livemode, id);
