"""`POST /cli/sessions`: who may open a `micro listen` session, and what it hands back.

The gateway and auth run in this process on free ports, against the session's PostgreSQL
and Redis.
"""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from shared.ids import new_id
from tests.support.asgi import serve_with_uvicorn
from tests.support.relay import (
    PASSWORD,
    Stack,
    Tenant,
    api_key,
    assert_delivered,
    bearer,
    enable_live_mode,
    error_of,
    gateway_app,
    listening,
    owner,
    publish,
    session_when_allowed,
)


class TestCreateSession:
    async def test_a_key_gets_a_token_url_and_its_tenants_stable_secret(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        key = await api_key(client, who["access_token"])
        first = await client.post("/cli/sessions", headers=bearer(key))
        assert first.status_code == 201, first.text
        body = first.json()
        assert body["object"] == "cli_session"
        assert body["id"].startswith("clis_")
        assert body["websocket_url"] == f"ws://{with_auth.host}/cli/listen"
        assert body["livemode"] is False
        assert body["tenant_id"] == who["user"]["tenant_id"]
        assert body["secret"].startswith("whsec_")
        assert body["expires_at"] > 0
        assert "ratelimit" in first.headers
        second = await client.post("/cli/sessions", headers=bearer(key))
        assert second.json()["secret"] == body["secret"]

        # The token opens the tenant's stream, and what arrives verifies with the secret.
        tenant = Tenant(body["tenant_id"])
        async with listening(with_auth.host, body["websocket_token"]) as listener:
            rows = await publish(redis, tenant, 2)
            assert_delivered(await listener.events(2), rows, body["secret"])

    async def test_the_secret_survives_a_gateway_restart(
        self, with_auth: Stack, redis_url: str
    ) -> None:
        key = await api_key(with_auth.client, (await owner(with_auth.client))["access_token"])
        before = (await with_auth.client.post("/cli/sessions", headers=bearer(key))).json()
        # Another gateway process (a replica, or this one restarted): the same secret.
        async with (
            serve_with_uvicorn(gateway_app(redis_url, auth_url=with_auth.auth_url)) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as other,
        ):
            after = (await other.post("/cli/sessions", headers=bearer(key))).json()
        assert after["secret"] == before["secret"]
        assert after["websocket_token"] != before["websocket_token"]

    async def test_the_url_names_the_host_the_client_used(self, with_auth: Stack) -> None:
        key = await api_key(with_auth.client, (await owner(with_auth.client))["access_token"])
        response = await with_auth.client.post(
            "/cli/sessions", headers={**bearer(key), "Host": "micro.example.test:9000"}
        )
        assert response.json()["websocket_url"] == "ws://micro.example.test:9000/cli/listen"
        # A forwarded scheme counts only from a trusted proxy (a TLS load balancer).
        tls = {**bearer(key), "X-Forwarded-Proto": "https"}
        untrusted = await with_auth.client.post("/cli/sessions", headers=tls)
        assert untrusted.json()["websocket_url"].startswith("ws://")
        app = gateway_app(
            with_auth.redis_url, auth_url=with_auth.auth_url, trusted_proxies=["127.0.0.1"]
        )
        async with (
            serve_with_uvicorn(app) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as proxy,
        ):
            trusted = await proxy.post("/cli/sessions", headers=tls)
        assert trusted.json()["websocket_url"] == f"wss://{host}/cli/listen"

    async def test_live_needs_a_live_credential(self, with_auth: Stack) -> None:
        client = with_auth.client
        who = await owner(client)
        test_key = await api_key(client, who["access_token"])
        refused = await client.post(
            "/cli/sessions", headers=bearer(test_key), json={"livemode": True}
        )
        assert refused.status_code == 403
        assert error_of(refused)["code"] == "livemode_mismatch"
        assert error_of(refused)["param"] == "livemode"

        live_key = await api_key(client, who["access_token"], "live")
        # Live mode is off until a platform admin turns it on for the tenant.
        off = await client.post("/cli/sessions", headers=bearer(live_key))
        assert (off.status_code, error_of(off)["code"]) == (403, "live_mode_disabled")
        await enable_live_mode(client, who["user"]["tenant_id"])
        live = (await session_when_allowed(client, live_key)).json()
        test = (await client.post("/cli/sessions", headers=bearer(test_key))).json()
        assert live["livemode"] is True
        assert live["secret"] != test["secret"]
        refused = await client.post(
            "/cli/sessions", headers=bearer(live_key), json={"livemode": False}
        )
        assert refused.status_code == 403

        # An admin's session chooses, in the body or with the Micro-Mode header.
        admin_live = await client.post(
            "/cli/sessions", headers=bearer(who["access_token"]), json={"livemode": True}
        )
        assert admin_live.status_code == 201
        assert admin_live.json()["secret"] == live["secret"]
        by_header = await client.post(
            "/cli/sessions", headers={**bearer(who["access_token"]), "Micro-Mode": "live"}
        )
        assert by_header.json()["livemode"] is True
        default = await client.post("/cli/sessions", headers=bearer(who["access_token"]))
        assert default.json()["secret"] == test["secret"]

    async def test_a_plain_users_session_is_refused(self, with_auth: Stack) -> None:
        client = with_auth.client
        who = await owner(client)
        user = await client.post(
            "/auth/signup",
            json={
                "email": f"{new_id('u')}@example.com",
                "password": PASSWORD,
                "tenant": who["user"]["tenant_id"],
            },
        )
        assert user.status_code == 201, user.text
        response = await client.post("/cli/sessions", headers=bearer(user.json()["access_token"]))
        assert response.status_code == 403
        assert error_of(response)["code"] == "role_required"

    async def test_no_or_bad_credentials_are_401(self, with_auth: Stack) -> None:
        client = with_auth.client
        missing = await client.post("/cli/sessions")
        assert missing.status_code == 401
        assert error_of(missing)["code"] == "missing_credentials"
        unknown = await client.post("/cli/sessions", headers=bearer("sk_test_" + "x" * 40))
        assert unknown.status_code == 401
        assert error_of(unknown)["code"] == "invalid_api_key"
        forged = await client.post("/cli/sessions", headers=bearer("not.a.jwt"))
        assert forged.status_code == 401

    async def test_bad_bodies_are_400(self, with_auth: Stack) -> None:
        client = with_auth.client
        key = await api_key(client, (await owner(client))["access_token"])
        for body, param in (
            ({"livemode": "sometimes"}, "livemode"),
            ({"livemode": [True]}, "livemode"),
            ({"tenant_id": "ten_other"}, "tenant_id"),
        ):
            response = await client.post("/cli/sessions", headers=bearer(key), json=body)
            assert response.status_code == 400, (body, response.text)
            assert error_of(response)["param"] == param
        garbage = await client.post(
            "/cli/sessions",
            headers={**bearer(key), "Content-Type": "application/json"},
            content=b"{not json",
        )
        assert garbage.status_code == 400


# -- WebSocket /cli/listen -------------------------------------------------------------------
