-- The transactional outbox (DESIGN §2): a service writes its change and the event in one
-- transaction; the relay publishes unpublished rows to Redis in `seq` order.
CREATE TABLE outbox (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text COLLATE "C" NOT NULL UNIQUE,
    tenant_id     text COLLATE "C" NOT NULL,
    livemode      boolean NOT NULL,
    type          text NOT NULL,
    -- The event's JSON exactly as every consumer will see it; text, not jsonb, so the bytes
    -- signed at delivery are the bytes produced here.
    payload       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes the relay at commit time (NOTIFY is delivered only when the transaction commits),
-- so an event leaves within milliseconds instead of at the next poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('micro_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
