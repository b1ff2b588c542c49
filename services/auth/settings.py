from __future__ import annotations

from pydantic import Field, field_validator

from shared import secrets
from shared.settings import DatabaseSettings

# The platform admin's address unless MICRO_AUTH_ADMIN_EMAIL says otherwise; the password
# has no default (`micro dev up` generates one and prints it).
DEV_ADMIN_EMAIL = "admin@micro.dev"


class AuthSettings(DatabaseSettings):
    service = "auth"

    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    bcrypt_rounds: int = 12
    # PEM of an Ed25519 private key; without one, a key is generated once and kept in the DB.
    jwt_private_key: str | None = None
    # The platform admin ensured at start-up (an existing account is left as it is).
    admin_email: str = DEV_ADMIN_EMAIL
    admin_password: str = Field(default="", validate_default=True)
    # Sessions that expired or were revoked are deleted this many days later (retention).
    session_retention_days: float = Field(default=30.0, gt=0)

    @field_validator("admin_password", mode="before")
    @classmethod
    def _admin_password(cls, value: object) -> str:
        return secrets.check(secrets.ADMIN_PASSWORD, value)
