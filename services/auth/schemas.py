"""Request and response models of the auth API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from services.auth.passwords import MAX_LENGTH, MIN_LENGTH
from shared.access import GrantableRole, Role, RoleName
from shared.pagination import ListParams

TenantStatus = Literal["active", "disabled"]
LiveMode = Literal["off", "requested", "on"]


def _normalise_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]
# Every character of a password counts, spaces at either end included.
Password = Annotated[
    str, StringConstraints(strip_whitespace=False, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
]
# Stripped first (str_strip_whitespace below): a name of only spaces or newlines is empty,
# and the document says so with the pattern (at least one character that is not a space).
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
RateLimit = Annotated[int, Field(ge=1, le=1_000_000)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterRequest(_Request):
    email: Email
    password: Password
    business_name: Name | None = None


class SignupRequest(_Request):
    email: Email
    password: Password
    tenant: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="The tenant's slug or id (also accepted as `tenant_id`).",
        ),
    ]

    @model_validator(mode="before")
    @classmethod
    def _tenant_id_alias(cls, data: Any) -> Any:
        # Seed 000's clients send the tenant under its users-table column name, tenant_id.
        if not isinstance(data, dict) or "tenant_id" not in data:
            return data
        data = dict(data)
        alias = data.pop("tenant_id")
        if data.setdefault("tenant", alias) != alias:
            raise ValueError("send the tenant once, as tenant or as tenant_id")
        return data


class LoginRequest(_Request):
    email: Email
    # No length rule here: a wrong password of any length is just wrong.
    password: Annotated[
        str, StringConstraints(strip_whitespace=False, min_length=1, max_length=MAX_LENGTH)
    ]


class RefreshRequest(_Request):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class TenantCreateRequest(_Request):
    name: Name
    slug: Slug | None = None
    webhook_url: HttpUrl | Literal[""] = ""
    rate_limit: RateLimit | None = None


class TenantUpdateRequest(_Request):
    name: Name | None = None
    webhook_url: HttpUrl | Literal[""] | None = None
    rate_limit: RateLimit | None = None


class TenantFilters(ListParams):
    # Tenants whose name or slug contains this text (any case).
    q: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class UserFilters(ListParams):
    # Platform admins only: another tenant's users (a tenant admin may name only its own).
    tenant_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class UserCreateRequest(_Request):
    email: Email
    password: Password
    role: GrantableRole = Role.USER.value


class ApiKeyCreateRequest(_Request):
    environment: Literal["test", "live"] = "test"
    name: Name | None = None
    rate_limit: RateLimit | None = None


class ApiKeyRollRequest(_Request):
    # How long the old key keeps working: 0 (now) to 24 hours.
    grace_period_seconds: Annotated[int, Field(ge=0, le=86_400)] = 0


class User(BaseModel):
    # Built from a user row: `User.model_validate(row)`.
    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["user"] = "user"
    email: str
    tenant_id: str
    role: RoleName
    is_active: bool
    created: int


class Tenant(BaseModel):
    # Built from a tenant row: `Tenant.model_validate(row)`.
    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["tenant"] = "tenant"
    name: str
    slug: str
    webhook_url: str
    status: TenantStatus
    rate_limit: int | None
    # Real money: 'off' until a platform admin turns it on ('requested' once asked for).
    live_mode: LiveMode
    created: int


class LiveModeRequest(_Request):
    enabled: bool


class SessionTokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class LoginResponse(SessionTokens):
    user: User


class RegisterResponse(LoginResponse):
    tenant: Tenant


class ApiKey(BaseModel):
    id: str
    object: Literal["api_key"] = "api_key"
    environment: Literal["test", "live"]
    livemode: bool
    name: str | None
    masked: str
    status: Literal["active", "revoked", "expired"]
    rate_limit: int | None
    created: int
    last_used: int | None
    expires_at: int | None
    rolled_to: str | None
    # Present only in the answer that created the key: it is never shown again.
    secret: str | None = None


class VerifyKeyRequest(_Request):
    secret_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
