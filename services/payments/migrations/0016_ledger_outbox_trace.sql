-- The W3C traceparent of the request that owed the posting (shared/tracing.py), so the
-- ledger call continues that request's trace even when the background relay makes it.
-- NULL when nothing traced the request.
ALTER TABLE ledger_outbox ADD COLUMN traceparent text;
