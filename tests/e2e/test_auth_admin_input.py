"""Bad input to what a tenant's people manage, through the gateway: tenants, users, API keys.

Every refusal is the shared error shape with a 4xx, never a 500 (tests/support/refusals.py),
and a refused write leaves nothing behind that a caller could see: the slug and the email
stay free, the tenant keeps its name, no key is made, the key keeps working.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from shared.ids import new_id
from tests.e2e.accounts import (
    PASSWORD,
    Account,
    act_on_key,
    create_key,
    key_headers,
    register,
    signup_user,
    tenant_slug,
    unique_email,
)
from tests.support.refusals import email_is_free, login_status, refused

pytestmark = pytest.mark.e2e


class TestTenants:
    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            ({"name": None}, "parameter_invalid", "name"),
            ({"name": ""}, "parameter_invalid", "name"),
            ({"name": "n" * 201}, "parameter_invalid", "name"),
            pytest.param({"webhook_url": "not a url"}, "parameter_invalid", "webhook_url"),
            pytest.param({"webhook_url": 5}, "parameter_invalid", "webhook_url"),
            ({"rate_limit": 0}, "parameter_invalid", "rate_limit"),
            ({"rate_limit": "lots"}, "parameter_invalid", "rate_limit"),
            ({"status": "active"}, "parameter_unknown", "status"),
        ],
    )
    def test_a_refused_create_leaves_the_slug_free(
        self,
        gw: httpx.Client,
        admin: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        slug = f"bad-{secrets.token_hex(4)}"
        body = {"name": "Bad input", "slug": slug, **changes}
        refused(gw.post("/tenants", json=body, headers=admin.headers), 400, code, param)
        # Signing up to a slug is public: 404 says no tenant took it.
        signup = gw.post(
            "/auth/signup", json={"email": unique_email(), "password": PASSWORD, "tenant": slug}
        )
        assert signup.status_code == 404, signup.text

    def test_a_missing_name_is_named(self, gw: httpx.Client, admin: Account) -> None:
        response = gw.post("/tenants", json={"slug": "nameless"}, headers=admin.headers)
        refused(response, 400, "parameter_missing", "name")

    @pytest.mark.parametrize("slug", ["Upper", "with space", "-lead", "x" * 64, "émoji"])
    def test_a_bad_slug_is_refused(self, gw: httpx.Client, admin: Account, slug: str) -> None:
        response = gw.post("/tenants", json={"name": "Bad", "slug": slug}, headers=admin.headers)
        refused(response, 400, "parameter_invalid", "slug")

    def test_a_taken_slug_is_409(self, gw: httpx.Client, admin: Account, owner: Account) -> None:
        slug = tenant_slug(gw, owner)
        response = gw.post("/tenants", json={"name": "Copy", "slug": slug}, headers=admin.headers)
        refused(response, 409, "slug_taken", "slug")

    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            pytest.param({"webhook_url": "not a url"}, "parameter_invalid", "webhook_url"),
            ({"slug": "new-slug"}, "parameter_unknown", "slug"),
            ({"status": "disabled"}, "parameter_unknown", "status"),
            ({"rate_limit": -1}, "parameter_invalid", "rate_limit"),
        ],
    )
    def test_a_refused_update_changes_nothing(
        self,
        gw: httpx.Client,
        owner: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(path, json={"name": "Renamed", **changes}, headers=owner.headers)
        refused(response, 400, code, param)
        assert gw.get(path, headers=owner.headers).json() == before

    def test_malformed_json_on_update_changes_nothing(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(
            path,
            content=b'{"name": "Renamed"',
            headers={**owner.headers, "Content-Type": "application/json"},
        )
        refused(response, 400, "invalid_json")
        assert gw.get(path, headers=owner.headers).json() == before

    @pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
    @pytest.mark.parametrize(
        "tenant_id", [new_id("ten"), "nonsense"], ids=["well-formed", "nonsense"]
    )
    def test_an_unknown_tenant_is_404(
        self, gw: httpx.Client, admin: Account, method: str, tenant_id: str
    ) -> None:
        body = {"name": "Ghost"} if method == "PUT" else None
        response = gw.request(method, f"/tenants/{tenant_id}", json=body, headers=admin.headers)
        refused(response, 404, "resource_missing", "id")

    def test_an_unknown_slug_is_404(self, gw: httpx.Client, admin: Account) -> None:
        response = gw.get("/tenants/slug/no-such-slug", headers=admin.headers)
        refused(response, 404, "resource_missing", "slug")

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=many"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, admin: Account, query: str) -> None:
        response = gw.get(f"/tenants?{query}", headers=admin.headers)
        refused(response, 400, "parameter_invalid", "limit")


class TestUsers:
    @pytest.mark.parametrize(
        ("changes", "code", "param"),
        [
            ({"password": "short"}, "parameter_invalid", "password"),
            ({"password": 12345678}, "parameter_invalid", "password"),
            ({"password": "p" * 1025}, "parameter_invalid", "password"),
            ({"role": "PLATFORM_ADMIN"}, "parameter_invalid", "role"),
            ({"role": "owner"}, "parameter_invalid", "role"),
            ({"tenant_id": new_id("ten")}, "parameter_unknown", "tenant_id"),
        ],
    )
    def test_a_refused_create_leaves_the_email_free(
        self,
        gw: httpx.Client,
        owner: Account,
        changes: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        email = unique_email()
        body = {"email": email, "password": PASSWORD, **changes}
        refused(gw.post("/auth/users", json=body, headers=owner.headers), 400, code, param)
        assert email_is_free(gw, email)

    @pytest.mark.parametrize("field", ["email", "password"])
    def test_a_missing_field_is_named(self, gw: httpx.Client, owner: Account, field: str) -> None:
        body = {"email": unique_email(), "password": PASSWORD}
        del body[field]
        response = gw.post("/auth/users", json=body, headers=owner.headers)
        refused(response, 400, "parameter_missing", field)

    def test_a_taken_email_is_409(self, gw: httpx.Client, owner: Account) -> None:
        other = register(gw)
        body = {"email": other.email.title(), "password": PASSWORD}
        refused(gw.post("/auth/users", json=body, headers=owner.headers), 409, "email_taken")
        listed = gw.get("/auth/users", headers=owner.headers).json()["data"]
        assert [user["id"] for user in listed] == [owner.user_id]

    @pytest.mark.parametrize(
        "user_id", [new_id("usr"), "nonsense"], ids=["well-formed", "nonsense"]
    )
    def test_deactivating_an_unknown_user_is_404(
        self, gw: httpx.Client, owner: Account, user_id: str
    ) -> None:
        response = gw.delete(f"/auth/users/{user_id}", headers=owner.headers)
        refused(response, 404, "resource_missing", "id")

    def test_deactivating_twice_stays_deactivated(self, gw: httpx.Client, owner: Account) -> None:
        user = signup_user(gw, owner)
        assert gw.delete(f"/auth/users/{user.user_id}", headers=owner.headers).is_success
        again = gw.delete(f"/auth/users/{user.user_id}", headers=owner.headers)
        assert again.status_code == 200, again.text
        assert again.json()["is_active"] is False
        assert login_status(gw, user.email) == 401

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, owner: Account, query: str) -> None:
        response = gw.get(f"/auth/users?{query}", headers=owner.headers)
        refused(response, 400, "parameter_invalid", "limit")


def keys_of(client: httpx.Client, owner: Account) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = client.get("/auth/api_keys", headers=owner.headers).json()["data"]
    return data


class TestApiKeys:
    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"environment": "prod"}, "parameter_invalid", "environment"),
            ({"environment": 1}, "parameter_invalid", "environment"),
            ({"name": ""}, "parameter_invalid", "name"),
            ({"secret": "sk_test_mine"}, "parameter_unknown", "secret"),
            ({"tenant_id": new_id("ten")}, "parameter_unknown", "tenant_id"),
        ],
    )
    def test_a_refused_create_makes_no_key(
        self,
        gw: httpx.Client,
        owner: Account,
        body: dict[str, Any],
        code: str,
        param: str,
    ) -> None:
        response = gw.post("/auth/api_keys", json=body, headers=owner.headers)
        refused(response, 400, code, param)
        assert keys_of(gw, owner) == []

    def test_a_form_encoded_create_works(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post("/auth/api_keys", data={"environment": "live"}, headers=owner.headers)
        assert response.status_code == 201, response.text
        assert response.json()["secret"].startswith("sk_live_")

    @pytest.mark.parametrize("grace", [-1, 86_401, "soon", 1.5, None])
    def test_a_bad_grace_period_leaves_the_key_alone(
        self, gw: httpx.Client, owner: Account, grace: Any
    ) -> None:
        key = create_key(gw, owner)
        response = gw.post(
            f"/auth/api_keys/{key['id']}/roll",
            json={"grace_period_seconds": grace},
            headers=owner.headers,
        )
        refused(response, 400, "parameter_invalid", "grace_period_seconds")
        assert [(k["id"], k["status"], k["rolled_to"]) for k in keys_of(gw, owner)] == [
            (key["id"], "active", None)
        ]
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200

    def test_the_longest_grace_period_is_accepted(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        response = gw.post(
            f"/auth/api_keys/{key['id']}/roll",
            json={"grace_period_seconds": 86_400},
            headers=owner.headers,
        )
        assert response.status_code == 201, response.text
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200

    @pytest.mark.parametrize("action", ["revoke", "roll"])
    @pytest.mark.parametrize("key_id", [new_id("key"), "nonsense"], ids=["well-formed", "nonsense"])
    def test_an_unknown_key_is_404(
        self, gw: httpx.Client, owner: Account, action: str, key_id: str
    ) -> None:
        refused(act_on_key(gw, owner, key_id, action), 404, "resource_missing", "id")
        assert keys_of(gw, owner) == []

    @pytest.mark.parametrize("action", ["revoke", "roll"])
    def test_a_revoked_key_is_409(self, gw: httpx.Client, owner: Account, action: str) -> None:
        key = create_key(gw, owner)
        assert gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers).is_success
        refused(act_on_key(gw, owner, key["id"], action), 409, "api_key_revoked", "id")
        assert len(keys_of(gw, owner)) == 1

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x"])
    def test_a_bad_list_limit_is_400(self, gw: httpx.Client, owner: Account, query: str) -> None:
        response = gw.get(f"/auth/api_keys?{query}", headers=owner.headers)
        refused(response, 400, "parameter_invalid", "limit")


class TestNulCharacters:
    """A NUL byte in a name, an id, a lookup or a cursor: 400, and nothing changed."""

    def test_in_a_tenant_name_is_400(self, gw: httpx.Client, owner: Account) -> None:
        path = f"/tenants/{owner.tenant_id}"
        before = gw.get(path, headers=owner.headers).json()
        response = gw.put(path, json={"name": "Acme\x00"}, headers=owner.headers)
        refused(response, 400, "parameter_invalid", "name")
        assert gw.get(path, headers=owner.headers).json() == before

    def test_in_a_key_name_is_400(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post("/auth/api_keys", json={"name": "ci\x00"}, headers=owner.headers)
        refused(response, 400, "parameter_invalid", "name")
        assert keys_of(gw, owner) == []

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("DELETE", "/auth/users/%00"),
            ("DELETE", "/auth/api_keys/%00"),
            ("POST", "/auth/api_keys/%00/roll"),
        ],
    )
    def test_in_an_id_is_400(
        self, gw: httpx.Client, owner: Account, method: str, path: str
    ) -> None:
        body: dict[str, Any] | None = {} if method == "POST" else None
        response = gw.request(method, path, json=body, headers=owner.headers)
        refused(response, 400, "parameter_invalid", None)

    @pytest.mark.parametrize("path", ["/tenants/%00", "/tenants/slug/%00"])
    def test_in_a_tenant_lookup_is_400(self, gw: httpx.Client, admin: Account, path: str) -> None:
        refused(gw.get(path, headers=admin.headers), 400, "parameter_invalid", None)

    def test_in_a_list_cursor_is_400(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.get("/auth/users?starting_after=%00", headers=owner.headers)
        refused(response, 400, "parameter_invalid", None)
