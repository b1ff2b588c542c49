"""Auth errors; all are subclasses of the shared tree in `shared.errors`.

NotFoundError (404)        UserNotFoundError, TenantNotFoundError, ApiKeyNotFoundError
AuthenticationError (410)  ApiKeyUnusableError (answered to the gateway only)
ConflictError (409)        EmailTakenError, SlugTakenError
AuthenticationError (401)  InvalidCredentialsError, InvalidRefreshTokenError

The refusals for a missing session or role (403 session_required, role_required) are
everyone's: `shared/access.py`.
"""

from __future__ import annotations

from shared.errors import AuthenticationError, ConflictError, NotFoundError


class UserNotFoundError(NotFoundError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"No such user: {user_id!r}.", param="id")


class TenantNotFoundError(NotFoundError):
    def __init__(self, tenant_id: str, param: str = "id") -> None:
        super().__init__(f"No such tenant: {tenant_id!r}.", param=param)


class ApiKeyNotFoundError(NotFoundError):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"No such API key: {key_id!r}.", param="id")


class ApiKeyUnusableError(AuthenticationError):
    """A key that exists but may no longer be used (revoked, expired, tenant disabled)."""

    status = 410


class EmailTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "An account with this email already exists.", code="email_taken", param="email"
        )


class SlugTakenError(ConflictError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"The slug {slug!r} is taken.", code="slug_taken", param="slug")


class InvalidCredentialsError(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("Invalid email or password.", code="invalid_credentials")


class AccountDisabledError(AuthenticationError):
    def __init__(self) -> None:
        super().__init__("This account is disabled.", code="account_disabled")


class InvalidRefreshTokenError(AuthenticationError):
    def __init__(self, code: str = "invalid_refresh_token", message: str | None = None) -> None:
        super().__init__(message or "The refresh token is invalid or expired.", code=code)
