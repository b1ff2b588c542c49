-- Refunds: money back to the customer, never more than was received.
CREATE TABLE refunds (
    id                 text COLLATE "C" PRIMARY KEY,
    tenant_id          text COLLATE "C" NOT NULL,
    livemode           boolean NOT NULL,
    payment_intent_id  text COLLATE "C" NOT NULL REFERENCES payment_intents (id),
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    status             text NOT NULL DEFAULT 'succeeded'
                       CHECK (status IN ('pending', 'succeeded', 'failed')),
    reason             text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_tenant_idx ON refunds (tenant_id, livemode, id);
CREATE INDEX refunds_intent_idx ON refunds (payment_intent_id);
