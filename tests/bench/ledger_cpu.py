"""Ledger CPU time per posting: the ledger app's, and its PostgreSQL server's (every process
of it, exited backends included), over the postings served at 16 clients straight to the
service, and per transfer in batches of 100 (#19: what each change of the write path bought).

It moves less than throughput with the machine's other load, but it does move (451 us per
posting on a quieter minute, 914 us beside a test run): to compare two commits, run both at
once, each from its own tree (`git archive COMMIT | tar -x -C DIR`, PYTHONPATH=DIR), so both
see the same load.
"""

from __future__ import annotations

import os

import aiohttp

from tests.bench._load import Send, run
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls
from tests.bench.gateway_cpu import cpu_seconds, listening_pid
from tests.bench.ledger import ACCOUNTS, open_accounts, pick, transfer_body

BENCH = "ledger_cpu"
ROUNDS = 3
SECONDS = 6.0
CLIENTS = 16


def server_cpu_seconds(postmaster: int) -> float:
    """A PostgreSQL server's CPU so far: the postmaster with its reaped children (cutime,
    cstime: backends that exited), and the children still running."""
    tick = os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{postmaster}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                child = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile: its time is in the postmaster's cutime now
        if int(child[1]) == postmaster:
            total += (int(child[11]) + int(child[12])) / tick
    return total


async def main() -> None:
    async with bench_stack({**BENCH_ENV, "MICRO_LEDGER_POOL_MAX_SIZE": "32"}) as stack:
        ledger = urls(stack)["ledger"]
        tenant = await onboard(stack)
        headers = tenant.direct_headers
        accounts = await open_accounts(ledger, headers, ACCOUNTS)
        app = listening_pid(ledger.rsplit(":", 1)[1])
        postgres = listening_pid(str(stack.settings.db_ports["ledger"]))

        def sender(size: int) -> Send:
            async def one(session: aiohttp.ClientSession) -> int:
                async with session.post(
                    f"{ledger}/ledger/transactions",
                    json=transfer_body(*pick(accounts, None)),
                    headers=headers,
                ) as response:
                    await response.read()
                    return response.status

            async def batch(session: aiohttp.ClientSession) -> int:
                body = {"transactions": [transfer_body(*pick(accounts, None)) for _ in range(size)]}
                async with session.post(
                    f"{ledger}/ledger/transactions/batch", json=body, headers=headers
                ) as response:
                    await response.read()
                    return response.status

            return one if size == 1 else batch

        await run("warm-up", sender(1), concurrency=4, seconds=1)
        for size, clients, label in ((1, CLIENTS, "posting"), (100, 4, "batch of 100")):
            app_us: list[float] = []
            db_us: list[float] = []
            for _ in range(ROUNDS):
                app_before, db_before = cpu_seconds(app), server_cpu_seconds(postgres)
                result = await run(label, sender(size), concurrency=clients, seconds=SECONDS)
                transfers = (result.requests - result.errors) * size
                app_us.append(1e6 * (cpu_seconds(app) - app_before) / transfers)
                db_us.append(1e6 * (server_cpu_seconds(postgres) - db_before) / transfers)
                print(
                    f"  {result.line()}   ledger {app_us[-1]:6.0f} us   "
                    f"PostgreSQL {db_us[-1]:6.0f} us per transfer",
                    flush=True,
                )
            per = "per posting" if size == 1 else "per transfer"
            record(BENCH, f"{label}: ledger app CPU {per}, best of 3", min(app_us), "us")
            record(BENCH, f"{label}: PostgreSQL CPU {per}, best of 3", min(db_us), "us")
