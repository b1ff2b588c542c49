"""Payments into and out of wallets, as the payments tests drive them: a real ledger HTTP
server, a wallet's ledger account opened as the wallet service opens it, a deposit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from cli.apps import app_factory, settings_class
from cli.stack.ports import free_port
from tests.support.asgi import identity_headers
from tests.support.secrets import TEST_SECRET_FIELDS

TENANT = "ten_wallets"
BASE = "/payments/payment_intents"


def as_wallet_service(tenant: str = TENANT, livemode: bool = False) -> dict[str, str]:
    return identity_headers(
        tenant_id=tenant, livemode=livemode, principal="wallet", principal_type="service"
    )


def key(tenant: str = TENANT, livemode: bool = False) -> dict[str, str]:
    return identity_headers(tenant_id=tenant, livemode=livemode)


@contextlib.asynccontextmanager
async def ledger_server(dsn: str, redis_url: str) -> AsyncIterator[str]:
    settings = settings_class("ledger").model_validate(
        {"database_url": dsn, "redis_url": redis_url, **TEST_SECRET_FIELDS}
    )
    port = free_port()
    config = uvicorn.Config(
        app_factory("ledger")(settings), host="127.0.0.1", port=port, log_config=None,
        lifespan="on",
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def open_wallet(
    ledger: httpx.AsyncClient, wallet_id: str, currency: str = "usd", **who: Any
) -> None:
    response = await ledger.post(
        "/ledger/accounts",
        json={"name": f"Wallet {wallet_id}", "type": "liability", "currency": currency,
              "code": f"wallet.{wallet_id}", "no_overdraft": True},
        # As the wallet service opens it: a tenant's key may not (the code is reserved).
        headers=as_wallet_service(**who),
    )  # fmt: skip
    assert response.status_code == 201, response.text


async def balance(ledger: httpx.AsyncClient, wallet_id: str) -> int:
    response = await ledger.get(f"/ledger/accounts/wallet.{wallet_id}", headers=key())
    return int(response.json()["balance"]["posted"])


async def deposit(client: httpx.AsyncClient, wallet_id: str, **fields: Any) -> httpx.Response:
    body = {"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa",
            "confirm": True, "wallet_id": wallet_id, **fields}  # fmt: skip
    return await client.post(BASE, json=body, headers=key())
