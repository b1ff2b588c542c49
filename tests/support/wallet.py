"""Shared by the wallet tests (no tests here): the ledger and payments served for real on
free ports, the wallet app in-process against them, identities and factories."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cli.apps import app_factory, settings_class
from cli.stack.ports import free_port
from services.wallet.app import create_app
from services.wallet.settings import WalletSettings
from services.wallet.state import WalletState, wallet_state
from shared.money import MAX_AMOUNT
from shared.state import STATE_KEY
from tests.support.asgi import identity_headers
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import CreateDb, PostgresHandle, databases

TENANT = "ten_wallets"
OTHER_TENANT = "ten_elsewhere"
BANK = {"account_number": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}
FAILING_BANK = {**BANK, "account_number": "0000000000"}
SLOW_BANK = {**BANK, "account_number": "1111111111"}
# Amounts no movement takes (card payments and payouts also refuse more than eight digits).
BAD_AMOUNTS = [0, -1, -500, MAX_AMOUNT + 1, 10**30, 12.5, "12.5", "ten", True, None, [1]]


# -- identities ----------------------------------------------------------------------------


def key(tenant: str = TENANT, *, livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant, livemode=livemode)


def user(user_id: str, tenant: str = TENANT, *, livemode: bool = False) -> dict[str, str]:
    return identity_headers(
        tenant_id=tenant, principal=user_id, principal_type="user", role="USER",
        livemode=livemode,
    )  # fmt: skip


def admin(tenant: str = TENANT) -> dict[str, str]:
    return identity_headers(
        tenant_id=tenant, principal="usr_admin", principal_type="user", role="TENANT_ADMIN"
    )


def platform_admin() -> dict[str, str]:
    return identity_headers(
        tenant_id="ten_platform", principal="usr_root", principal_type="user",
        role="PLATFORM_ADMIN",
    )  # fmt: skip


# -- databases and servers ---------------------------------------------------------------


def new_tenant() -> str:
    return f"ten_{secrets.token_hex(6)}"


@contextlib.asynccontextmanager
async def serving(app: Starlette, *, port: int | None = None) -> AsyncIterator[str]:
    """The app under uvicorn on `port` (a free one by default): its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def build(app: str, redis_url: str, **values: Any) -> Starlette:
    settings = settings_class(app).model_validate(
        {"redis_url": redis_url, **TEST_SECRET_FIELDS, **values}
    )
    return app_factory(app)(settings)


@contextlib.asynccontextmanager
async def answer_lost(target: str, *, delay: float) -> AsyncIterator[str]:
    """A proxy that does the request, then holds the answer `delay` seconds: past the
    caller's timeout, the caller never learns what happened (a timeout, a connection cut);
    within it, a slow service."""

    async def forward(request: Request) -> Response:
        kept = ("x-micro-identity", "idempotency-key", "content-type")
        headers = {k: v for k, v in request.headers.items() if k.lower() in kept}
        async with httpx.AsyncClient(base_url=target) as client:
            upstream = await client.request(
                request.method, request.url.path, params=request.query_params,
                content=await request.body(), headers=headers,
            )  # fmt: skip
        await asyncio.sleep(delay)
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
    async with serving(app) as url:
        yield url


@dataclass
class Upstreams:
    ledger_url: str
    payments_url: str
    ledger_db: str
    payments_db: str


@contextlib.asynccontextmanager
async def upstreams(
    create_db: CreateDb, redis_url: str, **payments_settings: Any
) -> AsyncIterator[Upstreams]:
    """A real ledger and a real payments service (posting to that ledger), with
    `payments_settings` (providers' URLs and keys, say)."""
    ledger_db, payments_db = await create_db("ledger"), await create_db("payments")
    async with serving(build("ledger", redis_url, database_url=ledger_db)) as ledger_url:
        values = {"relay_interval": 0.05, **payments_settings, "ledger_url": ledger_url}
        payments = build("payments", redis_url, database_url=payments_db, **values)
        async with serving(payments) as payments_url:
            yield Upstreams(ledger_url, payments_url, ledger_db, payments_db)


class _WithState:
    def __init__(self, app: ASGIApp, state: Mapping[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = dict(self.state)
        await self.app(scope, receive, send)


@dataclass
class WalletApp:
    http: httpx.AsyncClient
    state: WalletState


def wallet_settings(
    ups: Upstreams, redis_url: str, database_url: str, **overrides: Any
) -> WalletSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        **TEST_SECRET_FIELDS,
        "database_url": database_url,
        "ledger_url": ups.ledger_url,
        "payments_url": ups.payments_url,
        # Tests run recovery rounds by hand, with no grace.
        "recovery_interval": 3600,
        "recovery_grace": 0,
        "deposit_wait": 5,
        # Each test world reads the shared Redis's events in a group of its own.
        "events_group": f"wallet-{secrets.token_hex(4)}",
        **overrides,
    }
    return WalletSettings.model_validate(values)


@contextlib.asynccontextmanager
async def wallet_app(settings: WalletSettings) -> AsyncIterator[WalletApp]:
    """The wallet in-process (its lifespan runs: a restart is leaving and entering again)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        transport = httpx.ASGITransport(app=_WithState(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as http:
            yield WalletApp(http, wallet_state(state[STATE_KEY]))


@dataclass
class World:
    ups: Upstreams
    app: WalletApp
    wallet_db: str
    settings: WalletSettings

    @property
    def http(self) -> httpx.AsyncClient:
        return self.app.http


@contextlib.asynccontextmanager
async def world(
    pg: PostgresHandle,
    templates: dict[str, str],
    redis_url: str,
    *,
    payments: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[World]:
    """Ledger, payments (with `payments` settings) and the wallet (with `overrides`), each on
    its own fresh database."""
    async with (
        databases(pg, templates) as create_db,
        upstreams(create_db, redis_url, **(payments or {})) as ups,
    ):
        wallet_db = await create_db("wallet")
        settings = wallet_settings(ups, redis_url, wallet_db, **overrides)
        async with wallet_app(settings) as app:
            yield World(ups, app, wallet_db, settings)


async def events(dsn: str, tenant: str) -> list[dict[str, Any]]:
    """The events the wallet recorded for a tenant, oldest first."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT payload FROM outbox WHERE tenant_id = $1 ORDER BY seq", tenant
        )
    finally:
        await conn.close()
    return [json.loads(row["payload"]) for row in rows]


# -- factories -----------------------------------------------------------------------------


async def create_wallet(
    http: httpx.AsyncClient,
    headers: Mapping[str, str] | None = None,
    *,
    owner: str | None = "cus_1",
    currency: str = "usd",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"currency": currency, **extra}
    if owner is not None:
        body["owner"] = owner
    response = await http.post("/wallet", json=body, headers=dict(headers or key()))
    assert response.status_code == 201, response.text
    wallet: dict[str, Any] = response.json()
    return wallet


async def deposit(
    http: httpx.AsyncClient,
    wallet_id: str,
    amount: int,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    return await http.post(
        "/wallet/deposit",
        json={"wallet_id": wallet_id, "amount": amount, **extra},
        headers=dict(headers or key()),
    )


async def transfer(
    http: httpx.AsyncClient, headers: Mapping[str, str], source: str, target: str, amount: Any,
    **extra: Any,
) -> httpx.Response:  # fmt: skip
    body = {"from_wallet_id": source, "to_wallet_id": target, "amount": amount, **extra}
    return await http.post("/wallet/transfer", json=body, headers=dict(headers))


async def fund(
    http: httpx.AsyncClient, wallet_id: str, amount: int, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    response = await deposit(http, wallet_id, amount, headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "succeeded", body
    return body


async def balance(
    http: httpx.AsyncClient, wallet_id: str, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    response = await http.get(f"/wallet/{wallet_id}/balance", headers=dict(headers or key()))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(
    http: httpx.AsyncClient,
    operation_id: str,
    headers: Mapping[str, str],
    *,
    nudge: Callable[[], Awaitable[object]] | None = None,
    looks: int = 100,
) -> dict[str, Any]:
    """The operation once it is no longer pending, or as it stands after `looks` looks a
    tenth of a second apart; `nudge` (a recovery round, say) runs before each look."""
    for _ in range(looks):
        if nudge is not None:
            await nudge()
        response = await http.get(f"/wallet/operations/{operation_id}", headers=dict(headers))
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        if found["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    return found


async def history(
    http: httpx.AsyncClient, wallet_id: str, headers: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every history row of the wallet, walking all pages."""
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": "100", **({"starting_after": after} if after else {})}
        response = await http.get(
            f"/wallet/{wallet_id}/transactions", params=params, headers=dict(headers or key())
        )
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["data"]
        if not page["has_more"]:
            return rows
        after = page["data"][-1]["id"]


async def verify_ledger(ups: Upstreams) -> dict[str, Any]:
    """The ledger's own check of every balance against its history."""
    async with httpx.AsyncClient(base_url=ups.ledger_url) as ledger:
        response = await ledger.get("/ledger/verify", headers=platform_admin())
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def ledger_transactions(
    ups: Upstreams, reference_id: str, tenant: str = TENANT
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=ups.ledger_url) as ledger:
        response = await ledger.get(
            "/ledger/transactions", params={"reference_id": reference_id}, headers=key(tenant)
        )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found
