"""Payments throughput (issue: payments service).

Through the gateway, in one run: create-and-confirm with a fresh Idempotency-Key each time,
the same requests replayed under their keys, and, for scale, a bare ledger posting through
the gateway. Prints intents/s, replays/s, p50/p99 and the ratio to the ledger posting.

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

from tests.bench._load import Result, Send, run
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

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
        pay_rate = results["create+confirm, fresh keys"].rate
        print("ratios:")
        ledger_rate = results["bare ledger posting"].rate
        print(f"  create+confirm / ledger posting: {pay_rate / ledger_rate:6.1%}")
        print(
            f"  replays / create+confirm:        "
            f"{results['the same requests replayed'].rate / pay_rate:6.2f}x"
        )
