"""The callers of the access tables (`tests/unit/access/`), and what a check answered."""

from __future__ import annotations

from collections.abc import Callable

from shared.access import Role
from shared.errors import MicroError
from shared.identity import Identity

# Tenant A's API key, a service, a platform admin (of the platform tenant), tenant A's
# admin and one of its users, and the identity the gateway hands a public door.
CALLERS = {
    "key": Identity("key_a", "api_key", tenant_id="ten_a"),
    "service": Identity("payments", "service", tenant_id="ten_a"),
    "platform": Identity("usr_p", "user", tenant_id="ten_platform", role=Role.PLATFORM_ADMIN),
    "admin": Identity("usr_a", "user", tenant_id="ten_a", role=Role.TENANT_ADMIN),
    "user": Identity("usr_u", "user", tenant_id="ten_a", role=Role.USER),
    "anonymous": Identity("anonymous", "anonymous"),
}

Answer = tuple[int, str, str] | None

SESSION_REQUIRED: Answer = (
    403,
    "session_required",
    "This endpoint needs a signed-in user: send the access token from /auth/login, not an API key.",
)


def needs(role: str) -> Answer:
    return 403, "role_required", f"This needs the {role} role."


def answer(check: Callable[[], object]) -> Answer:
    """None if `check()` lets the caller through, else the status, code and message."""
    try:
        check()
    except MicroError as exc:
        return exc.status_code, exc.code, exc.message
    return None
