-- Ledger accounts (DESIGN §8). Running totals are kept per account in minor units; the
-- entries that justify them arrive with the transactions migration.
CREATE TABLE accounts (
    id               text COLLATE "C" PRIMARY KEY,
    tenant_id        text COLLATE "C" NOT NULL,
    livemode         boolean NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type             text NOT NULL
                     CHECK (type IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    currency         text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    no_overdraft     boolean NOT NULL DEFAULT false,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    debits_posted    bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted   bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending   bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending  bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    version          bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX accounts_tenant_idx ON accounts (tenant_id, livemode, id);
