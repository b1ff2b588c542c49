-- Webhook endpoint secrets encrypted at rest (Fernet, `webhook_secrets_key`), and the
-- previous secret kept signing for a while after a roll (`roll_secret` with `expires_in`).
--
-- SQL cannot encrypt (the key is the app's), so the plain-text secrets of earlier versions
-- move to `plain_secret`; the events service encrypts them into `secret` when it starts,
-- before it delivers anything, and clears them (service/secrets.py). A later migration drops
-- the column once every deployment has started this version.
ALTER TABLE webhook_endpoints RENAME COLUMN secret TO plain_secret;
ALTER TABLE webhook_endpoints ALTER COLUMN plain_secret DROP NOT NULL;
ALTER TABLE webhook_endpoints ADD COLUMN secret bytea;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret bytea;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_expires_at timestamptz;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_secret_present
    CHECK (secret IS NOT NULL OR plain_secret IS NOT NULL);
CREATE INDEX webhook_endpoints_plain_idx ON webhook_endpoints (id) WHERE plain_secret IS NOT NULL;
