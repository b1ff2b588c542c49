-- Wallets: records and states only. Balances always come from the ledger account.
CREATE TABLE wallets (
    id                 text COLLATE "C" PRIMARY KEY,
    tenant_id          text COLLATE "C" NOT NULL,
    livemode           boolean NOT NULL,
    owner              text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    currency           text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    ledger_account_id  text COLLATE "C" NOT NULL UNIQUE,
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen')),
    metadata           jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX wallets_tenant_idx ON wallets (tenant_id, livemode, id);
CREATE INDEX wallets_owner_idx ON wallets (tenant_id, livemode, owner);
