"""shared/access.py: what an API key, a service and a session of each role may do."""

from __future__ import annotations

import time
from typing import get_args

import jwt
import pytest

from gateway.routing import Access, resolve
from shared.access import (
    EVERYONE,
    POLICY,
    GrantableRole,
    Operation,
    Role,
    RoleName,
    RoleRequiredError,
    SessionRequiredError,
    allows,
    reaches_tenant,
    require_role,
    require_session,
    tenant_reach,
)
from shared.errors import AuthenticationError
from shared.identity import Identity, mint, verify
from tests.support.access import CALLERS, SESSION_REQUIRED, Answer, answer, needs

COLUMNS = ("key", "service", "platform", "admin", "user", "anonymous")

Y, N = True, False
# fmt: off
#                                 key service platform admin user anonymous
ALLOWED = {
    Operation.MANAGE_TENANT:      (N,  N,      Y,       Y,    N,   N),
    Operation.MANAGE_PLATFORM:    (N,  N,      Y,       N,    N,   N),
    Operation.SET_RATE_LIMITS:    (N,  N,      Y,       N,    N,   N),
    Operation.REACH_ANY_TENANT:   (N,  N,      Y,       N,    N,   N),
    Operation.CALL_INTERNAL:      (N,  Y,      N,       N,    N,   N),
    Operation.SEE_TENANT_WALLETS: (Y,  Y,      Y,       Y,    N,   N),
    Operation.MOVE_MONEY:         (Y,  Y,      N,       Y,    Y,   N),
    Operation.MANAGE_WALLETS:     (Y,  Y,      N,       Y,    N,   N),
    Operation.USE_EVENTS:         (Y,  Y,      Y,       Y,    N,   N),
    Operation.MANAGE_PROVIDERS:   (Y,  N,      Y,       Y,    N,   N),
    Operation.VERIFY_LEDGER:      (N,  N,      Y,       N,    N,   N),
}
# fmt: on


def test_the_table_names_every_operation() -> None:
    assert set(ALLOWED) == set(Operation) == set(POLICY)


@pytest.mark.parametrize(
    ("operation", "caller", "expected"),
    [
        pytest.param(operation, caller, row[i], id=f"{operation.name} as {caller}")
        for operation, row in ALLOWED.items()
        for i, caller in enumerate(COLUMNS)
    ],
)
def test_who_may_do_what(operation: Operation, caller: str, expected: bool) -> None:
    assert allows(CALLERS[caller], operation) is expected


def test_a_session_without_a_role_may_do_nothing() -> None:
    roleless = Identity("usr_x", "user", tenant_id="ten_a")
    assert not any(allows(roleless, operation) for operation in Operation)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        ("key", SESSION_REQUIRED),
        ("service", SESSION_REQUIRED),
        ("anonymous", SESSION_REQUIRED),
        ("platform", None),
        ("admin", None),
        ("user", None),
    ],
)
def test_require_session(caller: str, expected: Answer) -> None:
    assert answer(lambda: require_session(CALLERS[caller])) == expected


def test_a_session_of_no_tenant_is_no_session() -> None:
    with pytest.raises(SessionRequiredError):
        require_session(Identity("usr_x", "user", role=Role.TENANT_ADMIN))


# fmt: off
ROLE_CHECKS = [
    (Operation.MANAGE_PLATFORM, "key",      SESSION_REQUIRED),
    (Operation.MANAGE_PLATFORM, "platform", None),
    (Operation.MANAGE_PLATFORM, "admin",    needs("PLATFORM_ADMIN")),
    (Operation.MANAGE_PLATFORM, "user",     needs("PLATFORM_ADMIN")),
    (Operation.MANAGE_TENANT,   "key",      SESSION_REQUIRED),
    (Operation.MANAGE_TENANT,   "platform", None),
    (Operation.MANAGE_TENANT,   "admin",    None),
    (Operation.MANAGE_TENANT,   "user",     needs("TENANT_ADMIN")),
    # The least role that would do is the one named.
    (Operation.MOVE_MONEY,      "platform", needs("USER")),
]
# fmt: on


@pytest.mark.parametrize(("operation", "caller", "expected"), ROLE_CHECKS)
def test_require_role(operation: Operation, caller: str, expected: Answer) -> None:
    assert answer(lambda: require_role(CALLERS[caller], operation)) == expected


def test_a_role_required_error_names_the_role_as_spelled_in_the_api() -> None:
    assert RoleRequiredError(Role.TENANT_ADMIN).message == "This needs the TENANT_ADMIN role."


@pytest.mark.parametrize(
    ("caller", "reach", "own", "other"),
    [
        ("platform", None, True, True),
        ("admin", "ten_a", True, False),
        ("user", "ten_a", True, False),
        ("key", "ten_a", True, False),
        ("service", "ten_a", True, False),
    ],
)
def test_tenant_reach(caller: str, reach: str | None, own: bool, other: bool) -> None:
    identity = CALLERS[caller]
    assert tenant_reach(identity) == reach
    assert reaches_tenant(identity, "ten_a" if caller != "platform" else "ten_platform") is own
    assert reaches_tenant(identity, "ten_b") is other


def test_no_tenant_reaches_no_tenant_rather_than_all() -> None:
    assert tenant_reach(Identity("key_x", "api_key")) == ""


def test_the_api_spells_the_roles_as_the_enum_does() -> None:
    assert set(get_args(RoleName)) == {role.value for role in Role}
    assert set(get_args(GrantableRole)) == {Role.USER.value, Role.TENANT_ADMIN.value}


# -- the gateway's routing table ----------------------------------------------------------

API_ROUTES = ("/payments", "/ledger", "/events", "/webhook_endpoints", "/wallet")
SESSION_ROUTES = ("/auth/me", "/tenants")


@pytest.mark.parametrize("path", SESSION_ROUTES)
def test_session_routes_take_any_role_and_no_key(path: str) -> None:
    target = resolve(path)
    assert target is not None
    assert target.rule.access is Access.SESSION


@pytest.mark.parametrize(
    ("path", "role", "expected"),
    [
        pytest.param(path, role, path == "/wallet" or role is not Role.USER, id=f"{path} {role}")
        for path in API_ROUTES
        for role in Role
    ],
)
def test_a_session_uses_an_api_route_by_its_role(path: str, role: Role, expected: bool) -> None:
    """A USER's session reaches only /wallet, where the wallet service scopes it to its own."""
    target = resolve(path)
    assert target is not None
    assert target.rule.access is Access.API
    assert (role in target.rule.session_roles) is expected


def test_every_role_is_someone() -> None:
    assert frozenset(Role) == EVERYONE


# -- the identity token carries the role --------------------------------------------------

KEY = "an-identity-key-long-enough-for-hs256-0123456789"


def test_the_identity_token_carries_the_role_as_the_enum() -> None:
    identity = Identity("usr_a", "user", tenant_id="ten_a", role=Role.TENANT_ADMIN)
    verified = verify(mint(identity, KEY), [KEY])
    assert verified == identity
    assert verified.role is Role.TENANT_ADMIN


def test_a_token_naming_no_known_role_is_invalid() -> None:
    token = jwt.encode(
        {"principal": "usr_x", "principal_type": "user", "role": "ROOT", "aud": "micro-internal",
         "iat": int(time.time()), "exp": int(time.time()) + 60},
        KEY,
        algorithm="HS256",
    )  # fmt: skip
    with pytest.raises(AuthenticationError) as refused:
        verify(token, [KEY])
    assert refused.value.code == "identity_invalid"
