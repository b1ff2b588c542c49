-- Retention (shared/retention.py) walks the event log and the attempts oldest first.
CREATE INDEX events_received_idx ON events (received_at);
CREATE INDEX delivery_attempts_finished_idx ON delivery_attempts (finished_at);
