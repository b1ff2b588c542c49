"""What the auth repositories return: one typed row per table, and the few joined reads that
carry more than one table (each says what it joins and why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.credentials import TenantState
from shared.timeutil import unix


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    slug: str
    webhook_url: str
    status: str  # active | disabled
    rate_limit: int | None
    live_mode: str  # off | requested | on
    created_at: datetime

    @property
    def created(self) -> int:
        return unix(self.created_at)

    @property
    def state(self) -> TenantState:
        """As much as a gateway needs to let live mode through."""
        return TenantState(id=self.id, status=self.status, live_mode=self.live_mode)


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user without its password hash: safe to render."""

    id: str
    tenant_id: str
    email: str
    role: str  # PLATFORM_ADMIN | TENANT_ADMIN | USER
    is_active: bool
    created_at: datetime

    @property
    def created(self) -> int:
        return unix(self.created_at)


@dataclass(frozen=True, slots=True)
class LoginCandidate:
    """The user an email names, with what signing in checks: its password hash and its
    tenant's status."""

    user: UserRow
    password_hash: str
    tenant_status: str


@dataclass(frozen=True, slots=True)
class LockedRefreshToken:
    """A refresh token, locked with its session, and the session's user with its tenant's
    status: everything a refresh decides on."""

    token_hash: str
    used_at: datetime | None
    session_id: str
    session_revoked_at: datetime | None
    session_expires_at: datetime
    user: UserRow
    tenant_status: str


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: str
    tenant_id: str
    livemode: bool
    secret_hash: str
    last4: str
    name: str | None
    created_by: str
    status: str  # active | revoked
    expires_at: datetime | None
    rolled_to: str | None
    rate_limit: int | None
    created_at: datetime
    revoked_at: datetime | None

    def is_expired(self, now: datetime | None = None) -> bool:
        """Past the expiry a roll gave it (a key that was never rolled never expires)."""
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class KeyStanding:
    """A key found by its hash, whatever its state, with its tenant's status and the rate
    limit that applies to it (its own, else its tenant's): what the gateway is told."""

    id: str
    tenant_id: str
    livemode: bool
    status: str
    expires_at: datetime | None
    expired: bool  # by the database's clock
    tenant_status: str
    rate_limit: int | None


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    kid: str
    private_pem: str
