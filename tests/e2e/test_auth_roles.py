"""Who may call which tenant and user endpoint, through the gateway.

The matrix: every endpoint as each of six callers. Anonymous callers are 401 and API keys
403 session_required everywhere here (these are session endpoints); the four signed-in
columns differ by endpoint. A TENANT_ADMIN asking for another tenant gets 404, so ids
tell nothing; a USER asking for its own tenant's admin operations gets 403.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx
import pytest

from services.auth.settings import DEV_ADMIN_EMAIL
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    act_on_key,
    create_key,
    key_headers,
    platform_admin,
    register,
    signup_user,
    tenant_slug,
    unique_email,
)
from tests.e2e.stack import RunningStack
from tests.support.refusals import error, login_status, refused
from tests.support.secrets import TEST_ADMIN_PASSWORD

pytestmark = pytest.mark.e2e

Actor = Literal["anonymous", "user_a", "admin_a", "admin_b", "platform", "key_a"]
ACTORS: tuple[Actor, ...] = ("anonymous", "user_a", "admin_a", "admin_b", "platform", "key_a")

Expect = tuple[int, str | None]
OK: Expect = (200, None)
CREATED: Expect = (201, None)
DENIED: Expect = (403, "role_required")
HIDDEN: Expect = (404, "resource_missing")
NO_CREDENTIAL: Expect = (401, "missing_credentials")
NOT_A_SESSION: Expect = (403, "session_required")


@dataclass(frozen=True)
class TenantA:
    """The tenant under test: its owner (TENANT_ADMIN), a USER, an API key, its slug."""

    owner: Account
    user: Account
    key: str
    slug: str


@dataclass(frozen=True)
class World:
    a: TenantA
    owner_b: Account
    admin: Account

    def headers(self, actor: Actor) -> dict[str, str]:
        return {
            "anonymous": {},
            "user_a": self.a.user.headers,
            "admin_a": self.a.owner.headers,
            "admin_b": self.owner_b.headers,
            "platform": self.admin.headers,
            "key_a": key_headers(self.a.key),
        }[actor]


def make_tenant_a(client: httpx.Client) -> TenantA:
    owner = register(client)
    user = signup_user(client, owner)
    key: str = create_key(client, owner)["secret"]
    return TenantA(owner=owner, user=user, key=key, slug=tenant_slug(client, owner))


@pytest.fixture(scope="module")
def world(stack: RunningStack) -> Iterator[World]:
    with stack.client() as client:
        yield World(a=make_tenant_a(client), owner_b=register(client), admin=platform_admin(client))


@dataclass(frozen=True)
class Row:
    """One endpoint; `user_a`..`platform` are what each signed-in caller gets."""

    method: str
    path: str
    user_a: Expect
    admin_a: Expect
    admin_b: Expect
    platform: Expect
    returns: str
    body: Callable[[], dict[str, Any]] | None = None
    # Destructive rows run against a fresh tenant A; this names who must (not) still sign in.
    survivor: Callable[[TenantA], str] | None = None

    def expect(self, actor: Actor) -> Expect:
        if actor == "anonymous":
            return NO_CREDENTIAL
        if actor == "key_a":
            return NOT_A_SESSION
        expected: Expect = getattr(self, actor)
        return expected

    def url(self, world: World) -> str:
        return self.path.format(
            tenant_a=world.a.owner.tenant_id, slug_a=world.a.slug, user_a=world.a.user.user_id
        )


def new_tenant() -> dict[str, Any]:
    return {"name": f"Matrix {secrets.token_hex(4)}"}


def new_user() -> dict[str, Any]:
    return {"email": unique_email("made"), "password": PASSWORD}


def renamed() -> dict[str, Any]:
    return {"name": "Renamed by the matrix"}


def new_key() -> dict[str, Any]:
    return {"environment": "test"}


def owner_of(a: TenantA) -> str:
    return a.owner.email


def user_of(a: TenantA) -> str:
    return a.user.email


# fmt: off
#       method    path                          USER A  admin A  admin B  platform returns
ROWS = (
    Row("GET",    "/tenants",                   DENIED, DENIED,  DENIED,  OK,      "list"),
    Row("POST",   "/tenants",                   DENIED, DENIED,  DENIED,  CREATED, "tenant",
        body=new_tenant),
    Row("GET",    "/tenants/{tenant_a}",        DENIED, OK,      HIDDEN,  OK,      "tenant"),
    Row("PUT",    "/tenants/{tenant_a}",        DENIED, OK,      HIDDEN,  OK,      "tenant",
        body=renamed),
    # Only platform admins delete, so the 403 comes before any lookup and leaks nothing.
    Row("DELETE", "/tenants/{tenant_a}",        DENIED, DENIED,  DENIED,  OK,      "tenant",
        survivor=owner_of),
    Row("GET",    "/tenants/slug/{slug_a}",     DENIED, OK,      HIDDEN,  OK,      "tenant"),
    Row("GET",    "/auth/me",                   OK,     OK,      OK,      OK,      "user"),
    Row("GET",    "/auth/users",                DENIED, OK,      OK,      OK,      "list"),
    Row("POST",   "/auth/users",                DENIED, CREATED, CREATED, CREATED, "user",
        body=new_user),
    # Users are managed inside a tenant: platform admins manage the platform tenant's.
    Row("DELETE", "/auth/users/{user_a}",       DENIED, OK,      HIDDEN,  HIDDEN,  "user",
        survivor=user_of),
    Row("GET",    "/auth/api_keys",             DENIED, OK,      OK,      OK,      "list"),
    Row("POST",   "/auth/api_keys",             DENIED, CREATED, CREATED, CREATED, "api_key",
        body=new_key),
)

ALIAS_ROWS = (
    Row("GET",    "/api/tenant",                DENIED, DENIED,  DENIED,  OK,      "list"),
    Row("POST",   "/api/tenant/create",         DENIED, DENIED,  DENIED,  CREATED, "tenant",
        body=new_tenant),
    Row("GET",    "/api/tenant/{tenant_a}",     DENIED, OK,      HIDDEN,  OK,      "tenant"),
    Row("PUT",    "/api/tenant/{tenant_a}",     DENIED, OK,      HIDDEN,  OK,      "tenant",
        body=renamed),
    Row("DELETE", "/api/tenant/{tenant_a}",     DENIED, DENIED,  DENIED,  OK,      "tenant",
        survivor=owner_of),
    Row("GET",    "/api/tenant/slug/{slug_a}",  DENIED, OK,      HIDDEN,  OK,      "tenant"),
)
# fmt: on


def cells(rows: tuple[Row, ...]) -> list[Any]:
    return [
        pytest.param(row, actor, id=f"{row.method} {row.path} as {actor}")
        for row in rows
        for actor in ACTORS
    ]


def check_cell(client: httpx.Client, world: World, row: Row, actor: Actor) -> None:
    if row.survivor is not None:
        world = replace(world, a=make_tenant_a(client))
    response = client.request(
        row.method,
        row.url(world),
        json=row.body() if row.body else None,
        headers=world.headers(actor),
    )
    status, code = row.expect(actor)
    assert response.status_code == status, response.text
    if code is None:
        assert response.json()["object"] == row.returns
    else:
        assert error(response)["code"] == code
    if row.survivor is not None:
        # A refused delete left the target able to sign in; an accepted one did not.
        expected_login = 200 if code is not None else 401
        assert login_status(client, row.survivor(world.a)) == expected_login


@pytest.mark.parametrize(("row", "actor"), cells(ROWS))
def test_role_matrix(gw: httpx.Client, world: World, row: Row, actor: Actor) -> None:
    check_cell(gw, world, row, actor)


@pytest.mark.parametrize(("row", "actor"), cells(ALIAS_ROWS))
def test_role_matrix_through_seed_aliases(
    gw: httpx.Client, world: World, row: Row, actor: Actor
) -> None:
    check_cell(gw, world, row, actor)


def deactivated(client: httpx.Client) -> TenantA:
    """A new tenant A whose USER was signed in, and was deactivated by its owner just now."""
    a = make_tenant_a(client)
    assert client.get("/auth/me", headers=a.user.headers).status_code == 200
    assert client.delete(f"/auth/users/{a.user.user_id}", headers=a.owner.headers).is_success
    return a


class TestDeactivatedUser:
    def test_cannot_log_in(self, gw: httpx.Client) -> None:
        a = deactivated(gw)
        response = gw.post("/auth/login", json={"email": a.user.email, "password": PASSWORD})
        refused(response, 401, "account_disabled")

    def test_its_access_token_stops_at_once(self, gw: httpx.Client) -> None:
        a = deactivated(gw)
        refused(gw.get("/auth/me", headers=a.user.headers), 401, "session_revoked")

    def test_its_refresh_token_stops(self, gw: httpx.Client) -> None:
        a = deactivated(gw)
        response = gw.post("/auth/refresh", json={"refresh_token": a.user.refresh_token})
        assert response.status_code == 401

    def test_an_admin_cannot_deactivate_itself(self, gw: httpx.Client) -> None:
        owner = register(gw)
        response = gw.delete(f"/auth/users/{owner.user_id}", headers=owner.headers)
        refused(response, 409, "cannot_deactivate_self")
        assert login_status(gw, owner.email) == 200


def deleted(client: httpx.Client, world: World) -> TenantA:
    """A new tenant A, whose API key worked, deleted (disabled) by the platform admin."""
    a = make_tenant_a(client)
    assert client.get("/ledger/accounts", headers=key_headers(a.key)).status_code == 200
    response = client.delete(f"/tenants/{a.owner.tenant_id}", headers=world.admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disabled"
    return a


class TestDeletedTenant:
    def test_its_owner_cannot_log_in(self, gw: httpx.Client, world: World) -> None:
        a = deleted(gw, world)
        response = gw.post("/auth/login", json={"email": a.owner.email, "password": PASSWORD})
        refused(response, 401, "account_disabled")

    def test_its_api_key_stops(self, gw: httpx.Client, world: World) -> None:
        a = deleted(gw, world)
        response = gw.get("/ledger/accounts", headers=key_headers(a.key))
        assert response.status_code == 401
        assert error(response)["type"] == "authentication_error"

    def test_its_owners_access_token_stops(self, gw: httpx.Client, world: World) -> None:
        a = deleted(gw, world)
        refused(gw.get("/auth/me", headers=a.owner.headers), 401, "session_revoked")

    def test_nobody_can_sign_up_to_it(self, gw: httpx.Client, world: World) -> None:
        a = deleted(gw, world)
        response = gw.post(
            "/auth/signup",
            json={"email": unique_email(), "password": PASSWORD, "tenant": a.slug},
        )
        assert response.status_code == 404
        assert error(response)["param"] == "tenant"


class TestPlatformTenant:
    @pytest.mark.parametrize("by", ["slug", "id"])
    def test_nobody_signs_up_to_the_platform_tenant(
        self, gw: httpx.Client, world: World, by: str
    ) -> None:
        email = unique_email("stranger")
        tenant = "platform" if by == "slug" else world.admin.tenant_id
        response = gw.post(
            "/auth/signup", json={"email": email, "password": PASSWORD, "tenant": tenant}
        )
        assert response.status_code == 404, response.text
        assert error(response)["param"] == "tenant"
        assert login_status(gw, email) == 401

    def test_the_platform_tenant_cannot_be_deleted(self, gw: httpx.Client, world: World) -> None:
        response = gw.delete(f"/tenants/{world.admin.tenant_id}", headers=world.admin.headers)
        refused(response, 400, "tenant_protected")
        assert gw.post("/auth/users", json=new_user(), headers=world.admin.headers).is_success


class TestTenantScoping:
    def test_a_tenant_admin_lists_only_its_own_users(self, gw: httpx.Client) -> None:
        a = make_tenant_a(gw)
        b = register(gw)
        listed = {user["id"] for user in gw.get("/auth/users", headers=b.headers).json()["data"]}
        assert listed == {b.user_id}
        listed = {
            user["id"] for user in gw.get("/auth/users", headers=a.owner.headers).json()["data"]
        }
        assert listed == {a.owner.user_id, a.user.user_id}

    def test_a_tenant_admin_lists_only_its_own_keys(self, gw: httpx.Client) -> None:
        a = make_tenant_a(gw)
        b = register(gw)
        mine = create_key(gw, b)["id"]
        response = gw.get("/auth/api_keys", headers=b.headers)
        assert [key["id"] for key in response.json()["data"]] == [mine]
        assert gw.get("/auth/api_keys", headers=a.owner.headers).json()["data"][0]["id"] != mine

    @pytest.mark.parametrize("action", ["revoke", "roll"])
    def test_another_tenants_key_cannot_be_revoked_or_rolled(
        self, gw: httpx.Client, world: World, action: str
    ) -> None:
        a = make_tenant_a(gw)
        key_id = gw.get("/auth/api_keys", headers=a.owner.headers).json()["data"][0]["id"]
        refused(act_on_key(gw, world.owner_b, key_id, action), 404, "resource_missing")
        keys = gw.get("/auth/api_keys", headers=a.owner.headers).json()["data"]
        assert [(key["status"], key["rolled_to"]) for key in keys] == [("active", None)]
        assert gw.get("/ledger/accounts", headers=key_headers(a.key)).status_code == 200

    def test_a_user_cannot_manage_keys(self, gw: httpx.Client) -> None:
        a = make_tenant_a(gw)
        key_id = gw.get("/auth/api_keys", headers=a.owner.headers).json()["data"][0]["id"]
        response = gw.delete(f"/auth/api_keys/{key_id}", headers=a.user.headers)
        refused(response, 403, "role_required")
        assert gw.get("/ledger/accounts", headers=key_headers(a.key)).status_code == 200

    def test_a_tenant_admin_cannot_raise_its_own_rate_limit(self, gw: httpx.Client) -> None:
        owner = register(gw)
        response = gw.put(
            f"/tenants/{owner.tenant_id}", json={"rate_limit": 1_000_000}, headers=owner.headers
        )
        refused(response, 403, "role_required")
        tenant = gw.get(f"/tenants/{owner.tenant_id}", headers=owner.headers).json()
        assert tenant["rate_limit"] is None

    def test_a_platform_admin_sets_a_tenants_rate_limit(
        self, gw: httpx.Client, world: World
    ) -> None:
        owner = register(gw)
        response = gw.put(
            f"/tenants/{owner.tenant_id}", json={"rate_limit": 500}, headers=world.admin.headers
        )
        assert response.status_code == 200
        assert response.json()["rate_limit"] == 500

    def test_a_tenant_admin_cannot_set_a_keys_rate_limit(self, gw: httpx.Client) -> None:
        owner = register(gw)
        response = gw.post(
            "/auth/api_keys", json={"environment": "test", "rate_limit": 10_000},
            headers=owner.headers,
        )  # fmt: skip
        assert response.status_code == 403
        assert gw.get("/auth/api_keys", headers=owner.headers).json()["data"] == []


class TestSignInDoors:
    def test_a_tenant_admin_is_refused_at_the_admin_door(self, gw: httpx.Client) -> None:
        owner = register(gw)
        response = gw.post("/auth/admin", json={"email": owner.email, "password": PASSWORD})
        refused(response, 403, "not_platform_admin")

    def test_a_user_is_refused_at_the_admin_door(self, gw: httpx.Client, world: World) -> None:
        response = gw.post("/auth/admin", json={"email": world.a.user.email, "password": PASSWORD})
        assert response.status_code == 403

    def test_a_platform_admin_is_sent_to_the_admin_door(
        self, gw: httpx.Client, world: World
    ) -> None:
        response = gw.post(
            "/auth/login", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
        )
        refused(response, 403, "use_admin_login")

    def test_the_admin_door_answers_a_wrong_password_with_401(self, gw: httpx.Client) -> None:
        response = gw.post("/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": "nope-nope"})
        refused(response, 401, "invalid_credentials")

    def test_the_seed_admin_alias_signs_in_a_platform_admin(self, gw: httpx.Client) -> None:
        response = gw.post(
            "/api/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
        )
        assert response.status_code == 200
        assert response.json()["user"]["role"] == "PLATFORM_ADMIN"
