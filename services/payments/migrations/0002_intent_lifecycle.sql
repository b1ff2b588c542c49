-- The rest of a payment intent's life (DESIGN §6), and the outbox that carries its money
-- to the ledger: a row is written in the same transaction as the success that owes it,
-- and the relay posts it until the ledger acknowledges (idempotent by reference).
ALTER TABLE payment_intents
    ADD COLUMN amount_capturable   bigint NOT NULL DEFAULT 0 CHECK (amount_capturable >= 0),
    ADD COLUMN receipt_email       text,
    ADD COLUMN wallet_id           text,
    ADD COLUMN last_payment_error  jsonb,
    ADD COLUMN next_action         jsonb,
    ADD COLUMN cancellation_reason text,
    ADD COLUMN canceled_at         timestamptz;

CREATE TABLE ledger_outbox (
    id            text COLLATE "C" PRIMARY KEY,
    tenant_id     text COLLATE "C" NOT NULL,
    livemode      boolean NOT NULL,
    -- The ledger transaction's reference_id: the intent id for a payment.
    reference_id  text NOT NULL UNIQUE,
    body          jsonb NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    next_attempt  timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    posted_at     timestamptz
);
CREATE INDEX ledger_outbox_due_idx ON ledger_outbox (next_attempt) WHERE posted_at IS NULL;
