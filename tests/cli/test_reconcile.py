"""`micro payments reconcile` as a real process, against a real payments service and ledger
behind a stand-in for the gateway (it takes the profile's API key as the gateway would and
hands the request on with the tenant's identity): its output and its exit status."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cli import config
from cli.config import Profile
from tests.conftest import CreateDb
from tests.support.payments import key
from tests.support.wallet import build, serving

API_KEY = "sk_test_reconcile_cli_0001"


def gateway(payments_url: str) -> Starlette:
    """The gateway's part the CLI needs: the key checked, the identity handed on."""

    async def forward(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": {"type": "authentication_error", "message": "no"}}, 401)
        headers = {**key(), "content-type": request.headers.get("content-type", "")}
        async with httpx.AsyncClient(base_url=payments_url, timeout=60) as client:
            upstream = await client.request(
                request.method, request.url.path, params=request.query_params,
                content=await request.body(), headers=headers,
            )  # fmt: skip
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@dataclass
class Stack:
    api_base: str
    payments_url: str
    payments_db: str
    home: Path


@pytest.fixture
async def stack(create_db: CreateDb, redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    ledger_db, payments_db = await create_db("ledger"), await create_db("payments")
    async with serving(build("ledger", redis_url, database_url=ledger_db)) as ledger_url:
        payments = build(
            "payments", redis_url, database_url=payments_db, ledger_url=ledger_url,
            relay_interval=0.05,
        )  # fmt: skip
        async with serving(payments) as payments_url, serving(gateway(payments_url)) as api:
            home = tmp_path / "config"
            old = os.environ.get("XDG_CONFIG_HOME")
            os.environ["XDG_CONFIG_HOME"] = str(home)
            try:
                config.save_profile(Profile(name="default", api_key=API_KEY), make_current=True)
            finally:
                if old is None:
                    del os.environ["XDG_CONFIG_HOME"]
                else:
                    os.environ["XDG_CONFIG_HOME"] = old
            yield Stack(api, payments_url, payments_db, home)


@dataclass
class Ran:
    code: int
    out: str
    err: str


async def micro(stack: Stack, *args: str) -> Ran:
    env = {**os.environ, "XDG_CONFIG_HOME": str(stack.home), "MICRO_API_BASE": stack.api_base}
    env.pop("MICRO_PROFILE", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def charge(stack: Stack) -> str:
    async with httpx.AsyncClient(base_url=stack.payments_url) as client:
        body = {"amount": 5000, "currency": "usd", "provider": "simulator",
                "payment_method": "pm_card_visa", "confirm": True}  # fmt: skip
        answer = await client.post("/payments/payment_intents", json=body, headers=key())
    assert answer.json()["status"] == "succeeded", answer.text
    intent_id: str = answer.json()["id"]
    return intent_id


async def test_a_clean_period_exits_0(stack: Stack) -> None:
    await charge(stack)
    ran = await micro(stack, "payments", "reconcile", "--provider", "simulator",
                      "--from", today(), "--to", today())  # fmt: skip
    assert ran.code == 0, ran
    assert "completed" in ran.out
    assert "1 matched, 0 mismatched, 0 missing in Micro, 0 missing at the provider" in ran.out


async def test_anything_not_matched_exits_1_and_is_printed(stack: Stack) -> None:
    import asyncpg

    intent_id = await charge(stack)
    conn = await asyncpg.connect(stack.payments_db)
    try:
        await conn.execute("UPDATE payment_intents SET amount = 4000 WHERE id = $1", intent_id)
    finally:
        await conn.close()
    ran = await micro(stack, "payments", "reconcile", "--provider", "simulator",
                      "--from", today(), "--to", today())  # fmt: skip
    assert ran.code == 1, ran
    assert "0 matched, 1 mismatched" in ran.out
    [line] = [row for row in ran.out.splitlines() if intent_id in row]
    assert "MISMATCHED" in line
    assert "amount" in line
    assert "5000 usd succeeded" in line
    assert "4000 usd succeeded" in line


async def test_a_settlement_file_is_sent(stack: Stack, tmp_path: Path) -> None:
    intent_id = await charge(stack)
    good = tmp_path / "settlement.csv"
    good.write_text(
        "type,reference,provider_id,amount,currency,status,created\n"
        f"charge,{intent_id},,5000,usd,succeeded,{today()}\n"
        "charge,pi_other,,100,usd,succeeded,\n"
    )
    ran = await micro(stack, "payments", "reconcile", "--provider", "simulator",
                      "--from", today(), "--to", today(), "--csv", str(good))  # fmt: skip
    assert ran.code == 1, ran
    assert "1 matched, 0 mismatched, 1 missing in Micro" in ran.out
    assert "pi_other" in ran.out
    bad = tmp_path / "bad.csv"
    bad.write_text("type,reference\ncharge,pi_1\n")
    refused = await micro(stack, "payments", "reconcile", "--provider", "simulator",
                          "--from", today(), "--to", today(), "--csv", str(bad))  # fmt: skip
    assert refused.code == 2, refused
    assert "header lacks" in refused.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--provider", "stripe", "--from", "2026-12-01", "--to", "2026-12-02"], "provider"),
        (["--provider", "simulator", "--from", "2026-12-02", "--to", "2026-12-01"], "after"),
        (["--provider", "simulator", "--from", "2026-01-01", "--to", "2026-12-31"], "93 days"),
        (["--provider", "simulator", "--from", "someday", "--to", "2026-12-01"], "from"),
        (["--provider", "simulator", "--from", "2026-12-01"], "--to"),
        (["--provider", "simulator", "--from", "2026-12-01", "--to", "2026-12-01",
          "--csv", "/nonexistent/file.csv"], "cannot read"),
    ],
)  # fmt: skip
async def test_usage_errors_exit_2(stack: Stack, args: list[str], says: str) -> None:
    ran = await micro(stack, "payments", "reconcile", *args)
    assert ran.code == 2, ran
    assert says in ran.err
