"""Whole stacks in this process: every app on a free port behind a real gateway, against
the session's PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from cli.apps import app_factory, settings_class
from tests.fakes.providers import FakeProvider, serve
from tests.support.asgi import serve_with_uvicorn
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import PostgresHandle, databases

# The platform's Paystack account in the stack: a live key, so live mode can use it.
PAYSTACK_LIVE_KEY = "sk_live_fake_paystack_0123456789"


@dataclass
class ServicesStack:
    """The gateway with auth, the ledger, payments and the wallet behind it, each on a free
    port in this process, and Paystack played by the fake (whose key is a live one)."""

    gw: httpx.AsyncClient
    url: str
    paystack: FakeProvider
    # The ledger itself, for what only Micro's services do there (e.g. credit a wallet).
    ledger_url: str


@contextlib.asynccontextmanager
async def services_stack(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[ServicesStack]:
    """The five apps started, on new databases, and a client for the gateway."""

    def app(name: str, **values: Any) -> Any:
        settings = settings_class(name).model_validate(
            {"redis_url": redis_url, **TEST_SECRET_FIELDS, **values}
        )
        return app_factory(name)(settings)

    async with contextlib.AsyncExitStack() as started:
        create_db = await started.enter_async_context(databases(pg, templates))
        paystack = await started.enter_async_context(
            serve(FakeProvider("paystack", PAYSTACK_LIVE_KEY))
        )
        auth = await started.enter_async_context(
            serve_with_uvicorn(app("auth", database_url=await create_db("auth"), bcrypt_rounds=4))
        )
        ledger = await started.enter_async_context(
            serve_with_uvicorn(app("ledger", database_url=await create_db("ledger")))
        )
        payments = await started.enter_async_context(
            serve_with_uvicorn(
                app(
                    "payments",
                    database_url=await create_db("payments"),
                    ledger_url=f"http://{ledger}",
                    paystack_base_url=paystack.url,
                    relay_interval=0.2,
                )
            )
        )
        wallet = await started.enter_async_context(
            serve_with_uvicorn(
                app(
                    "wallet",
                    database_url=await create_db("wallet"),
                    ledger_url=f"http://{ledger}",
                    payments_url=f"http://{payments}",
                )
            )
        )
        gateway = await started.enter_async_context(
            serve_with_uvicorn(
                app(
                    "gateway",
                    auth_url=f"http://{auth}",
                    ledger_url=f"http://{ledger}",
                    payments_url=f"http://{payments}",
                    wallet_url=f"http://{wallet}",
                    register_rate_limit=10_000,
                    login_rate_limit=10_000,
                )
            )
        )
        gw = await started.enter_async_context(
            httpx.AsyncClient(base_url=f"http://{gateway}", timeout=30)
        )
        yield ServicesStack(gw, f"http://{gateway}", paystack, f"http://{ledger}")
