-- The durable event log (DESIGN §9), deduplicated by event id. `payload` is the event's JSON
-- exactly as the outbox produced it (text, not jsonb): deliveries, resends and reads all use
-- these bytes, so a signature made over them verifies everywhere.
CREATE TABLE events (
    id           text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    livemode     boolean NOT NULL,
    type         text NOT NULL,
    payload      text NOT NULL,
    created_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_idx ON events (tenant_id, livemode, id);
CREATE INDEX events_type_idx ON events (tenant_id, livemode, type, id);

-- Where a tenant wants its events. The secret must be read back to sign every delivery.
CREATE TABLE webhook_endpoints (
    id               text COLLATE "C" PRIMARY KEY,
    tenant_id        text COLLATE "C" NOT NULL,
    livemode         boolean NOT NULL,
    url              text NOT NULL,
    description      text,
    enabled_events   text[] NOT NULL,
    status           text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason  text,
    secret           text NOT NULL,
    -- The tenant's `webhook_url` (auth's tenants API), kept here as an endpoint per mode.
    is_default       boolean NOT NULL DEFAULT false,
    -- Set by the first failure after a success; an endpoint failing too long is disabled.
    failing_since    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, livemode, id);
CREATE UNIQUE INDEX webhook_endpoints_default_idx ON webhook_endpoints (tenant_id, livemode)
    WHERE is_default;

-- One event owed to one endpoint: the unit that is retried. A resend makes a new one.
CREATE TABLE deliveries (
    id               text COLLATE "C" PRIMARY KEY,
    event_id         text COLLATE "C" NOT NULL REFERENCES events (id),
    endpoint_id      text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id)
                         ON DELETE CASCADE,
    tenant_id        text COLLATE "C" NOT NULL,
    livemode         boolean NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    attempts         integer NOT NULL DEFAULT 0,
    -- While an attempt runs this is its lease: a worker that dies is replaced after it.
    next_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_idx ON deliveries (endpoint_id) WHERE status = 'pending';
CREATE INDEX deliveries_event_idx ON deliveries (event_id);

-- Every HTTP attempt, kept after its endpoint is deleted (hence no foreign keys).
CREATE TABLE delivery_attempts (
    id               text COLLATE "C" PRIMARY KEY,
    delivery_id      text COLLATE "C" NOT NULL,
    event_id         text COLLATE "C" NOT NULL,
    endpoint_id      text COLLATE "C" NOT NULL,
    tenant_id        text COLLATE "C" NOT NULL,
    livemode         boolean NOT NULL,
    attempt          integer NOT NULL,
    url              text NOT NULL,
    succeeded        boolean NOT NULL,
    status_code      integer,
    error            text,
    duration_ms      integer NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    -- When the delivery is tried again after this attempt, if it is.
    next_attempt_at  timestamptz
);
CREATE INDEX delivery_attempts_event_idx ON delivery_attempts (event_id, id);
