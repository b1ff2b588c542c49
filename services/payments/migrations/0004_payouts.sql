-- Payouts: money sent from a tenant's balance to a bank account.
CREATE TABLE payouts (
    id               text COLLATE "C" PRIMARY KEY,
    tenant_id        text COLLATE "C" NOT NULL,
    livemode         boolean NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    provider         text NOT NULL,
    destination      jsonb NOT NULL,
    description      text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    failure_code     text,
    failure_message  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_tenant_idx ON payouts (tenant_id, livemode, id);
