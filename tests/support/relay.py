"""The CLI relay under test: a gateway (and auth) on free ports, events published into Redis as
a service's outbox relay puts them there (`shared.outbox.publish`), and a `/cli/listen`
client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import redis.asyncio as aioredis
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cli.apps import app_factory, settings_class
from gateway.relay.tokens import listen_secret, mint_listen_token
from services.auth.settings import DEV_ADMIN_EMAIL
from shared import outbox, secrets
from shared.ids import new_id
from tests.support.secrets import (
    TEST_ADMIN_PASSWORD,
    TEST_SECRET_FIELDS,
    TEST_SECRETS,
)

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
