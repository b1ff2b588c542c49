-- Money movements. An operation is one deposit, transfer or withdrawal and the state of its
-- saga; the ledger holds the money itself (posted with reference_id = the operation id).
CREATE TABLE wallet_operations (
    id                      text COLLATE "C" PRIMARY KEY,
    tenant_id               text COLLATE "C" NOT NULL,
    livemode                boolean NOT NULL,
    -- refund: a deposit's card payment refunded (payments debits the wallet); reversal: a
    -- paid withdrawal the bank sent back (the wallet credits itself).
    type                    text NOT NULL CHECK (type IN ('deposit', 'transfer', 'withdrawal',
                                                          'refund', 'reversal')),
    -- The wallet the money leaves (transfer, withdrawal) or enters (deposit).
    wallet_id               text COLLATE "C" NOT NULL REFERENCES wallets (id),
    -- A transfer's receiving wallet.
    to_wallet_id            text COLLATE "C" REFERENCES wallets (id),
    amount                  bigint NOT NULL CHECK (amount > 0),
    currency                text NOT NULL,
    description             text,
    status                  text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- How far a withdrawal got: 'new' -> 'held' (ledger hold placed) -> 'paying' (payout
    -- asked for) -> 'done'. Every step is idempotent, so a restart repeats the last one.
    stage                   text NOT NULL DEFAULT 'new'
                            CHECK (stage IN ('new', 'held', 'paying', 'done')),
    ledger_transaction_id   text,
    payment_intent_id       text,
    payout_id               text,
    -- What a refund or reversal comes from: the payments refund, the withdrawal operation.
    source_id               text,
    provider                text,
    payment_method          text,
    destination             jsonb,
    next_action             jsonb,
    failure_code            text,
    failure_message         text,
    -- The client's Idempotency-Key: a request run again after a crash resumes this row.
    idempotency_key         text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX wallet_operations_key_idx
    ON wallet_operations (tenant_id, livemode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- What the recovery job walks.
CREATE INDEX wallet_operations_pending_idx ON wallet_operations (updated_at)
    WHERE status = 'pending';

-- A wallet's history: one row per wallet an operation touches (a transfer has two).
CREATE TABLE wallet_transactions (
    id              text COLLATE "C" PRIMARY KEY,
    tenant_id       text COLLATE "C" NOT NULL,
    livemode        boolean NOT NULL,
    wallet_id       text COLLATE "C" NOT NULL REFERENCES wallets (id),
    operation_id    text COLLATE "C" NOT NULL REFERENCES wallet_operations (id),
    type            text NOT NULL CHECK (type IN ('deposit', 'transfer_in', 'transfer_out',
                                                  'withdrawal', 'refund', 'reversal')),
    -- The other side: a wallet id, a payment intent, a payout.
    counterparty    text,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- The wallet's posted ledger balance right after this movement (from the ledger entry).
    balance_after   bigint,
    description     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (operation_id, wallet_id)
);

CREATE INDEX wallet_transactions_wallet_idx ON wallet_transactions (wallet_id, id);
-- A refund event names the payment intent: find its deposit.
CREATE INDEX wallet_operations_intent_idx ON wallet_operations (payment_intent_id)
    WHERE payment_intent_id IS NOT NULL;
