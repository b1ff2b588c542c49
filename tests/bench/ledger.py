"""Ledger throughput (#19), each figure beside its SQL ceiling measured in the same run.

On the bench stack (fsync and synchronous commit on): first the ceilings, pgbench on the
same PostgreSQL the service uses (tests/bench/_ceilings.py: a double-entry transfer per
commit, the same on one hot account, batches of 100); then POST /ledger/transactions
straight to the service and through the gateway, uniform accounts and one hot account, at
16, 32 and 64 clients (the best is the figure: enough to saturate); then the batch
endpoint, 100 and 1,000 transfers per request.

The old "direct SQL" figure (the posting code over asyncpg, in the bench process) is gone:
it posted one transfer per commit where the service coalesces concurrent ones, and its
Python ran in the bench client on the same two cores, so it measured neither the database's
ceiling nor the service (#19 called it a weak baseline); pgbench is the ceiling now.

The bench client shares the two cores with the server: each HTTP run prints the CPU the
client process took (share of one core) beside its rate.
"""

from __future__ import annotations

import itertools
import json
import random
import time

import aiohttp
import httpx

from tests.bench import _results
from tests.bench._ceilings import sql_ceilings
from tests.bench._load import Result, Send, run
from tests.bench._memory import record_memory
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

BENCH = "ledger"
CONCURRENCIES = (16, 32, 64)
SECONDS = 5.0
ACCOUNTS = 100
_counter = itertools.count()


def transfer_body(debit: str, credit: str) -> dict[str, object]:
    return {
        "reference_id": f"bench-{next(_counter)}-{time.time_ns()}",
        "entries": [
            {"account_id": debit, "amount": 1, "direction": "debit"},
            {"account_id": credit, "amount": 1, "direction": "credit"},
        ],
    }


def pick(accounts: list[str], hot: str | None) -> tuple[str, str]:
    first, second = random.sample(accounts, 2)
    if hot is None:
        return first, second
    return hot, (second if second != hot else first)


async def open_accounts(base: str, headers: dict[str, str], count: int) -> list[str]:
    """`count` usd asset accounts, made through `base` (the gateway or the service)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        accounts = []
        for n in range(count):
            created = await client.post(
                "/ledger/accounts",
                json={"name": f"bench {n}", "type": "asset", "currency": "usd"},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            accounts.append(created.json()["id"])
    return accounts


async def timed(name: str, send: Send, *, concurrency: int) -> tuple[Result, float]:
    """The run, and the CPU the bench client took meanwhile (share of one core)."""
    cpu = time.process_time()
    result = await run(name, send, concurrency=concurrency, seconds=SECONDS)
    return result, (time.process_time() - cpu) / result.seconds


async def main() -> None:
    async with bench_stack({**BENCH_ENV, "MICRO_LEDGER_POOL_MAX_SIZE": "32"}) as stack:
        gateway, ledger = urls(stack)["gateway"], urls(stack)["ledger"]
        tenant = await onboard(stack)
        api, direct_headers = tenant.api_headers, tenant.direct_headers
        accounts = await open_accounts(gateway, api, ACCOUNTS)
        hot = accounts[0]

        print("SQL ceilings (pgbench, same PostgreSQL server):", flush=True)
        ceilings = await sql_ceilings(stack, accounts=ACCOUNTS, seconds=SECONDS)
        for ceiling in (ceilings.transfer, ceilings.hot, ceilings.batch):
            print("  " + ceiling.line(), flush=True)

        def http_sender(base: str, headers: dict[str, str], hot_account: str | None) -> Send:
            async def send(session: aiohttp.ClientSession) -> int:
                body = transfer_body(*pick(accounts, hot_account))
                async with session.post(
                    f"{base}/ledger/transactions", json=body, headers=headers
                ) as response:
                    await response.read()
                    return response.status

            return send

        def batch_sender(size: int) -> Send:
            # Bodies are encoded before the clock starts: the client's JSON work would
            # otherwise take CPU from the server it measures (both share two cores).
            bodies = iter(
                [
                    json.dumps(
                        {
                            "transactions": [
                                transfer_body(*pick(accounts, None)) for _ in range(size)
                            ]
                        }
                    ).encode()
                    for _ in range(max(20, 150_000 // size))
                ]
            )
            headers = {**direct_headers, "Content-Type": "application/json"}

            async def send(session: aiohttp.ClientSession) -> int:
                async with session.post(
                    f"{ledger}/ledger/transactions/batch", data=next(bodies), headers=headers
                ) as response:
                    await response.read()
                    return response.status

            return send

        print(f"HTTP, {SECONDS:.0f} s per run, 2-entry transfers of 1:", flush=True)
        best: dict[str, Result] = {}
        for label, base, headers, hot_account in (
            ("through the service", ledger, direct_headers, None),
            ("hot account, through the service", ledger, direct_headers, hot),
            ("through the gateway", gateway, api, None),
            ("hot account, through the gateway", gateway, api, hot),
        ):
            for concurrency in CONCURRENCIES:
                result, client_cpu = await timed(
                    f"{label}, {concurrency} clients",
                    http_sender(base, headers, hot_account),
                    concurrency=concurrency,
                )
                print(f"  {result.line()}   client CPU {client_cpu:4.0%}", flush=True)
                if label not in best or result.rate > best[label].rate:
                    best[label] = result
        for size in (100, 1000):
            result, client_cpu = await timed(
                f"batch of {size}, per request", batch_sender(size), concurrency=4
            )
            best[f"batch of {size}"] = result
            print(
                f"  {result.line()}   = {result.rate * size:,.0f} transfers/s"
                f"   client CPU {client_cpu:4.0%}",
                flush=True,
            )

        for label, result in best.items():
            if result.errors:
                print(f"  WARNING: {label}: {result.errors} errors", flush=True)
        transfer, hot_ceiling = ceilings.transfer.best, ceilings.hot.best
        _results.record(
            BENCH,
            "posting, through the service",
            best["through the service"].rate,
            "transfers/s",
            ceiling=transfer,
        )
        _results.record(
            BENCH,
            "posting, through the gateway",
            best["through the gateway"].rate,
            "transfers/s",
            ceiling=transfer,
            target=">= 0.5",
        )
        for where in ("service", "gateway"):
            _results.record(
                BENCH,
                f"hot account, through the {where}",
                best[f"hot account, through the {where}"].rate,
                "transfers/s",
                ceiling=hot_ceiling,
                target=">= 0.9",
            )
        _results.record(
            BENCH,
            "batch of 100",
            best["batch of 100"].rate * 100,
            "transfers/s",
            ceiling=ceilings.batch.best,
        )
        _results.record(
            BENCH,
            "batch of 1,000",
            best["batch of 1000"].rate * 1000,
            "transfers/s",
            ceiling=ceilings.batch.best,
            target=">= 0.8",
        )
        record_memory(BENCH, stack)
