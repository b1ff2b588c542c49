-- Tenants (businesses) and their users. Ids are Micro's prefixed ids (ten_, usr_).
CREATE TABLE tenants (
    id           text COLLATE "C" PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    webhook_url  text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             text COLLATE "C" PRIMARY KEY,
    tenant_id      text COLLATE "C" NOT NULL REFERENCES tenants (id),
    email          text NOT NULL UNIQUE CHECK (email = lower(email)),
    phone          text,
    password_hash  text NOT NULL,
    role           text NOT NULL DEFAULT 'USER'
                   CHECK (role IN ('PLATFORM_ADMIN', 'TENANT_ADMIN', 'USER')),
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX users_tenant_idx ON users (tenant_id, id);
