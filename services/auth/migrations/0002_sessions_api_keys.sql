-- Sessions (refresh-token families), API keys, JWT signing keys, per-tenant rate limits.
ALTER TABLE tenants ADD COLUMN rate_limit integer CHECK (rate_limit > 0);

CREATE TABLE sessions (
    id              text COLLATE "C" PRIMARY KEY,
    user_id         text COLLATE "C" NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens rotate: each use marks the row used and inserts its successor. A used
-- token presented again means it was stolen, and its whole session is revoked.
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,
    session_id  text COLLATE "C" NOT NULL REFERENCES sessions (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL REFERENCES tenants (id),
    livemode     boolean NOT NULL,
    secret_hash  text NOT NULL UNIQUE,
    last4        text NOT NULL,
    name         text,
    created_by   text COLLATE "C",
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    -- Set when the key is rolled: it keeps working until then.
    expires_at   timestamptz,
    rolled_to    text COLLATE "C",
    rate_limit   integer CHECK (rate_limit > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, livemode, id);

CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    private_pem  text NOT NULL,
    public_jwk   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
