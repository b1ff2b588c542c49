"""Ledger throughput (issue: ledger service).

On one PostgreSQL server (fsync on), in one run: (1) the posting code path driven directly
over asyncpg (the same SQL the service runs, no HTTP): the ceiling; (2) POST
/ledger/transactions straight to the service, uniform accounts and one hot account; (3) the
same through the gateway; (4) the batch endpoint, 100 and 1,000 transfers per request.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import time

import aiohttp
import httpx

from services.ledger.schemas.transactions import TransactionRequest
from services.ledger.service.posting import post_transactions
from shared.db import Pool, create_pool, in_transaction
from shared.identity import Identity
from tests.bench._load import Result, Send, measure, run
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

CONCURRENCY = 16
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
    return (hot, second) if hot else (first, second)


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


async def posting_sql(
    pool: Pool,
    identity: Identity,
    accounts: list[str],
    hot_account: str | None,
    *,
    concurrency: int,
    name: str,
) -> Result:
    """The posting code path over asyncpg, one posting per transaction, no HTTP."""

    async def post(_: int) -> None:
        item = TransactionRequest.model_validate(transfer_body(*pick(accounts, hot_account)))
        await in_transaction(
            pool, functools.partial(post_transactions, identity=identity, items=[item])
        )

    return await measure(name, post, concurrency=concurrency, seconds=SECONDS)


async def main() -> None:
    async with bench_stack({**BENCH_ENV, "MICRO_LEDGER_POOL_MAX_SIZE": "32"}) as stack:
        gateway, ledger = urls(stack)["gateway"], urls(stack)["ledger"]
        tenant = await onboard(stack)
        api, direct_headers = tenant.api_headers, tenant.direct_headers
        identity = Identity(
            principal="key_bench", principal_type="api_key", tenant_id=tenant.tenant_id
        )
        accounts = await open_accounts(gateway, api, ACCOUNTS)
        hot = accounts[0]

        def http_sender(base: str, headers: dict[str, str], hot_account: str | None):  # type: ignore[no-untyped-def]
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

        pool = await create_pool(stack.dsn("ledger"), application_name="bench", max_size=32)

        async def direct(hot_account: str | None) -> Result:
            name = "(1) posting SQL over asyncpg" + (", hot account" if hot_account else "")
            return await posting_sql(
                pool, identity, accounts, hot_account, concurrency=CONCURRENCY, name=name
            )

        print(f"{CONCURRENCY} concurrent clients, {SECONDS:.0f} s each, 2-entry transfers of 1")
        results: dict[str, Result] = {}
        results["direct"] = await direct(None)
        print("  " + results["direct"].line(), flush=True)
        results["direct-hot"] = await direct(hot)
        print("  " + results["direct-hot"].line(), flush=True)
        await pool.close()
        for label, base, headers, hot_account in (
            ("service", ledger, direct_headers, None),
            ("service-hot", ledger, direct_headers, hot),
            ("gateway", gateway, api, None),
            ("gateway-hot", gateway, api, hot),
        ):
            name = {
                "service": "(2) POST /ledger/transactions, service",
                "service-hot": "(2) ... service, hot account",
                "gateway": "(3) ... through the gateway",
                "gateway-hot": "(3) ... gateway, hot account",
            }[label]
            results[label] = await run(
                name,
                http_sender(base, headers, hot_account),
                concurrency=CONCURRENCY,
                seconds=SECONDS,
            )
            print("  " + results[label].line(), flush=True)
        for size in (100, 1000):
            result = await run(
                f"(4) batch of {size}, per request",
                batch_sender(size),
                concurrency=4,
                seconds=SECONDS,
            )
            results[f"batch-{size}"] = result
            print("  " + result.line() + f"   = {result.rate * size:,.0f} transfers/s", flush=True)
        ceiling, service = results["direct"], results["service"]
        print("ratios:")
        print(f"  service / direct SQL:  {service.rate / ceiling.rate:6.1%}  (target >= 50%)")
        hot_rate = results["service-hot"].rate
        print(f"  hot account through the service: {hot_rate:6.0f}/s  (target >= 1,000/s)")
        print(f"  gateway / service:               {results['gateway'].rate / service.rate:6.1%}")
        batch = results["batch-1000"].rate * 1000
        print(f"  batch of 1,000:                  {batch:8,.0f} transfers/s  (target >= 10,000/s)")
