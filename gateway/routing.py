"""The routing table: which service serves a path, and what credential it needs.

Seed-compatible aliases (`/api/auth/*`, `/api/tenant*`, `/api/wallet/*`, `/api/webhook/*`)
are rewritten onto the canonical paths first, so both reach the same handlers; so are
Stripe's `/v1/*` paths (shared/v1.py), whose requests carry the `stripe` dialect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from shared import v1
from shared.access import ADMINS, EVERYONE, Role
from shared.v1 import Dialect


class Access(Enum):
    PUBLIC = "public"  # no credential (sign-up and sign-in doors, provider webhooks)
    SESSION = "session"  # a signed-in user's access token
    API = "api"  # an API key, or a user's access token


@dataclass(frozen=True, slots=True)
class Rule:
    prefix: str
    service: str
    access: Access
    # Per-IP limit bucket for the doors that take passwords.
    ip_limit: str | None = None
    # Roles whose access token may be used on an API route. A plain USER acts only where the
    # service scopes it to its own things (its wallets); elsewhere it is an admin's or a
    # key's business.
    session_roles: frozenset[Role] = ADMINS


@dataclass(frozen=True, slots=True)
class Target:
    rule: Rule
    path: str
    dialect: Dialect = "micro"


RULES: tuple[Rule, ...] = (
    Rule("/auth/register", "auth", Access.PUBLIC, ip_limit="register"),
    Rule("/auth/signup", "auth", Access.PUBLIC, ip_limit="register"),
    Rule("/auth/login", "auth", Access.PUBLIC, ip_limit="login"),
    Rule("/auth/admin", "auth", Access.PUBLIC, ip_limit="login"),
    Rule("/auth/refresh", "auth", Access.PUBLIC, ip_limit="login"),
    Rule("/auth/.well-known/jwks.json", "auth", Access.PUBLIC),
    Rule("/auth", "auth", Access.SESSION),
    Rule("/tenants", "auth", Access.SESSION),
    Rule("/webhooks", "payments", Access.PUBLIC),
    Rule("/payments", "payments", Access.API),
    Rule("/ledger", "ledger", Access.API),
    Rule("/wallet", "wallet", Access.API, session_roles=EVERYONE),
    Rule("/events", "events", Access.API),
    Rule("/webhook_endpoints", "events", Access.API),
)

_ALIASES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/api/auth(/.*)?$"), r"/auth\1"),
    (re.compile(r"^/api/tenant/create/?$"), "/tenants"),
    (re.compile(r"^/api/tenant(/.*)?$"), r"/tenants\1"),
    (re.compile(r"^/api/wallet(/.*)?$"), r"/wallet\1"),
    (re.compile(r"^/api/webhook(/.*)?$"), r"/webhooks\1"),
)


def canonical(path: str) -> str:
    if path.startswith("/api/"):
        for pattern, replacement in _ALIASES:
            if pattern.match(path):
                return pattern.sub(replacement, path)
    return path


def resolve(path: str) -> Target | None:
    if v1.is_v1(path):
        # Stripe serves nothing at a path ending in a slash (a service would redirect it to
        # the native path, at its own address).
        native = None if path.endswith("/") else v1.native_path(path)
        found = None if native is None else resolve(native)
        return None if found is None else Target(found.rule, found.path, dialect="stripe")
    path = canonical(path)
    for rule in RULES:
        if path == rule.prefix or path.startswith(rule.prefix + "/"):
            return Target(rule, path)
    return None
