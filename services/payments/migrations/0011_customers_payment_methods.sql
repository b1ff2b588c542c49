-- Customers (`cus_`) and the payment methods attached to them (`pm_`), Stripe's shapes; an
-- intent may name its customer, and the charge its latest provider attempt is shown as.
CREATE TABLE customers (
    id           text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    livemode     boolean NOT NULL,
    email        text,
    name         text,
    description  text,
    phone        text,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Stripe keeps a deleted customer's id answering `deleted: true`: the row stays.
    deleted_at   timestamptz,
    -- As payment intents' (0009): a rerun of a create whose first run died after its commit
    -- finds the customer it made.
    idempotency_key text
);
CREATE UNIQUE INDEX customers_idempotency_key_idx
    ON customers (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX customers_tenant_idx ON customers (tenant_id, livemode, id);
CREATE INDEX customers_email_idx ON customers (tenant_id, livemode, email)
    WHERE deleted_at IS NULL;

-- A test method attached to a customer becomes a payment method of the customer's own, as
-- Stripe makes one: `card_of` is the test method whose card it is (what the simulator
-- charges). Detached, it keeps its row with no customer, and can never be used again.
CREATE TABLE payment_methods (
    id           text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    livemode     boolean NOT NULL,
    customer_id  text COLLATE "C" REFERENCES customers (id),
    card_of      text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    detached_at  timestamptz,
    idempotency_key text
);
CREATE UNIQUE INDEX payment_methods_idempotency_key_idx
    ON payment_methods (tenant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX payment_methods_tenant_idx ON payment_methods (tenant_id, livemode, id);
CREATE INDEX payment_methods_customer_idx ON payment_methods (customer_id, id)
    WHERE customer_id IS NOT NULL;

ALTER TABLE payment_intents
    ADD COLUMN customer_id text COLLATE "C" REFERENCES customers (id),
    -- The charge (`ch_`) of the latest attempt at a provider; null before the first.
    ADD COLUMN latest_charge text;

ALTER TABLE refunds ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb;

GRANT SELECT, INSERT, UPDATE ON customers, payment_methods TO :"app_role";
-- A refund's money never changes; only what the tenant notes on it does.
GRANT UPDATE (metadata) ON refunds TO :"app_role";
