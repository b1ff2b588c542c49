-- A tenant's live mode (real money) is off until a platform admin turns it on; a tenant
-- admin asks for it first ('requested'). Gateways refuse live keys and live sessions of a
-- tenant whose live mode is not 'on'.
ALTER TABLE tenants
    ADD COLUMN live_mode text NOT NULL DEFAULT 'off'
        CHECK (live_mode IN ('off', 'requested', 'on'));
