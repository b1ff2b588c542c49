"""The CLI relay: `POST /cli/sessions` and WebSocket `/cli/listen`.

The gateway (and auth, for the session tests) run in this process on free ports, against
the session's PostgreSQL and Redis; events go into Redis exactly as a service's outbox
relay puts them there (`shared.outbox.publish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cli.apps import app_factory, settings_class
from cli.stack.binaries import ensure_binaries
from cli.stack.ports import free_port
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from gateway.relay.listen import TOO_SLOW_REASON
from gateway.relay.tokens import listen_secret, mint_listen_token
from services.auth.settings import DEV_ADMIN_EMAIL
from shared import outbox, secrets
from shared.ids import new_id
from tests.support.asgi import serve_with_uvicorn
from tests.support.secrets import (
    TEST_ADMIN_PASSWORD,
    TEST_IDENTITY_KEY,
    TEST_SECRET_FIELDS,
    TEST_SECRETS,
)
from tests.support.servers import CreateDb, scratch_dir

# What shared/settings.py once held as every app's default secret: public knowledge.
OLD_DEV_SECRET = "micro-dev-internal-secret-change-me-0123456789"

WEEK = 7 * 86400.0
PASSWORD = "correct horse battery"


# -- servers -------------------------------------------------------------------------------


def gateway_app(redis_url: str, **overrides: Any) -> Starlette:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        **TEST_SECRET_FIELDS,
        "register_rate_limit": 10_000,
        "login_rate_limit": 10_000,
        "relay_ping_seconds": 30,
        **overrides,
    }
    return app_factory("gateway")(settings_class("gateway").model_validate(values))


Gateway = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def gateway(redis_url: str) -> Gateway:
    """`async with gateway(**settings) as host:` a gateway on a free port."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[str]:
        settings = {"redis_url": redis_url, **overrides}
        async with serve_with_uvicorn(gateway_app(**settings)) as host:
            yield host

    return start


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# -- events as a service's outbox relay publishes them ------------------------------------


@dataclass
class Tenant:
    id: str
    livemode: bool = False
    # What auth would name the credential by when it revokes it (a key's SHA-256).
    credential: str = "0" * 64

    @property
    def secret(self) -> str:
        return listen_secret(TEST_SECRETS[secrets.LISTEN_SIGNING.env], self.id, self.livemode)

    def token(self, ttl: int = 60, key: str = TEST_SECRETS[secrets.RELAY_TOKEN.env]) -> str:
        _, token = mint_listen_token(
            key,
            session_id=new_id("clis"),
            tenant_id=self.id,
            livemode=self.livemode,
            principal="key_test",
            credential=self.credential,
            ttl=ttl,
        )
        return token


def new_tenant(livemode: bool = False) -> Tenant:
    return Tenant(new_id("ten"), livemode)


def event_row(tenant: Tenant, type: str = "payment_intent.succeeded", n: int = 0) -> dict[str, Any]:
    event_id = new_id("evt")
    payload = outbox.encode_event(
        event_id=event_id,
        type=type,
        tenant_id=tenant.id,
        livemode=tenant.livemode,
        data={"id": new_id("pi"), "n": n, "note": "naïve ☃ </script>"},
        request_id=None,
        idempotency_key=None,
    )
    return {
        "event_id": event_id,
        "type": type,
        "tenant_id": tenant.id,
        "livemode": tenant.livemode,
        "payload": payload,
    }


async def publish(
    redis: aioredis.Redis, tenant: Tenant, count: int = 1, type: str = "payment_intent.succeeded"
) -> list[dict[str, Any]]:
    rows = [event_row(tenant, type, n) for n in range(count)]
    for start in range(0, len(rows), 200):
        await outbox.publish(redis, rows[start : start + 200], retention_seconds=WEEK)
    return rows


# -- a listener speaking the protocol ------------------------------------------------------


class Listener:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}

    async def next(self, timeout: float = 10) -> dict[str, Any]:  # noqa: ASYNC109
        """The next frame that is not a ping (pings are answered, as `micro listen` does)."""
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            return frame

    async def events(self, count: int, *, ack: bool = True) -> list[dict[str, Any]]:
        got = []
        for _ in range(count):
            frame = await self.next()
            assert frame["type"] == "event", frame
            got.append(frame)
            if ack:
                await self.ack(frame["stream_id"])
        return got

    async def ack(self, stream_id: str) -> None:
        await self.ws.send(json.dumps({"type": "ack", "stream_id": stream_id}))

    async def closed(self, timeout: float = 10) -> tuple[int, str]:  # noqa: ASYNC109
        """Read until the server closes; its close code and reason."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        assert self.ws.close_code is not None
        return self.ws.close_code, self.ws.close_reason or ""


@contextlib.asynccontextmanager
async def listening(
    host: str, credential: str | None, *, ready: bool = True, **params: str
) -> AsyncIterator[Listener]:
    query = urlencode(params)
    headers = {"Authorization": f"Bearer {credential}"} if credential is not None else {}
    async with connect(f"ws://{host}/cli/listen?{query}", additional_headers=headers) as ws:
        listener = Listener(ws)
        if ready:
            listener.ready = await listener.next()
            assert listener.ready["type"] == "ready", listener.ready
        yield listener


def assert_delivered(frames: list[dict[str, Any]], rows: list[dict[str, Any]], secret: str) -> None:
    """The frames are the rows, in order, with exact payloads and valid signatures."""
    assert [f["id"] for f in frames] == [r["event_id"] for r in rows]
    verifier = Webhook(secret)
    for frame, row in zip(frames, rows, strict=True):
        assert frame["payload"].encode() == row["payload"].encode()
        assert frame["event_type"] == row["type"]
        assert frame["headers"]["webhook-id"] == row["event_id"]
        verifier.verify(frame["payload"].encode(), frame["headers"])


# -- POST /cli/sessions ---------------------------------------------------------------------


@dataclass
class Stack:
    host: str
    client: httpx.AsyncClient
    auth_url: str
    redis_url: str


@pytest.fixture
async def with_auth(create_db: CreateDb, redis_url: str) -> AsyncIterator[Stack]:
    auth_settings = settings_class("auth").model_validate(
        {
            "redis_url": redis_url,
            "database_url": await create_db("auth"),
            "bcrypt_rounds": 4,
            **TEST_SECRET_FIELDS,
        }
    )
    async with serve_with_uvicorn(app_factory("auth")(auth_settings)) as auth_host:
        auth_url = f"http://{auth_host}"
        app = gateway_app(redis_url, auth_url=auth_url)
        async with (
            serve_with_uvicorn(app) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as client,
        ):
            yield Stack(host, client, auth_url, redis_url)


async def owner(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/auth/register", json={"email": f"{new_id('u')}@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def api_key(client: httpx.AsyncClient, access_token: str, environment: str = "test") -> str:
    response = await client.post(
        "/auth/api_keys",
        json={"environment": environment},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


async def enable_live_mode(
    client: httpx.AsyncClient, tenant_id: str, *, enabled: bool = True
) -> None:
    admin = await client.post(
        "/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
    )
    assert admin.status_code == 200, admin.text
    response = await client.post(
        f"/auth/tenants/{tenant_id}/live_mode",
        json={"enabled": enabled},
        headers=bearer(admin.json()["access_token"]),
    )
    assert response.status_code == 200, response.text


async def session_when_allowed(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """POST /cli/sessions until the gateway has evicted a cached "live mode off" (it has a
    second to)."""
    began = time.monotonic()
    while (response := await client.post("/cli/sessions", headers=bearer(key))).status_code == 403:
        assert time.monotonic() - began < 1.0, response.text
        await asyncio.sleep(0.02)
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    detail: dict[str, Any] = response.json()["error"]
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


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


class TestListenAuthAndOptions:
    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            (None, "missing websocket_token"),
            ("garbage", "invalid websocket_token"),
            ("EXPIRED", "websocket_token expired"),
            ("INTERNAL", "invalid websocket_token"),
            # A listen token in every claim, signed with the identity key (or an old dev one).
            ("IDENTITY_KEY", "invalid websocket_token"),
            ("OLD_DEV_SECRET", "invalid websocket_token"),
        ],
    )
    async def test_a_bad_token_is_closed_with_4401(
        self, gateway: Gateway, token: str | None, reason: str
    ) -> None:
        if token == "EXPIRED":
            token = new_tenant().token(ttl=-5)
        elif token == "INTERNAL":
            # A valid internal identity token: another purpose's key, so no listen token.
            from shared.identity import Identity, mint

            token = mint(Identity("key_x", "api_key", tenant_id="ten_x"), TEST_IDENTITY_KEY)
        elif token == "IDENTITY_KEY":
            token = new_tenant().token(key=TEST_IDENTITY_KEY)
        elif token == "OLD_DEV_SECRET":
            token = new_tenant().token(key=OLD_DEV_SECRET)
        async with gateway() as host, listening(host, token, ready=False) as listener:
            code, text = await listener.closed()
        assert code == 4401
        assert reason in text

    @pytest.mark.parametrize(
        ("params", "reason"),
        [
            ({"after": "yesterday"}, "not a stream id"),
            ({"after": "1-2-3"}, "not a stream id"),
            ({"events": "payment_intent.*,DROP TABLE"}, "bad event type"),
            ({"events": "pay*"}, "bad event type"),
        ],
    )
    async def test_bad_options_are_closed_with_4400(
        self, gateway: Gateway, params: dict[str, str], reason: str
    ) -> None:
        async with (
            gateway() as host,
            listening(host, new_tenant().token(), ready=False, **params) as listener,
        ):
            code, text = await listener.closed()
        assert code == 4400
        assert reason in text

    async def test_a_token_in_the_query_works_too(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, None, token=tenant.token()) as listener:
            rows = await publish(redis, tenant)
            assert_delivered(await listener.events(1), rows, tenant.secret)

    async def test_a_bad_ack_is_closed_with_4400(self, gateway: Gateway) -> None:
        async with gateway() as host, listening(host, new_tenant().token()) as listener:
            await listener.ws.send(json.dumps({"type": "ack", "stream_id": "soon"}))
            code, text = await listener.closed()
        assert code == 4400
        assert "bad ack" in text


class TestListen:
    async def test_events_arrive_exact_signed_in_order(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, tenant.token()) as listener:
            rows = await publish(redis, tenant, 5)
            frames = await listener.events(5)
        assert_delivered(frames, rows, tenant.secret)
        ids = [f["stream_id"] for f in frames]
        assert ids == sorted(ids, key=lambda s: tuple(map(int, s.split("-"))))

    async def test_only_the_tenants_events_of_its_mode(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        live = Tenant(tenant.id, livemode=True)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            await publish(redis, new_tenant(), 3)
            await publish(redis, live, 3)
            rows = await publish(redis, tenant, 1)
            assert_delivered(await listener.events(1), rows, tenant.secret)
            with pytest.raises(TimeoutError):
                await listener.next(timeout=0.5)

    async def test_without_a_cursor_a_listener_starts_from_now(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        old = await publish(redis, tenant, 3)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            newest = cast(
                list[tuple[bytes, Any]],
                await redis.xrevrange(outbox.tenant_stream(tenant.id, False), count=1),
            )
            assert listener.ready["stream_id"] == newest[0][0].decode()
            rows = await publish(redis, tenant, 1)
            [frame] = await listener.events(1)
        assert frame["id"] == rows[0]["event_id"]
        assert frame["id"] not in {r["event_id"] for r in old}

    async def test_resuming_after_a_cursor_replays_the_gap_then_goes_live(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host:
            async with listening(host, tenant.token()) as listener:
                start = listener.ready["stream_id"]
                first = await publish(redis, tenant, 3)
                frames = await listener.events(3)
            last = frames[-1]["stream_id"]
            missed = await publish(redis, tenant, 4)  # while nobody listens
            async with listening(host, tenant.token(), after=last) as listener:
                assert listener.ready["stream_id"] == last
                later = await publish(redis, tenant, 2)
                assert_delivered(await listener.events(6), [*missed, *later], tenant.secret)
            # From the very first cursor: everything, once, in order.
            async with listening(host, tenant.token(), after=start) as listener:
                assert_delivered(await listener.events(9), [*first, *missed, *later], tenant.secret)

    async def test_an_event_published_out_of_order_is_not_skipped(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        """Two services' relays: A appends first, B appends and announces first."""
        tenant = new_tenant()
        stream = outbox.tenant_stream(tenant.id, False)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            a, b = event_row(tenant, n=1), event_row(tenant, n=2)
            sids = []
            for row in (a, b):
                sid = await redis.xadd(
                    stream, {"id": row["event_id"], "type": row["type"], "event": row["payload"]}
                )
                sids.append(cast(bytes, sid).decode())
            message = {"stream_id": sids[1], "id": b["event_id"], "type": b["type"]}
            await redis.publish(
                outbox.live_channel(tenant.id, False),
                json.dumps({**message, "event": b["payload"]}),
            )
            frames = await listener.events(2)
        assert_delivered(frames, [a, b], tenant.secret)

    async def test_the_type_filter(self, gateway: Gateway, redis: aioredis.Redis) -> None:
        tenant = new_tenant()
        async with (
            gateway() as host,
            listening(host, tenant.token(), events="payment_intent.*,refund.created") as listener,
        ):
            wanted = []
            for type in (
                "payment_intent.created",
                "payout.paid",
                "refund.created",
                "refund.updated",
                "payment_intent.succeeded",
            ):
                rows = await publish(redis, tenant, 1, type)
                if type.startswith("payment_intent.") or type == "refund.created":
                    wanted += rows
            assert_delivered(await listener.events(3), wanted, tenant.secret)
            with pytest.raises(TimeoutError):
                await listener.next(timeout=0.5)

    async def test_every_listener_of_a_tenant_gets_every_event(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with (
            gateway() as host,
            gateway() as other_host,
            listening(host, tenant.token()) as one,
            listening(host, tenant.token()) as two,
            listening(other_host, tenant.token()) as three,
        ):
            rows = await publish(redis, tenant, 10)
            for listener in (one, two, three):
                assert_delivered(await listener.events(10), rows, tenant.secret)

    async def test_a_burst_of_1000_arrives_complete_and_in_order(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, tenant.token()) as listener:
            rows = await publish(redis, tenant, 1000)
            frames = await listener.events(1000)
        assert_delivered(frames, rows, tenant.secret)

    async def test_a_listener_that_stops_acking_is_closed_with_the_reason(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway(relay_window_events=5, relay_slow_seconds=0.5) as host:
            async with listening(host, tenant.token()) as listener:
                start = listener.ready["stream_id"]
                rows = await publish(redis, tenant, 20)
                held = await listener.events(5, ack=False)  # the window, then nothing more
                code, reason = await listener.closed()
            assert (code, reason) == (4008, TOO_SLOW_REASON)
            assert_delivered(held, rows[:5], tenant.secret)
            # It resumes from its last acknowledged event and, acking, gets everything.
            async with listening(host, tenant.token(), after=start) as listener:
                assert_delivered(await listener.events(20), rows, tenant.secret)

    async def test_pings_and_a_silent_listener_is_closed(self, gateway: Gateway) -> None:
        async with gateway(relay_ping_seconds=0.2) as host:
            async with listening(host, new_tenant().token()) as listener:
                frame = json.loads(await asyncio.wait_for(listener.ws.recv(), 5))
                assert frame == {"type": "ping"}
                code, reason = await listener.closed()  # reads, but never answers
            assert code == 4002
            assert "no pong" in reason
            async with listening(host, new_tenant().token()) as listener:
                # Answering keeps it open well past three intervals.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(listener.next(), 1.5)


async def test_a_redis_restart_loses_no_event() -> None:
    """The stream outlives the restart (as a persistent Redis keeps it); the listener stays
    connected, and what was published around the restart arrives, in order, once."""
    binaries = await asyncio.to_thread(ensure_binaries)
    port = free_port()
    with scratch_dir("micro-relay-redis-") as root:
        server = RedisServer(data_dir=root / "data", port=port, binaries=binaries)

        async def start_redis() -> Supervisor:
            supervisor = Supervisor(root / "logs", echo=False)
            await server.wait_ready(await supervisor.spawn("redis", server.command()))
            return supervisor

        supervisor = await start_redis()
        client = aioredis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
        tenant = new_tenant()
        try:
            app = gateway_app(server.url, relay_poll_seconds=1)
            async with serve_with_uvicorn(app) as host, listening(host, tenant.token()) as listener:
                before = await publish(client, tenant, 3)
                assert_delivered(await listener.events(3), before, tenant.secret)
                unacked = await publish(client, tenant, 2)
                await supervisor.stop_all()  # SIGTERM: Redis writes its append-only file
                supervisor = await start_redis()
                after = await _publish_when_up(lambda: publish(client, tenant, 3))
                frames = await listener.events(5)
            # The two sent before the restart may arrive before or after it, but once each.
            assert_delivered(frames, [*unacked, *after], tenant.secret)
        finally:
            await client.aclose()
            await supervisor.stop_all()


async def _publish_when_up(
    attempt: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    for _ in range(100):
        with contextlib.suppress(OSError, aioredis.ConnectionError):
            return await attempt()
        await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")


# -- sockets closed when their credential or tenant ends ------------------------------------


async def new_key(client: httpx.AsyncClient, access_token: str, environment: str = "test") -> Key:
    response = await client.post(
        "/auth/api_keys", json={"environment": environment}, headers=bearer(access_token)
    )
    assert response.status_code == 201, response.text
    return Key(response.json()["id"], response.json()["secret"])


@dataclass
class Key:
    id: str
    secret: str


async def cli_session(client: httpx.AsyncClient, credential: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/cli/sessions", headers=bearer(credential), json=body)
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


async def closes_within(listener: Listener, seconds: float = 1.0) -> tuple[int, str]:
    began = time.monotonic()
    code, reason = await listener.closed(timeout=seconds)
    assert time.monotonic() - began < seconds
    return code, reason


async def still_open(listener: Listener, redis: aioredis.Redis, tenant: Tenant) -> None:
    rows = await publish(redis, tenant)
    assert_delivered(await listener.events(1), rows, tenant.secret)


async def platform_admin_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class TestClosedWhenTheCredentialEnds:
    async def test_revoking_a_key_closes_its_sockets_within_a_second(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        tenant = Tenant(who["user"]["tenant_id"])
        doomed, other = (
            await new_key(client, who["access_token"]),
            await new_key(client, who["access_token"]),
        )
        session = await cli_session(client, doomed.secret)
        async with (
            listening(with_auth.host, session["websocket_token"]) as first,
            listening(with_auth.host, session["websocket_token"]) as second,
            listening(
                with_auth.host, (await cli_session(client, other.secret))["websocket_token"]
            ) as bystander,
        ):
            revoked = await client.delete(
                f"/auth/api_keys/{doomed.id}", headers=bearer(who["access_token"])
            )
            assert revoked.status_code == 200
            for listener in (first, second):
                assert await closes_within(listener) == (
                    4403,
                    "api_key_revoked: this API key was revoked",
                )
            # Another key of the same tenant keeps its socket.
            await still_open(bystander, redis, tenant)
        # The token handed out before the revocation opens nothing any more.
        async with listening(with_auth.host, session["websocket_token"], ready=False) as late:
            code, reason = await closes_within(late)
        assert code == 4403
        assert reason.startswith("revoked:")

    async def test_signing_out_closes_the_sessions_sockets(self, with_auth: Stack) -> None:
        client = with_auth.client
        who = await owner(client)
        session = await cli_session(client, who["access_token"])
        async with listening(with_auth.host, session["websocket_token"]) as listener:
            out = await client.post("/auth/logout", headers=bearer(who["access_token"]))
            assert out.status_code == 200, out.text
            assert await closes_within(listener) == (
                4403,
                "session_ended: this session was signed out",
            )

    async def test_disabling_the_tenant_closes_every_socket_of_it(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who, neighbour = await owner(client), await owner(client)
        key = await new_key(client, who["access_token"])
        theirs = await new_key(client, neighbour["access_token"])
        by_key = await cli_session(client, key.secret)
        by_session = await cli_session(client, who["access_token"])
        async with (
            listening(with_auth.host, by_key["websocket_token"]) as one,
            listening(with_auth.host, by_session["websocket_token"]) as two,
            listening(
                with_auth.host, (await cli_session(client, theirs.secret))["websocket_token"]
            ) as other_tenant,
        ):
            admin = bearer(await platform_admin_token(client))
            deleted = await client.delete(f"/tenants/{who['user']['tenant_id']}", headers=admin)
            assert deleted.status_code == 200, deleted.text
            for listener in (one, two):
                assert await closes_within(listener) == (
                    4403,
                    "tenant_disabled: this tenant was disabled",
                )
            await still_open(other_tenant, redis, Tenant(neighbour["user"]["tenant_id"]))

    async def test_switching_live_mode_off_closes_the_live_sockets_only(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        tenant_id = who["user"]["tenant_id"]
        await enable_live_mode(client, tenant_id)
        live_key = await new_key(client, who["access_token"], "live")
        live = await cli_session(client, live_key.secret)
        by_admin = await cli_session(client, who["access_token"], livemode=True)
        test = await cli_session(client, (await new_key(client, who["access_token"])).secret)
        async with (
            listening(with_auth.host, live["websocket_token"]) as live_one,
            listening(with_auth.host, by_admin["websocket_token"]) as live_two,
            # (auth's own tenant.updated event reaches the test stream too)
            listening(
                with_auth.host, test["websocket_token"], events="payment_intent.*"
            ) as test_one,
        ):
            await still_open(live_one, redis, Tenant(tenant_id, livemode=True))
            await enable_live_mode(client, tenant_id, enabled=False)
            for listener in (live_one, live_two):
                assert await closes_within(listener) == (
                    4403,
                    "live_mode_disabled: live mode is not enabled for this tenant",
                )
            await still_open(test_one, redis, Tenant(tenant_id))
        # A live token from before opens nothing now, and no new session is handed out.
        async with listening(with_auth.host, live["websocket_token"], ready=False) as late:
            assert (await closes_within(late))[0] == 4403
        refused = await client.post("/cli/sessions", headers=bearer(live_key.secret))
        assert error_of(refused)["code"] == "live_mode_disabled"

    async def test_micro_listen_prints_the_reason_and_exits_1(
        self, with_auth: Stack, tmp_path: Path
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        key = await new_key(client, who["access_token"])
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "NO_COLOR": "1"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "listen", "--api-key", key.secret,
            "--api-base", f"http://{with_auth.host}", "--forward-to", "http://127.0.0.1:9/hook",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.startswith(b"Ready!"), line
            revoked = await client.delete(
                f"/auth/api_keys/{key.id}", headers=bearer(who["access_token"])
            )
            assert revoked.status_code == 200
            _, stderr = await asyncio.wait_for(process.communicate(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 1
        assert stderr.decode().strip() == (
            "micro: the gateway closed the connection (4403): "
            "api_key_revoked: this API key was revoked"
        )
