-- The durable event log (DESIGN §9), deduplicated by event id.
CREATE TABLE events (
    id                text COLLATE "C" PRIMARY KEY,
    tenant_id         text COLLATE "C" NOT NULL,
    livemode          boolean NOT NULL,
    type              text NOT NULL,
    data              jsonb NOT NULL,
    request_id        text,
    idempotency_key   text,
    created_at        timestamptz NOT NULL
);

CREATE INDEX events_tenant_idx ON events (tenant_id, livemode, id);
CREATE INDEX events_type_idx ON events (tenant_id, livemode, type, id);
