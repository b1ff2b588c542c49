"""Auth errors; all are subclasses of the shared tree in `shared.errors`."""

from __future__ import annotations

from shared.errors import NotFoundError


class UserNotFoundError(NotFoundError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"No such user: {user_id!r}.", param="id")


class TenantNotFoundError(NotFoundError):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"No such tenant: {tenant_id!r}.", param="id")
