"""The gateway as Kong would be judged: routing, credentials, limits, failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from openapi_spec_validator import validate

from cli.stack.ports import free_port
from shared.access import Role
from shared.identity import Identity, mint
from shared.secrets import IDENTITY
from tests.e2e.accounts import (
    PASSWORD,
    create_key,
    key_headers,
    platform_admin,
    register,
    unique_email,
)
from tests.e2e.gateways import extra_gateway
from tests.e2e.stack import RunningStack
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


def error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    detail: dict[str, str] = body["error"]
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


class TestOnboarding:
    def test_the_seed_documents_curl_calls_work(self, stack: RunningStack) -> None:
        curl = shutil.which("curl")
        if curl is None:
            pytest.skip("curl is not installed")
        email = unique_email("seed")
        register = subprocess.run(
            [curl, "-s", "-X", "POST", f"{stack.gateway}/auth/register",
             "-H", "Content-Type: application/json",
             "-d", json.dumps({"email": email, "password": "securepassword"})],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        jwt = json.loads(register.stdout)["access_token"]
        key = subprocess.run(
            [curl, "-s", "-X", "POST", f"{stack.gateway}/auth/api_keys",
             "-H", f"Authorization: Bearer {jwt}",
             "-H", "Content-Type: application/json", "-d", '{"environment": "test"}'],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        secret = json.loads(key.stdout)["secret"]
        assert secret.startswith("sk_test_")
        protected = subprocess.run(
            [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
             f"{stack.gateway}/ledger/accounts", "-H", f"Authorization: Bearer {secret}"],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        assert protected.stdout == "200"

    def test_stripe_style_basic_auth_with_the_key_as_user(self, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        response = gw.get("/ledger/accounts", auth=(secret, ""))
        assert response.status_code == 200

    def test_no_credential_is_401(self, gw: httpx.Client) -> None:
        response = gw.get("/ledger/accounts")
        assert response.status_code == 401
        assert error(response)["code"] == "missing_credentials"

    def test_unknown_and_internal_routes_are_404(self, gw: httpx.Client) -> None:
        for path in ("/nowhere", "/internal/api_keys/verify", "/ledgerx"):
            response = gw.post(path, json={})
            assert response.status_code == 404, path
            assert error(response)["code"] == "route_not_found"


class TestIdentity:
    def test_a_client_cannot_send_its_own_identity(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        forged = mint(
            Identity(
                principal=owner.user_id,
                principal_type="user",
                tenant_id=owner.tenant_id,
                role=Role.PLATFORM_ADMIN,
            ),
            # The stack's own key: even a token services would accept is not the client's to send.
            stack.secrets[IDENTITY.env].split(",")[0],
        )
        response = gw.get("/tenants", headers={**owner.headers, "X-Micro-Identity": forged})
        assert response.status_code == 403

    def test_request_id_reaches_the_service(self, stack: RunningStack, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        response = gw.get(
            "/ledger/accounts", headers={**key_headers(secret), "X-Request-Id": "trace-e2e-42"}
        )
        assert response.headers["x-request-id"] == "trace-e2e-42"
        log = stack.root / ".micro" / "logs" / "ledger.log"
        eventually(
            lambda: '"request_id": "trace-e2e-42"' in log.read_text(),
            what="the request id in the ledger's log",
        )


class TestRateLimits:
    def test_headers_on_every_response(self, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        first = gw.get("/ledger/accounts", headers=key_headers(secret))
        second = gw.get("/ledger/accounts/acc_missing", headers=key_headers(secret))
        assert second.status_code == 404
        for response, remaining in ((first, 99), (second, 98)):
            assert response.headers["ratelimit-policy"] == "100;w=60"
            assert response.headers["x-ratelimit-limit"] == "100"
            assert response.headers["x-ratelimit-remaining"] == str(remaining)
            assert f"remaining={remaining}" in response.headers["ratelimit"]
            assert int(response.headers["x-ratelimit-reset"]) > time.time()

    def test_exact_across_two_gateway_processes(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        with extra_gateway(stack) as second:
            urls = [stack.gateway, second.url]

            async def burst() -> list[int]:
                async with httpx.AsyncClient(timeout=60) as client:
                    responses = await asyncio.gather(
                        *(
                            client.get(
                                f"{urls[i % 2]}/ledger/accounts", headers=key_headers(secret)
                            )
                            for i in range(150)
                        )
                    )
                return [r.status_code for r in responses]

            statuses = asyncio.run(burst())
        assert statuses.count(200) == 100
        assert statuses.count(429) == 50

    def test_429_in_the_shared_shape_with_retry_after(self, gw: httpx.Client) -> None:
        admin = platform_admin(gw)
        # Platform admins may set a key's limit; the key belongs to the platform tenant.
        secret = create_key(gw, admin, rate_limit=3)["secret"]
        statuses = [gw.get("/ledger/accounts", headers=key_headers(secret)) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        refused = statuses[-1]
        assert error(refused)["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"

    def test_a_tenants_limit_set_by_the_platform_applies_to_its_cached_keys(
        self, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        assert gw.get("/ledger/accounts", headers=key_headers(secret)).status_code == 200
        admin = platform_admin(gw)
        updated = gw.put(
            f"/tenants/{owner.tenant_id}", json={"rate_limit": 2}, headers=admin.headers
        )
        assert updated.status_code == 200
        assert updated.json()["rate_limit"] == 2
        # The cache eviction travels over pub/sub: wait for the new limit to show.
        eventually(
            lambda: (
                gw.get("/ledger/accounts", headers=key_headers(secret)).headers.get(
                    "x-ratelimit-limit"
                )
                == "2"
            ),
            within=5,
            what="the new limit at the gateway",
        )
        # At least two admissions are now inside the window: the next one is refused.
        refused = gw.get("/ledger/accounts", headers=key_headers(secret))
        assert refused.status_code == 429
        assert refused.headers["x-ratelimit-limit"] == "2"

    def test_tenant_admin_cannot_raise_its_own_limit(self, gw: httpx.Client) -> None:
        owner = register(gw)
        response = gw.post(
            "/auth/api_keys", json={"environment": "test", "rate_limit": 100000},
            headers=owner.headers,
        )  # fmt: skip
        assert response.status_code == 403

    def test_login_brute_force_is_limited_per_ip(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        # A load balancer in front says who the client is; this one is new to the limiter.
        attacker = {"X-Forwarded-For": f"203.0.113.{secrets.randbelow(250) + 1}, 10.0.0.1"}
        login = {"email": owner.email, "password": PASSWORD}
        with (
            extra_gateway(stack, login_rate_limit="5", trusted_proxies='["127.0.0.1"]') as strict,
            strict.client() as client,
        ):
            attempts = [
                client.post(
                    "/auth/login", json={**login, "password": f"guess-{n}"}, headers=attacker
                )
                for n in range(7)
            ]
            statuses = [r.status_code for r in attempts]
            assert statuses[:5] == [401] * 5
            assert statuses[5:] == [429, 429]
            # Even the right password waits now: the limit is on the door, not the guess.
            assert client.post("/auth/login", json=login, headers=attacker).status_code == 429
            # Another client is not held up by the attacker.
            other = {"X-Forwarded-For": "198.51.100.7"}
            assert client.post("/auth/login", json=login, headers=other).status_code == 200


class TestKeyLifecycle:
    def test_listed_masked_with_last_use(self, gw: httpx.Client) -> None:
        owner = register(gw)
        created = create_key(gw, owner)
        assert gw.get("/ledger/accounts", headers=key_headers(created["secret"])).status_code == 200
        listed = gw.get("/auth/api_keys", headers=owner.headers).json()["data"]
        [key] = [k for k in listed if k["id"] == created["id"]]
        assert key["masked"] == f"sk_test_...{created['secret'][-4:]}"
        assert "secret" not in key
        assert created["secret"] not in json.dumps(listed)
        assert key["last_used"] is not None
        assert abs(key["last_used"] - time.time()) < 30

    def test_live_key_acts_in_live_mode_only(self, gw: httpx.Client) -> None:
        owner = register(gw)
        live = create_key(gw, owner, environment="live")
        assert live["secret"].startswith("sk_live_")
        assert live["livemode"] is True

    def test_revoked_key_is_refused_by_every_gateway_within_a_second(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        created = create_key(gw, owner)
        headers = key_headers(created["secret"])
        with extra_gateway(stack) as second, second.client() as other:
            # Both gateways have the key cached.
            assert gw.get("/ledger/accounts", headers=headers).status_code == 200
            assert other.get("/ledger/accounts", headers=headers).status_code == 200
            revoked = gw.delete(f"/auth/api_keys/{created['id']}", headers=owner.headers)
            assert revoked.status_code == 200
            began = time.monotonic()
            refused = {"first": False, "second": False}
            while not all(refused.values()) and time.monotonic() - began < 1.0:
                refused["first"] = gw.get("/ledger/accounts", headers=headers).status_code == 401
                refused["second"] = (
                    other.get("/ledger/accounts", headers=headers).status_code == 401
                )
            assert refused == {"first": True, "second": True}
            assert error(other.get("/ledger/accounts", headers=headers))["code"] == (
                "api_key_revoked"
            )

    def test_rolled_key_works_during_grace_then_not(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        old = create_key(gw, owner)
        with extra_gateway(stack) as second, second.client() as other:
            assert (
                other.get("/ledger/accounts", headers=key_headers(old["secret"])).status_code == 200
            )
            rolled = gw.post(
                f"/auth/api_keys/{old['id']}/roll",
                json={"grace_period_seconds": 2},
                headers=owner.headers,
            )
            assert rolled.status_code == 201
            new = rolled.json()
            assert new["secret"] != old["secret"]
            for client in (gw, other):
                assert (
                    client.get("/ledger/accounts", headers=key_headers(new["secret"])).status_code
                    == 200
                )
                assert (
                    client.get("/ledger/accounts", headers=key_headers(old["secret"])).status_code
                    == 200
                )
            time.sleep(2.2)
            for client in (gw, other):
                late = client.get("/ledger/accounts", headers=key_headers(old["secret"]))
                assert late.status_code == 401
                assert error(late)["code"] in ("api_key_expired", "invalid_api_key")
                assert (
                    client.get("/ledger/accounts", headers=key_headers(new["secret"])).status_code
                    == 200
                )

    def test_roll_without_grace_revokes_at_once(self, gw: httpx.Client) -> None:
        owner = register(gw)
        old = create_key(gw, owner)
        assert gw.get("/ledger/accounts", headers=key_headers(old["secret"])).status_code == 200
        rolled = gw.post(f"/auth/api_keys/{old['id']}/roll", json={}, headers=owner.headers)
        assert rolled.status_code == 201
        assert gw.get("/ledger/accounts", headers=key_headers(old["secret"])).status_code == 401


class TestFailures:
    def test_redis_down_fails_open_and_is_counted(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        dead_redis = f"redis://127.0.0.1:{free_port()}/0"
        with extra_gateway(stack, redis_url=dead_redis) as blind, blind.client() as client:
            for _ in range(3):
                began = time.monotonic()
                response = client.get("/ledger/accounts", headers=key_headers(secret))
                assert response.status_code == 200
                assert time.monotonic() - began < 2
                assert "x-ratelimit-limit" not in response.headers
            metrics = blind.metrics()
        assert 'micro_gateway_redis_unavailable_total{operation="rate_limit"}' in metrics

    def test_upstream_down_is_503_in_the_shared_shape(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        dead = f"http://127.0.0.1:{free_port()}"
        with extra_gateway(stack, ledger_url=dead) as broken, broken.client() as client:
            began = time.monotonic()
            response = client.get("/ledger/accounts", headers=key_headers(secret))
            assert time.monotonic() - began < 5
            health = client.get("/health")
        assert response.status_code == 503
        detail = error(response)
        assert (detail["type"], detail["code"]) == ("api_error", "upstream_unavailable")
        assert health.status_code == 503
        assert health.json()["services"]["ledger"].startswith("down")

    def test_hanging_upstream_is_504_within_the_timeout(
        self, stack: RunningStack, gw: httpx.Client
    ) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        with (
            silent_server() as port,
            extra_gateway(
                stack, ledger_url=f"http://127.0.0.1:{port}", upstream_timeout="1"
            ) as slow,
            slow.client() as client,
        ):
            began = time.monotonic()
            response = client.get("/ledger/accounts", headers=key_headers(secret))
            elapsed = time.monotonic() - began
        assert response.status_code == 504
        assert error(response)["code"] == "upstream_timeout"
        assert elapsed < 5


class TestDocs:
    def test_openapi_merges_every_service(self, gw: httpx.Client) -> None:
        spec = gw.get("/openapi.json").json()
        for path in ("/auth/register", "/auth/api_keys", "/tenants/{tenant_id}",
                     "/ledger/accounts/{account_id}", "/payments/payment_intents/{intent_id}",
                     "/wallet/{wallet_id}", "/events/{event_id}"):  # fmt: skip
            assert path in spec["paths"], path
        assert "RegisterRequest" in spec["components"]["schemas"]

    def test_served_document_is_valid_and_public_only(self, gw: httpx.Client) -> None:
        spec = gw.get("/openapi.json").json()
        validate(spec)
        assert not [path for path in spec["paths"] if path.startswith("/internal")]
        for path in ("/health", "/cli/sessions", "/cli/listen", "/api/health", "/docs"):
            assert path in spec["paths"], path

    def test_docs_page_and_its_assets_are_served_locally(self, gw: httpx.Client) -> None:
        page = gw.get("/docs")
        assert page.status_code == 200
        assert "/docs/static/swagger-ui-bundle.js" in page.text
        assert "http" not in page.text.split("<body>")[1].split("</body>")[0].replace(
            "/openapi.json", ""
        )
        script = gw.get("/docs/static/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert len(script.content) > 100_000


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """An upstream that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


class TestIdempotency:
    def test_a_key_replays_through_the_gateway(self, gw: httpx.Client) -> None:
        owner = register(gw)
        secret = create_key(gw, owner)["secret"]
        headers = {**key_headers(secret), "Idempotency-Key": "create-cash-1"}
        body = {"name": "cash", "type": "asset", "currency": "usd"}
        first = gw.post("/ledger/accounts", json=body, headers=headers)
        again = gw.post("/ledger/accounts", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        listed = gw.get("/ledger/accounts", headers=key_headers(secret)).json()["data"]
        assert len(listed) == 1
