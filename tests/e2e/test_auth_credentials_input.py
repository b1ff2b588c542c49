"""Bad credentials through the gateway: bearer tokens forged, edited, unsigned or expired;
unknown and revoked API keys; refresh tokens reused or malformed; logout; /auth/me.

Every refusal is the shared error shape with a 4xx, never a 500 (tests/support/refusals.py).
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import subprocess
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.e2e.accounts import PASSWORD, Account, create_key, key_headers
from tests.e2e.stack import RunningStack
from tests.support.refusals import error, refused

pytestmark = pytest.mark.e2e


def random_key(prefix: str = "sk_test_") -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(40))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestBearerTokens:
    @pytest.mark.parametrize(
        ("authorization", "code"),
        [
            ("Bearer garbage", "invalid_token"),
            ("Bearer a.b.c", "invalid_token"),
            ("Bearer eyJhbGciOiJFZERTQSJ9", "invalid_token"),
            ("Bearer", "missing_credentials"),
            ("Token abcdef", "missing_credentials"),
            ("Basic !!!", "missing_credentials"),
        ],
    )
    def test_a_garbage_credential_is_401(
        self, gw: httpx.Client, authorization: str, code: str
    ) -> None:
        response = gw.get("/auth/me", headers={"Authorization": authorization})
        refused(response, 401, code)
        assert error(response)["type"] == "authentication_error"

    # The kid of Micro's own key, or one Micro never issued.
    @pytest.mark.parametrize("kid", [None, "attacker"], ids=["micro-kid", "another-kid"])
    def test_a_token_signed_with_another_key_is_401(
        self, gw: httpx.Client, owner: Account, kid: str | None
    ) -> None:
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        forged = jwt.encode(
            claims,
            Ed25519PrivateKey.generate(),
            algorithm="EdDSA",
            headers={"kid": kid or header["kid"]},
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        refused(response, 401, "invalid_token")

    def test_an_unsigned_token_is_401(self, gw: httpx.Client, owner: Account) -> None:
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        unsigned = ".".join(
            [
                b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": header["kid"]}).encode()),
                b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
        refused(response, 401, "invalid_token")

    def test_a_token_with_edited_claims_is_401(self, gw: httpx.Client, owner: Account) -> None:
        head, _, signature = owner.access_token.split(".")
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        edited = b64url(json.dumps({**claims, "role": "PLATFORM_ADMIN"}).encode())
        response = gw.get(
            "/tenants", headers={"Authorization": f"Bearer {head}.{edited}.{signature}"}
        )
        refused(response, 401, "invalid_token")

    def test_an_expired_token_is_401(
        self, gw: httpx.Client, stack: RunningStack, owner: Account
    ) -> None:
        # Signed with Micro's own key (read from the dev stack's database), only older.
        pem = subprocess.run(
            ["psql", stack.dsn("auth"), "-tAc",
             "select private_pem from signing_keys order by created_at desc limit 1"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        key = load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        header = jwt.get_unverified_header(owner.access_token)
        claims = jwt.decode(owner.access_token, options={"verify_signature": False})
        now = int(time.time())
        expired = jwt.encode(
            {**claims, "iat": now - 1000, "exp": now - 100},
            key,
            algorithm="EdDSA",
            headers={"kid": header["kid"]},
        )
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {expired}"})
        refused(response, 401, "token_expired")


class TestApiKeyCredentials:
    def test_an_unknown_key_is_401_and_masked(self, gw: httpx.Client) -> None:
        secret = random_key()
        response = gw.get("/ledger/accounts", headers=key_headers(secret))
        refused(response, 401, "invalid_api_key")
        assert f"sk_test_...{secret[-4:]}" in error(response)["message"]
        assert secret not in response.text
        assert secret[8:-4] not in response.text

    def test_an_unknown_key_on_a_session_endpoint_is_403(self, gw: httpx.Client) -> None:
        secret = random_key("sk_live_")
        response = gw.get("/auth/me", headers=key_headers(secret))
        refused(response, 403, "session_required")
        assert secret not in response.text

    def test_a_revoked_key_is_401(self, gw: httpx.Client, owner: Account) -> None:
        key = create_key(gw, owner)
        assert gw.get("/ledger/accounts", headers=key_headers(key["secret"])).status_code == 200
        revoked = gw.delete(f"/auth/api_keys/{key['id']}", headers=owner.headers)
        assert revoked.json()["status"] == "revoked"
        response = gw.get("/ledger/accounts", headers=key_headers(key["secret"]))
        assert response.status_code == 401, response.text
        assert error(response)["code"] in ("api_key_revoked", "invalid_api_key")
        assert key["secret"] not in response.text


class TestRefresh:
    def test_a_refresh_token_works_once(self, gw: httpx.Client, owner: Account) -> None:
        first = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        assert first.status_code == 200, first.text
        tokens = first.json()
        assert tokens["refresh_token"] != owner.refresh_token
        me = gw.get("/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.json()["id"] == owner.user_id

    def test_reusing_a_refresh_token_is_refused_and_ends_the_session(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        newer = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).json()
        again = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        refused(again, 401, "refresh_token_reused")
        # The thief or the owner holds `newer`: the whole family is revoked.
        response = gw.post("/auth/refresh", json={"refresh_token": newer["refresh_token"]})
        assert response.status_code == 401, response.text

    def test_reuse_also_ends_the_sessions_access_tokens(
        self, gw: httpx.Client, owner: Account
    ) -> None:
        newer = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).json()
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {newer['access_token']}"})
        refused(response, 401, "session_revoked")

    def test_reuse_leaves_other_sessions_alone(self, gw: httpx.Client, owner: Account) -> None:
        other = gw.post("/auth/login", json={"email": owner.email, "password": PASSWORD}).json()
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        response = gw.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("token", ["garbage", "rt_" + "x" * 43, "x" * 200])
    def test_an_unknown_refresh_token_is_401(self, gw: httpx.Client, token: str) -> None:
        response = gw.post("/auth/refresh", json={"refresh_token": token})
        refused(response, 401, "invalid_refresh_token")

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({}, "parameter_missing"),
            ({"refresh_token": ""}, "parameter_invalid"),
            ({"refresh_token": 123}, "parameter_invalid"),
            ({"refresh_token": "x" * 201}, "parameter_invalid"),
        ],
    )
    def test_a_bad_refresh_token_value_is_400(
        self, gw: httpx.Client, body: dict[str, Any], code: str
    ) -> None:
        refused(gw.post("/auth/refresh", json=body), 400, code, "refresh_token")

    def test_an_unknown_field_is_refused(self, gw: httpx.Client, owner: Account) -> None:
        response = gw.post(
            "/auth/refresh", json={"refresh_token": owner.refresh_token, "scope": "admin"}
        )
        refused(response, 400, "parameter_unknown", "scope")
        # Refused before use: the token still works.
        assert gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token}).is_success


class TestLogout:
    def test_logout_ends_the_access_token(self, gw: httpx.Client, owner: Account) -> None:
        assert gw.post("/auth/logout", headers=owner.headers).json()["revoked"] is True
        refused(gw.get("/auth/me", headers=owner.headers), 401, "session_revoked")

    def test_logout_ends_the_refresh_token(self, gw: httpx.Client, owner: Account) -> None:
        assert gw.post("/auth/logout", headers=owner.headers).status_code == 200
        response = gw.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
        refused(response, 401, "invalid_refresh_token")

    def test_logout_leaves_other_sessions_alone(self, gw: httpx.Client, owner: Account) -> None:
        other = gw.post("/auth/login", json={"email": owner.email, "password": PASSWORD}).json()
        assert gw.post("/auth/logout", headers=owner.headers).status_code == 200
        response = gw.get("/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"})
        assert response.status_code == 200

    def test_logout_without_a_credential_is_401(self, gw: httpx.Client) -> None:
        refused(gw.post("/auth/logout"), 401, "missing_credentials")

    def test_logout_with_an_api_key_is_403(self, gw: httpx.Client, owner: Account) -> None:
        secret = create_key(gw, owner)["secret"]
        refused(gw.post("/auth/logout", headers=key_headers(secret)), 403, "session_required")
        assert gw.get("/ledger/accounts", headers=key_headers(secret)).status_code == 200


class TestMe:
    def test_me_is_the_signed_in_user(self, gw: httpx.Client, owner: Account) -> None:
        me = gw.get("/auth/me", headers=owner.headers).json()
        assert (me["id"], me["email"], me["role"]) == (owner.user_id, owner.email, "TENANT_ADMIN")
        assert "password_hash" not in me

    def test_the_seed_me_alias_answers_the_same(self, gw: httpx.Client, owner: Account) -> None:
        canonical = gw.get("/auth/me", headers=owner.headers).json()
        assert gw.get("/api/auth/me", headers=owner.headers).json() == canonical
