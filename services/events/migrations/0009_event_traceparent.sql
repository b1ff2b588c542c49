-- The traceparent the event came with from the stream (shared/tracing.py): each delivery
-- attempt is a span of that trace and sends it to the endpoint. NULL for untraced events.
ALTER TABLE events ADD COLUMN traceparent text;
