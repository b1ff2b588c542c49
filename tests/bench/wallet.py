"""Wallet throughput (issue 7).

Through the gateway, in one run: transfers between random wallets of one tenant (each a
wallet operation row, one atomic ledger posting, the history and an event), and the ceiling
(#19): a bare ledger posting through the gateway, measured in the same run. Prints
transfers/s and p50/p99, and records (tests/bench/_results) the transfers against the
ledger posting, target >= 60%.
"""

from __future__ import annotations

import itertools
import random
import time

import aiohttp
import httpx

from tests.bench import _results
from tests.bench._load import Result, run
from tests.bench._memory import record_memory
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

BENCH = "wallet"
CONCURRENCY = 16
SECONDS = 5.0
WALLETS = 32
_counter = itertools.count()


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway = urls(stack)["gateway"]
        tenant = await onboard(stack)
        api = tenant.api_headers
        wallet_ids: list[str] = []
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            for code, kind in (("bench.cash", "asset"), ("bench.sales", "revenue")):
                await client.post(
                    "/ledger/accounts",
                    json={"name": code, "type": kind, "currency": "usd", "code": code},
                    headers=api,
                )
            for n in range(WALLETS):
                wallet = (
                    await client.post(
                        "/wallet", json={"owner": f"cus_{n}", "currency": "usd"}, headers=api
                    )
                ).json()
                deposit = await client.post(
                    "/wallet/deposit",
                    json={"wallet_id": wallet["id"], "amount": 99_999_999},
                    headers=api,
                )
                assert deposit.json().get("status") == "succeeded", deposit.text
                wallet_ids.append(wallet["id"])
        rng = random.Random(1)

        async def send_transfer(session: aiohttp.ClientSession) -> int:
            source, target = rng.sample(wallet_ids, 2)
            body = {"from_wallet_id": source, "to_wallet_id": target, "amount": 1}
            headers = {**api, "Idempotency-Key": f"bench-{next(_counter)}-{time.time_ns()}"}
            async with session.post(
                f"{gateway}/wallet/transfer", json=body, headers=headers
            ) as response:
                await response.read()
                return response.status

        async def post_ledger(session: aiohttp.ClientSession) -> int:
            body = {
                "reference_id": f"bench-{next(_counter)}-{time.time_ns()}",
                "entries": [
                    {"account_id": "bench.cash", "amount": 1, "direction": "debit"},
                    {"account_id": "bench.sales", "amount": 1, "direction": "credit"},
                ],
            }
            async with session.post(
                f"{gateway}/ledger/transactions", json=body, headers=api
            ) as response:
                await response.read()
                return response.status

        await run("warm-up", send_transfer, concurrency=4, seconds=0.5)
        print(f"{CONCURRENCY} concurrent clients, {SECONDS:.0f} s each, through the gateway")
        results: dict[str, Result] = {}
        for name, send in (
            (f"transfers between {WALLETS} random wallets", send_transfer),
            ("bare ledger posting", post_ledger),
        ):
            results[name] = await run(name, send, concurrency=CONCURRENCY, seconds=SECONDS)
            print("  " + results[name].line(), flush=True)
        for name, result in results.items():
            if result.errors:
                print(f"  WARNING: {name}: {result.errors} errors", flush=True)
        transfers, ledger = results.values()
        _results.record(
            BENCH,
            "transfer, through the gateway",
            transfers.rate,
            "transfers/s",
            ceiling=ledger.rate,
            target=">= 0.6",
        )
        record_memory(BENCH, stack)
