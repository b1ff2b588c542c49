"""The payments service killed between its commit and the ledger call: after a restart the
ledger holds the payment exactly once. Both services run as real processes (`micro serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

from cli.stack.ports import free_port
from tests.conftest import CreateDb
from tests.support.asgi import identity_headers

TENANT = "ten_crash"


@contextlib.contextmanager
def serve(app: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", app],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def output(log: Path) -> str:
    return log.read_text(errors="replace")


async def healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"exited {process.returncode}:\n{output(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"not healthy in time:\n{output(log)}")


async def count(dsn: str, query: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(query, *args))
    finally:
        await conn.close()


async def test_killed_after_commit_the_payment_lands_exactly_once(
    create_db: CreateDb, redis_url: str, tmp_path: Path
) -> None:
    payments_dsn, ledger_dsn = await create_db("payments"), await create_db("ledger")
    payments_port, ledger_port = free_port(), free_port()
    log = tmp_path / "services.log"
    payments_env = {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_PAYMENTS_DATABASE_URL": payments_dsn,
        "MICRO_PAYMENTS_PORT": str(payments_port),
        "MICRO_PAYMENTS_RELAY_INTERVAL": "0.2",
        "MICRO_PAYMENTS_LEDGER_WAIT": "0.5",
        # Nothing listens there yet: the relay cannot post.
        "MICRO_PAYMENTS_LEDGER_URL": f"http://127.0.0.1:{ledger_port}",
    }
    with serve("payments", payments_env, log) as payments:
        await healthy(payments_port, payments, log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{payments_port}") as http:
            response = await http.post(
                "/payments/payment_intents",
                json={"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa",
                      "confirm": True},
                headers={**identity_headers(tenant_id=TENANT), "Idempotency-Key": "crash-1"},
            )  # fmt: skip
        assert response.status_code == 200, response.text
        intent = response.json()
        assert intent["status"] == "succeeded"
        # The answer is recorded for its key just after it is sent; let that land, so the
        # retry below is a replay (a kill before it would leave the key claimed a while).
        done = "SELECT count(*) FROM idempotency_keys WHERE key = 'crash-1' AND status = 'done'"
        deadline = time.monotonic() + 10
        while not await count(payments_dsn, done):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        payments.send_signal(signal.SIGKILL)
        payments.wait(10)
    unposted = "SELECT count(*) FROM ledger_outbox WHERE reference_id = $1 AND posted_at IS NULL"
    assert await count(payments_dsn, unposted, intent["id"]) == 1

    ledger_env = {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_LEDGER_DATABASE_URL": ledger_dsn,
        "MICRO_LEDGER_PORT": str(ledger_port),
    }
    with serve("ledger", ledger_env, log) as ledger:
        await healthy(ledger_port, ledger, log)
        with serve("payments", payments_env, log) as payments:
            await healthy(payments_port, payments, log)
            postings = "SELECT count(*) FROM transactions WHERE reference_id = $1"
            deadline = time.monotonic() + 30
            while await count(ledger_dsn, postings, intent["id"]) == 0:
                assert time.monotonic() < deadline, output(log)
                await asyncio.sleep(0.1)
            # A few more relay rounds, and a retry of the same request: still one posting.
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{payments_port}") as http:
                again = await http.post(
                    "/payments/payment_intents",
                    json={"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa",
                          "confirm": True},
                    headers={**identity_headers(tenant_id=TENANT), "Idempotency-Key": "crash-1"},
                )  # fmt: skip
            assert again.json()["id"] == intent["id"]
            await asyncio.sleep(1.0)
            assert await count(ledger_dsn, postings, intent["id"]) == 1
    assert await count(payments_dsn, unposted, intent["id"]) == 0
