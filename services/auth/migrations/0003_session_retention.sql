-- Retention (shared/retention.py) deletes sessions oldest-ended first.
CREATE INDEX sessions_ended_idx ON sessions (least(expires_at, revoked_at));
