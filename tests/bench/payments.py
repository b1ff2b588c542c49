"""Payments throughput (issue: payments service).

Through the gateway, in one run: create-and-confirm with a fresh Idempotency-Key each time,
the same requests replayed under their keys, and the ceiling (#19): a bare ledger posting
through the gateway, measured in the same run. Prints intents/s, replays/s, p50/p99, and
records (tests/bench/_results) create+confirm against the ledger posting, target >= 50%,
and the replays against create+confirm.

A create+confirm answers once the ledger holds its posting (the confirm makes the ledger
call itself, bounded by `ledger_wait`), so it costs at least one ledger posting: the ratio
shows what the intent, its events and its outbox row add on top.
"""

from __future__ import annotations

import itertools
import json
import time

import aiohttp
import httpx

from tests.bench import _results
from tests.bench._load import Result, Send, run
from tests.bench._memory import record_memory
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

BENCH = "payments"
CONCURRENCY = 16
SECONDS = 5.0
_counter = itertools.count()


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway = urls(stack)["gateway"]
        tenant = await onboard(stack)
        api = tenant.api_headers
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            for code, kind in (("bench.cash", "asset"), ("bench.sales", "revenue")):
                await client.post(
                    "/ledger/accounts",
                    json={"name": code, "type": kind, "currency": "usd", "code": code},
                    headers=api,
                )
        intent = json.dumps(
            {"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        ).encode()
        used_keys: list[str] = []

        def pay(replay: bool) -> Send:
            replays = itertools.cycle(used_keys) if replay else None

            async def send(session: aiohttp.ClientSession) -> int:
                key = next(replays) if replays else f"bench-{next(_counter)}-{time.time_ns()}"
                headers = {**api, "Idempotency-Key": key, "Content-Type": "application/json"}
                async with session.post(
                    f"{gateway}/payments/payment_intents", data=intent, headers=headers
                ) as response:
                    await response.read()
                    if not replay and response.status == 200:
                        used_keys.append(key)
                    return response.status

            return send

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

        await run("warm-up", pay(False), concurrency=4, seconds=0.5)
        print(f"{CONCURRENCY} concurrent clients, {SECONDS:.0f} s each, through the gateway")
        results: dict[str, Result] = {}
        for name, send in (
            ("create+confirm, fresh keys", pay(False)),
            ("the same requests replayed", pay(True)),
            ("bare ledger posting", post_ledger),
        ):
            results[name] = await run(name, send, concurrency=CONCURRENCY, seconds=SECONDS)
            print("  " + results[name].line(), flush=True)
        for name, result in results.items():
            if result.errors:
                print(f"  WARNING: {name}: {result.errors} errors", flush=True)
        paid = results["create+confirm, fresh keys"]
        ledger = results["bare ledger posting"]
        _results.record(
            BENCH,
            "create+confirm (simulator), through the gateway",
            paid.rate,
            "intents/s",
            ceiling=ledger.rate,
            target=">= 0.5",
        )
        _results.record(
            BENCH,
            "create+confirm replayed, through the gateway",
            results["the same requests replayed"].rate,
            "requests/s",
            ceiling=paid.rate,
        )
        record_memory(BENCH, stack)
