-- Double-entry transactions (DESIGN §8). History is append-only: transactions, entries and
-- resolutions of pending transactions are never updated or deleted (triggers below).
-- Accounts carry running totals, updated in the same database transaction as the entries
-- that justify them; `micro ledger verify` recomputes them from the entries.

-- A per-tenant handle for an account, usable wherever an account id is (the seed's
-- "acc_revenue"); ids stay Micro's own.
ALTER TABLE accounts ADD COLUMN code text CHECK (code ~ '^[A-Za-z0-9_.:-]{1,64}$');
CREATE UNIQUE INDEX accounts_code_idx ON accounts (tenant_id, livemode, code)
    WHERE code IS NOT NULL;

CREATE TABLE transactions (
    id            text COLLATE "C" PRIMARY KEY,
    tenant_id     text COLLATE "C" NOT NULL,
    livemode      boolean NOT NULL,
    reference_id  text NOT NULL CHECK (length(reference_id) BETWEEN 1 AND 255),
    description   text,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- standard: posted at once; pending: a hold; posting: posts a pending one;
    -- reversal: undoes a posted one.
    kind          text NOT NULL CHECK (kind IN ('standard', 'pending', 'posting', 'reversal')),
    expires_at    timestamptz,
    -- The pending transaction a posting settles, or the transaction a reversal undoes.
    parent_id     text COLLATE "C" REFERENCES transactions (id),
    -- SHA-256 of the canonical request: the same reference with another body is a conflict.
    body_hash     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, livemode, reference_id)
);
CREATE INDEX transactions_tenant_idx ON transactions (tenant_id, livemode, id);
-- A transaction is reversed at most once, and a pending one posted at most once.
CREATE UNIQUE INDEX transactions_one_child_idx ON transactions (parent_id, kind)
    WHERE parent_id IS NOT NULL;

CREATE TABLE entries (
    seq             bigserial PRIMARY KEY,
    id              text COLLATE "C" NOT NULL UNIQUE,
    transaction_id  text COLLATE "C" NOT NULL REFERENCES transactions (id),
    account_id      text COLLATE "C" NOT NULL REFERENCES accounts (id),
    direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    pending         boolean NOT NULL,
    -- The account's posted balance (normal direction) and version once this entry applied.
    balance_after   bigint NOT NULL,
    version_after   bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_account_idx ON entries (account_id, seq);
CREATE INDEX entries_transaction_idx ON entries (transaction_id);

-- Live holds of pending transactions: working state, removed when the pending transaction
-- is posted, voided or expired (its entries stay in history).
CREATE TABLE holds (
    transaction_id  text COLLATE "C" NOT NULL REFERENCES transactions (id),
    account_id      text COLLATE "C" NOT NULL REFERENCES accounts (id),
    direction       text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount          bigint NOT NULL CHECK (amount > 0),
    expires_at      timestamptz,
    PRIMARY KEY (transaction_id, account_id, direction)
);
CREATE INDEX holds_account_idx ON holds (account_id, expires_at);
CREATE INDEX holds_expiry_idx ON holds (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE resolutions (
    pending_id      text COLLATE "C" PRIMARY KEY REFERENCES transactions (id),
    outcome         text NOT NULL CHECK (outcome IN ('posted', 'voided', 'expired')),
    posting_id      text COLLATE "C" REFERENCES transactions (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger history is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER transactions_append_only BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER resolutions_append_only BEFORE UPDATE OR DELETE ON resolutions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER resolutions_no_truncate BEFORE TRUNCATE ON resolutions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
