"""Each service's access checks, as a table: what every caller is answered (status, code,
message), or None where it is let through.

The anonymous identity is left out: the gateway hands it only to public doors (sign-in,
provider webhooks), which ask none of these.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.auth.service import access as auth
from services.events.service import access as events
from services.ledger.service import verify as ledger
from services.payments.service import credentials as payments
from services.wallet.service import access as wallet
from shared.identity import Identity
from tests.support.access import CALLERS, SESSION_REQUIRED, Answer, answer, needs

COLUMNS = ("key", "service", "platform", "admin", "user")


def forbidden(message: str, code: str = "role_required") -> Answer:
    return 403, code, message


# The answers, by short names so that the table below fits on a line.
SESSION = SESSION_REQUIRED
PLATFORM = needs("PLATFORM_ADMIN")
ADMIN = needs("TENANT_ADMIN")
HIDDEN = (404, "resource_missing", "No such tenant: 'ten_b'.")
INTERNAL = forbidden("Internal endpoint.", "internal_only")
EVENTS = forbidden("Events and webhook endpoints are for API keys and tenant admins.")
OTHERS = forbidden("Only platform admins read another tenant's events.")
READ_ONLY = forbidden(
    "Platform admins can read every tenant's wallets but not act for a tenant.",
    "platform_admin_read_only",
)
MANAGER = forbidden("Only the tenant's admins and API keys can freeze or unfreeze wallets.")
PROVIDERS = forbidden("Only the tenant's admins and API keys manage providers.", "forbidden")
LEDGER = forbidden("Verifying the whole ledger needs a platform admin.")
OK = None

Check = Callable[[Identity], object]
CHECKS: dict[str, Check] = {
    "auth: a session": auth.require_user,
    "auth: a platform admin": auth.require_platform_admin,
    "auth: a tenant admin": auth.require_tenant_admin,
    "auth: its own tenant": lambda i: auth.require_tenant_access(i, "ten_a"),
    "auth: another tenant": lambda i: auth.require_tenant_access(i, "ten_b"),
    "auth: an internal endpoint": auth.require_internal,
    "events: its own": events.scope_of,
    "events: another tenant's": lambda i: events.scope_of(i, tenant_id="ten_b"),
    "wallet: move money": wallet.require_actor,
    "wallet: manage wallets": lambda i: wallet.require_manager(i, "freeze or unfreeze wallets"),
    "payments: provider accounts": payments.check_admin,
    "ledger: verify": ledger.require_platform_admin,
}

# fmt: off
#                                  key        service    platform   admin      user
ANSWERS: dict[str, tuple[Answer, ...]] = {
    "auth: a session":             (SESSION,   SESSION,   OK,        OK,        OK),
    "auth: a platform admin":      (SESSION,   SESSION,   OK,        PLATFORM,  PLATFORM),
    "auth: a tenant admin":        (SESSION,   SESSION,   OK,        OK,        ADMIN),
    "auth: its own tenant":        (SESSION,   SESSION,   OK,        OK,        ADMIN),
    "auth: another tenant":        (SESSION,   SESSION,   OK,        HIDDEN,    HIDDEN),
    "auth: an internal endpoint":  (INTERNAL,  OK,        INTERNAL,  INTERNAL,  INTERNAL),
    "events: its own":             (OK,        OK,        OK,        OK,        EVENTS),
    "events: another tenant's":    (OTHERS,    OTHERS,    OK,        OTHERS,    EVENTS),
    "wallet: move money":          (OK,        OK,        READ_ONLY, OK,        OK),
    "wallet: manage wallets":      (OK,        OK,        READ_ONLY, OK,        MANAGER),
    "payments: provider accounts": (OK,        PROVIDERS, OK,        OK,        PROVIDERS),
    "ledger: verify":              (LEDGER,    LEDGER,    OK,        LEDGER,    LEDGER),
}
# fmt: on


def test_the_table_answers_every_check() -> None:
    assert set(ANSWERS) == set(CHECKS)


@pytest.mark.parametrize(
    ("name", "caller", "expected"),
    [
        pytest.param(name, caller, row[i], id=f"{name} as {caller}")
        for name, row in ANSWERS.items()
        for i, caller in enumerate(COLUMNS)
    ],
)
def test_what_each_caller_is_answered(name: str, caller: str, expected: Answer) -> None:
    identity = CALLERS[caller]
    assert answer(lambda: CHECKS[name](identity)) == expected


def test_provider_accounts_need_a_tenant() -> None:
    keyless = Identity("key_x", "api_key")
    assert answer(lambda: payments.check_admin(keyless)) == PROVIDERS


@pytest.mark.parametrize(
    ("caller", "tenant", "owner", "plain"),
    [
        ("key", "ten_a", None, False),
        ("service", "ten_a", None, False),
        ("platform", None, None, False),
        ("admin", "ten_a", None, False),
        ("user", "ten_a", "usr_u", True),
    ],
)
def test_which_wallets_a_caller_sees(
    caller: str, tenant: str | None, owner: str | None, plain: bool
) -> None:
    """Platform admins read every tenant's; a USER only the wallets it owns."""
    identity = CALLERS[caller]
    assert wallet.tenant_scope(identity) == tenant
    assert wallet.owner_scope(identity) == owner
    assert wallet.is_plain_user(identity) is plain


@pytest.mark.parametrize(
    ("caller", "named", "scope"),
    [
        ("admin", None, events.Scope("ten_a", False)),
        ("admin", "ten_a", events.Scope("ten_a", False)),
        ("platform", None, events.Scope("ten_platform", False)),
        ("platform", "ten_b", events.Scope("ten_b", False)),
        ("key", "ten_a", events.Scope("ten_a", False)),
    ],
)
def test_the_events_a_caller_reads(caller: str, named: str | None, scope: events.Scope) -> None:
    assert events.scope_of(CALLERS[caller], tenant_id=named) == scope
