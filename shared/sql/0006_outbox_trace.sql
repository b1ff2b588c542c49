-- The W3C traceparent of the transaction that wrote the row (shared/tracing.py), so the
-- event's relay and deliveries continue that request's trace. NULL when nothing traced it.
ALTER TABLE outbox ADD COLUMN traceparent text;
