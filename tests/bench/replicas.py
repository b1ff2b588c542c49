"""One replica against two (issue: beyond one machine).

In one run, on one stack: ledger postings (POST /ledger/transactions, uniform accounts and one
hot account) and payment create+confirms, sent straight to the service with one replica and
then spread round-robin over two replicas of the same service (a second `micro serve`
process on the same database), at the same concurrency. The ceiling beside them is the
posting SQL over asyncpg and bare one-row commits, each with enough clients to keep
PostgreSQL busy.

This machine has two cores shared by the client, the replicas, PostgreSQL and Redis, so a
second replica mostly competes for the same CPU: the figures are printed as they are, and
docs/scaling.md says what they mean for a bigger machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import redis.asyncio as aioredis

from cli.stack.ports import free_port
from cli.stack.stack import Stack
from gateway.ratelimit import RateLimiter, RedisGuard
from services.ledger.schemas.transactions import TransactionRequest
from services.ledger.service.posting import post_transactions
from shared.db import Pool, create_pool, in_transaction
from shared.identity import Identity
from tests.bench._load import Result, Send, measure, run
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls
from tests.bench.ledger import open_accounts, pick, transfer_body

CONCURRENCY = 32
SECONDS = 5.0
ACCOUNTS = 100
POOL = "16"
_counter = itertools.count()


async def posting_sql(
    pool: Pool,
    identity: Identity,
    accounts: list[str],
    hot_account: str | None,
    *,
    concurrency: int,
    name: str,
) -> Result:
    """The posting code path over asyncpg, one posting per transaction, no HTTP. (Moved here
    from ledger.py, which now compares against pgbench ceilings; this bench still uses it.)"""

    async def post(_: int) -> None:
        item = TransactionRequest.model_validate(transfer_body(*pick(accounts, hot_account)))
        await in_transaction(
            pool, functools.partial(post_transactions, identity=identity, items=[item])
        )

    return await measure(name, post, concurrency=concurrency, seconds=SECONDS)


@contextlib.asynccontextmanager
async def second_replica(stack: Stack, app: str) -> AsyncIterator[str]:
    """Another process of `app`, on its own port, with the stack's settings otherwise."""
    port = free_port()
    env = {**stack.app_env(), f"MICRO_{app.upper()}_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "serve", app, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as probe:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{url}/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the second {app} replica never became ready")
        yield url
    finally:
        process.terminate()
        await process.wait()


async def main() -> None:
    env = {**BENCH_ENV, "MICRO_LEDGER_POOL_MAX_SIZE": POOL, "MICRO_PAYMENTS_POOL_MAX_SIZE": POOL}
    async with bench_stack(env) as stack:
        ledger, payments = urls(stack)["ledger"], urls(stack)["payments"]
        tenant = await onboard(stack)
        headers = tenant.direct_headers
        accounts = await open_accounts(ledger, headers, ACCOUNTS)
        hot = accounts[0]

        def posting(bases: list[str], hot_account: str | None) -> Send:
            targets = itertools.cycle(bases)  # round-robin, as the gateway balances

            async def send(session: aiohttp.ClientSession) -> int:
                body = transfer_body(*pick(accounts, hot_account))
                async with session.post(
                    f"{next(targets)}/ledger/transactions", json=body, headers=headers
                ) as response:
                    await response.read()
                    return response.status

            return send

        intent = json.dumps(
            {"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        ).encode()

        def confirming(bases: list[str]) -> Send:
            targets = itertools.cycle(bases)  # round-robin, as the gateway balances

            async def send(session: aiohttp.ClientSession) -> int:
                sent = {
                    **headers,
                    "Idempotency-Key": f"bench-{next(_counter)}-{time.time_ns()}",
                    "Content-Type": "application/json",
                }
                async with session.post(
                    f"{next(targets)}/payments/payment_intents", data=intent, headers=sent
                ) as response:
                    await response.read()
                    return response.status

            return send

        identity = Identity(
            principal="key_bench", principal_type="api_key", tenant_id=tenant.tenant_id
        )
        pool = await create_pool(stack.dsn("ledger"), application_name="bench", max_size=32)

        async def commit_ceiling() -> Result:
            """What one PostgreSQL server commits per second with fsync on: one tiny row per
            transaction, the bound on anything that commits once per request."""
            await pool.execute("CREATE TABLE IF NOT EXISTS bench_commits (n bigint)")
            result = await measure(
                "bare commits (one-row INSERT)",
                lambda _: pool.execute("INSERT INTO bench_commits VALUES (1)"),
                concurrency=CONCURRENCY,
                seconds=SECONDS,
            )
            await pool.execute("DROP TABLE bench_commits")
            return result

        async def redis_ceiling() -> Result:
            """Rate-limit decisions per second from one process: the Redis call every gateway
            request makes, pipelined as the gateway pipelines it, over 256 keys."""
            redis = aioredis.Redis.from_url(stack.app_env()["MICRO_REDIS_URL"])
            limiter = RateLimiter(redis, RedisGuard(), window_seconds=60)
            try:
                return await measure(
                    "rate-limit decisions in Redis",
                    lambda n: limiter.hit(f"bench:{n}", 1_000_000_000),
                    concurrency=256,
                    seconds=SECONDS,
                )
            finally:
                await redis.aclose()

        print(f"{CONCURRENCY} concurrent clients, {SECONDS:.0f} s each, straight to the service")
        decisions = await redis_ceiling()
        print("  " + decisions.line(), flush=True)
        commits = await commit_ceiling()
        print("  " + commits.line(), flush=True)
        ceiling = await posting_sql(
            pool, identity, accounts, None, concurrency=CONCURRENCY,
            name="posting SQL, one per transaction",
        )  # fmt: skip
        await pool.close()
        print("  " + ceiling.line(), flush=True)
        found: dict[str, Result] = {}
        async with (
            second_replica(stack, "ledger") as ledger_2,
            second_replica(stack, "payments") as payments_2,
        ):
            cases: list[tuple[str, Send]] = [
                ("ledger postings, 1 replica", posting([ledger], None)),
                ("ledger postings, 2 replicas", posting([ledger, ledger_2], None)),
                ("... hot account, 1 replica", posting([ledger], hot)),
                ("... hot account, 2 replicas", posting([ledger, ledger_2], hot)),
                ("payment confirms, 1 replica", confirming([payments])),
                ("payment confirms, 2 replicas", confirming([payments, payments_2])),
            ]
            for name, send in cases:
                await run("warm-up", send, concurrency=4, seconds=0.5)
                found[name] = await run(name, send, concurrency=CONCURRENCY, seconds=SECONDS)
                print("  " + found[name].line(), flush=True)
        print("ratios (2 replicas / 1 replica; 2 cores here, so about 1.0x is the honest answer):")
        for one, two in (
            ("ledger postings, 1 replica", "ledger postings, 2 replicas"),
            ("... hot account, 1 replica", "... hot account, 2 replicas"),
            ("payment confirms, 1 replica", "payment confirms, 2 replicas"),
        ):
            ratio = found[two].rate / found[one].rate
            print(
                f"  {two:32} {ratio:5.2f}x   ({found[two].rate:5.0f}/s vs {found[one].rate:5.0f}/s)"
            )
        best = max(
            found["ledger postings, 1 replica"].rate, found["ledger postings, 2 replicas"].rate
        )
        # Above 100%: the service's coalescer commits many postings per transaction.
        print(f"  best ledger postings / posting SQL:  {best / ceiling.rate:6.1%}")
        print(f"  best ledger postings / bare commits: {best / commits.rate:6.1%}")
        print(f"  rate-limit decisions / best postings: {decisions.rate / best:5.1f}x")
