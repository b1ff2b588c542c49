"""Who may do what: the roles, what an API key and a session of each role may do, the checks.

A caller holds one of three credentials (`Identity.principal_type`):

- an API key (`api_key`): acts for its tenant, in its mode, with no role;
- a session (`user`): a signed-in user's access token, carrying the user's role;
- a service (`service`): another Micro service calling inside the platform.

The roles a user has:

- PLATFORM_ADMIN runs the platform: every tenant, live mode, rate limits, the ledger's
  verification. It reads every tenant's data and moves no tenant's money.
- TENANT_ADMIN manages its own tenant: users, keys, provider accounts, webhook endpoints,
  every wallet.
- USER belongs to a tenant: its own account and its own wallets.

`POLICY` says, for each operation, which credentials and which sessions' roles may do it.
The gateway's routing table (`gateway/routing.py`) lets a session onto a route by the same
roles. A service asks `allows` and raises its own refusal where its answer says more than
"needs a session" or "needs a role" (`require_session`, `require_role`).

Tenants: a platform admin reaches any tenant, everyone else only its own
(`reaches_tenant`, `tenant_reach`). Auth and the wallet answer another tenant's ids as not
found rather than forbidden, so that probing ids tells nothing; the events service refuses
a caller naming another tenant with a 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum, auto
from typing import TYPE_CHECKING, Literal

from shared.errors import PermissionDeniedError

if TYPE_CHECKING:
    # shared.identity holds the Identity type, whose role is a Role: a runtime import
    # would be circular.
    from shared.identity import Identity


class Role(StrEnum):
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    TENANT_ADMIN = "TENANT_ADMIN"
    USER = "USER"


# The roles as the API documents spell them: a plain string enum in the JSON schemas.
RoleName = Literal["PLATFORM_ADMIN", "TENANT_ADMIN", "USER"]
# The roles a tenant admin may give the users it adds.
GrantableRole = Literal["USER", "TENANT_ADMIN"]

ADMINS = frozenset({Role.TENANT_ADMIN, Role.PLATFORM_ADMIN})
EVERYONE = frozenset(Role)
# From least to most reach: a refusal names the least role that would have been enough.
_REACH = (Role.USER, Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)


class Operation(Enum):
    MANAGE_TENANT = auto()  # one's own tenant, its users and API keys
    MANAGE_PLATFORM = auto()  # every tenant: create, list, delete, turn live mode on
    SET_RATE_LIMITS = auto()  # a tenant's or an API key's request limit
    REACH_ANY_TENANT = auto()  # another tenant's things
    CALL_INTERNAL = auto()  # what only the gateway asks: key verification, tenant state
    SEE_TENANT_WALLETS = auto()  # every wallet of the tenant, not only one's own
    MOVE_MONEY = auto()  # open wallets, deposit, transfer, withdraw
    MANAGE_WALLETS = auto()  # freeze, open wallets for someone else
    USE_EVENTS = auto()  # read events, manage webhook endpoints
    MANAGE_PROVIDERS = auto()  # the tenant's own provider accounts and their secrets
    VERIFY_LEDGER = auto()  # recompute the whole ledger


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may do one operation."""

    sessions: frozenset[Role]  # the roles whose sessions may
    api_keys: bool
    services: bool


_NOBODY: frozenset[Role] = frozenset()
_PLATFORM = frozenset({Role.PLATFORM_ADMIN})
_TENANT_ADMINS = frozenset({Role.TENANT_ADMIN})
_MEMBERS = frozenset({Role.TENANT_ADMIN, Role.USER})  # the tenant's own people

# fmt: off
#                                          sessions of     API keys  services
POLICY: Mapping[Operation, Grant] = {
    Operation.MANAGE_TENANT:         Grant(ADMINS,         False,    False),
    Operation.MANAGE_PLATFORM:       Grant(_PLATFORM,      False,    False),
    Operation.SET_RATE_LIMITS:       Grant(_PLATFORM,      False,    False),
    Operation.REACH_ANY_TENANT:      Grant(_PLATFORM,      False,    False),
    Operation.CALL_INTERNAL:         Grant(_NOBODY,        False,    True),
    Operation.SEE_TENANT_WALLETS:    Grant(ADMINS,         True,     True),
    Operation.MOVE_MONEY:            Grant(_MEMBERS,       True,     True),
    Operation.MANAGE_WALLETS:        Grant(_TENANT_ADMINS, True,     True),
    Operation.USE_EVENTS:            Grant(ADMINS,         True,     True),
    Operation.MANAGE_PROVIDERS:      Grant(ADMINS,         True,     False),
    Operation.VERIFY_LEDGER:         Grant(_PLATFORM,      False,    False),
}
# fmt: on


class SessionRequiredError(PermissionDeniedError):
    def __init__(self) -> None:
        super().__init__(
            "This endpoint needs a signed-in user: send the access token from /auth/login, "
            "not an API key.",
            code="session_required",
        )


class RoleRequiredError(PermissionDeniedError):
    def __init__(self, role: Role) -> None:
        super().__init__(f"This needs the {role} role.", code="role_required")


def is_session(identity: Identity) -> bool:
    return identity.principal_type == "user"


def is_api_key(identity: Identity) -> bool:
    return identity.principal_type == "api_key"


def allows(identity: Identity, operation: Operation) -> bool:
    grant = POLICY[operation]
    if identity.principal_type == "user":
        return identity.role in grant.sessions
    if identity.principal_type == "api_key":
        return grant.api_keys
    if identity.principal_type == "service":
        return grant.services
    return False


def require_session(identity: Identity) -> None:
    """A signed-in user of a tenant."""
    if not is_session(identity) or identity.tenant_id is None:
        raise SessionRequiredError()


def require_role(identity: Identity, operation: Operation) -> None:
    """A signed-in user whose role may do `operation`."""
    require_session(identity)
    if not allows(identity, operation):
        least = min(POLICY[operation].sessions, key=_REACH.index)
        raise RoleRequiredError(least)


def tenant_reach(identity: Identity) -> str | None:
    """The one tenant this caller reaches; None (every tenant) for platform admins."""
    if allows(identity, Operation.REACH_ANY_TENANT):
        return None
    return identity.tenant_scope


def reaches_tenant(identity: Identity, tenant_id: str) -> bool:
    return identity.tenant_id == tenant_id or allows(identity, Operation.REACH_ANY_TENANT)
