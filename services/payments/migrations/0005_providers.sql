-- Real providers (Paystack, Flutterwave): per-tenant credentials, inbound webhooks, and
-- what an intent or payout needs to be re-checked with the provider that holds it.

-- A tenant's own account at a provider, per mode. Secret parts are Fernet tokens (bytea),
-- never plaintext: the key lives in the service's settings, not in the database.
CREATE TABLE provider_credentials (
    tenant_id       text COLLATE "C" NOT NULL,
    livemode        boolean NOT NULL,
    provider        text NOT NULL CHECK (provider IN ('paystack', 'flutterwave')),
    public_key      text,
    secret_key      bytea NOT NULL,
    webhook_secret  bytea,
    -- The last characters of the secret key, shown masked so a tenant can tell keys apart.
    secret_hint     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, livemode, provider)
);

-- Whose provider account an intent or payout went through: the tenant's own ('tenant') or
-- the platform default ('platform'). Webhooks for one account may only touch its objects.
ALTER TABLE payment_intents
    ADD COLUMN provider_account text NOT NULL DEFAULT 'platform',
    -- Hosted attempts so far: a provider takes each reference once, so the n-th attempt
    -- goes as "{id}-{n}" (the first as the id itself).
    ADD COLUMN attempts integer NOT NULL DEFAULT 0;
CREATE INDEX payment_intents_pending_idx ON payment_intents (status, updated_at)
    WHERE status IN ('requires_payment_method', 'requires_confirmation', 'requires_action',
                     'processing');

ALTER TABLE payouts
    ADD COLUMN provider_account   text NOT NULL DEFAULT 'platform',
    -- The provider's own id for the transfer, where its verify call needs it (Flutterwave).
    ADD COLUMN provider_transfer_id text,
    -- A wallet's withdrawal: the wallet service holds and settles the money in the ledger.
    ADD COLUMN wallet_id          text;
CREATE INDEX payouts_wallet_idx ON payouts (tenant_id, livemode, wallet_id, id)
    WHERE wallet_id IS NOT NULL;
CREATE INDEX payouts_pending_idx ON payouts (updated_at) WHERE status = 'pending';

-- Every webhook that passed its signature check, once: a replay finds its row and changes
-- nothing. `outcome` says what it did (applied, duplicate state, unknown reference, ...).
CREATE TABLE provider_events (
    provider     text NOT NULL,
    -- 'platform', or '{tenant id}/{test|live}' for the tenant account that signed it.
    account      text COLLATE "C" NOT NULL,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    reference    text,
    outcome      text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, account, event_id)
);
