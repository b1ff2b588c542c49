-- Idempotency-Key results (DESIGN §7), in every service's own database. One row per key
-- per tenant and mode; kept at least 24 hours, then purged.
CREATE TABLE idempotency_keys (
    tenant_id         text COLLATE "C" NOT NULL,
    livemode          boolean NOT NULL,
    key               text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash      text NOT NULL,
    status            text NOT NULL DEFAULT 'in_flight' CHECK (status IN ('in_flight', 'done')),
    response_status   integer,
    response_type     text,
    response_body     bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    locked_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, livemode, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
