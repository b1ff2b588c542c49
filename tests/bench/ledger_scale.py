"""The ledger's cost as the data grows (#19): 1,000,000 transactions bulk-loaded.

In one run, on one bench stack (fsync on): (1) posting on the empty database (POST
/ledger/transactions to the service, 16 clients, 100 accounts); (2) 1,000,000 two-entry
transactions COPYed into the ledger's real tables as the database owner, over 10,000
accounts and 30 days, valid by the ledger's own rules (its deferred triggers check every
entry at commit; each chunk commits its entries with the accounts' running totals), then
VACUUM ANALYZE (what autovacuum would do, done now so it does not run mid-measurement);
(3) `micro ledger verify` run as a user runs it (a subprocess with the stack's settings):
no discrepancies, entries/s; (4) posting again (same clients, 100 loaded accounts with
history): the ratio to (1); (5) one client's latency: an account's balance, its balance at
a moment in the middle of the loaded range, and list pages, the first and a deep one
(Stripe cursors: `starting_after` an id halfway down), for accounts drawn uniformly and
for the busiest account (a tenth of all transactions touch it); (6) each app's memory.

Accounts on the debit side are drawn by Zipf's law (rank r with weight 1/r), on the credit
side uniformly: a few accounts (a platform's cash, its fees) carry much of the history, as
in a real ledger.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import asyncpg

from cli.stack.stack import Stack
from shared.ids import new_id
from tests.bench._load import Result, Send, run
from tests.bench._memory import record_memory
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls
from tests.bench.ledger import open_accounts, transfer_body

BENCH = "ledger_scale"
# Fewer for a quick try of the benchmark itself (the figures need the million).
TRANSACTIONS = int(os.environ.get("MICRO_BENCH_SCALE_TRANSACTIONS", "1000000"))
ACCOUNTS = 10_000
CHUNK = 50_000  # transactions per COPY and commit
DAYS = 30
POSTING_ACCOUNTS = 100
CONCURRENCY = 16
POSTING_SECONDS = 8.0
READ_SECONDS = 4.0
_DAY_MS = 86_400_000

Rows = list[tuple[object, ...]]


@dataclass(slots=True)
class Totals:
    """A loaded account's running totals, as the engine keeps them."""

    debit_normal: bool
    debits: int = 0
    credits: int = 0
    version: int = 0

    @property
    def posted(self) -> int:
        return self.debits - self.credits if self.debit_normal else self.credits - self.debits


@dataclass(frozen=True, slots=True)
class Loaded:
    accounts: list[str]
    busiest: str
    # Every 1,000th transaction id written, for deep-page cursors.
    transaction_sample: list[str]
    first_ms: int
    last_ms: int
    seconds: float


class Plan:
    """Generates the rows chunk by chunk, in time order (so `seq` follows `balance_after`)."""

    def __init__(self, tenant_id: str, accounts: list[str], *, end_ms: int) -> None:
        self.tenant_id = tenant_id
        self.accounts = accounts
        self.totals = {
            account: Totals(debit_normal=n % 2 == 0) for n, account in enumerate(accounts)
        }
        self.first_ms = end_ms - DAYS * _DAY_MS
        self.step_ms = DAYS * _DAY_MS / TRANSACTIONS
        weights = [1 / rank for rank in range(1, len(accounts) + 1)]
        self.cumulative = list(itertools.accumulate(weights))
        self.random = random.Random(19)
        self.sample: list[str] = []

    def chunk(self, start: int, count: int) -> tuple[Rows, Rows, list[tuple[str, int, int, int]]]:
        """(transactions, entries, account totals) rows for transactions start..start+count."""
        draw = self.random
        debits = draw.choices(self.accounts, cum_weights=self.cumulative, k=count)
        transactions: Rows = []
        entries: Rows = []
        touched: set[str] = set()
        for n in range(count):
            index = start + n
            at_ms = int(self.first_ms + index * self.step_ms)
            at = datetime.fromtimestamp(at_ms / 1000, UTC)
            txn = new_id("txn", at_ms=at_ms)
            if index % 1000 == 0:
                self.sample.append(txn)
            reference = f"load-{index}"
            transactions.append(
                (
                    txn,
                    self.tenant_id,
                    False,
                    reference,
                    "{}",
                    "standard",
                    hashlib.sha256(reference.encode()).hexdigest(),
                    at,
                )
            )
            debit, credit = debits[n], draw.choice(self.accounts)
            while credit == debit:
                credit = draw.choice(self.accounts)
            amount = draw.randint(1, 100_000)
            for account, direction in ((debit, "debit"), (credit, "credit")):
                totals = self.totals[account]
                if direction == "debit":
                    totals.debits += amount
                else:
                    totals.credits += amount
                totals.version += 1
                entries.append(
                    (
                        new_id("ent", at_ms=at_ms),
                        txn,
                        account,
                        direction,
                        amount,
                        "usd",
                        False,
                        totals.posted,
                        totals.version,
                        at,
                    )
                )
            touched.update((debit, credit))
        changed = [
            (a, self.totals[a].debits, self.totals[a].credits, self.totals[a].version)
            for a in touched
        ]
        return transactions, entries, changed


async def bulk_load(stack: Stack, tenant_id: str) -> Loaded:
    """COPY the accounts, then the transactions chunk by chunk (the next chunk is generated
    while the database commits the last), then VACUUM ANALYZE."""
    began = time.perf_counter()
    conn = await asyncpg.connect(stack.dsn("ledger"))
    try:
        end_ms = time.time_ns() // 1_000_000 - 3_600_000
        opened = datetime.fromtimestamp((end_ms - (DAYS + 1) * _DAY_MS) / 1000, UTC)
        accounts = [new_id("acc", at_ms=end_ms - (DAYS + 1) * _DAY_MS + n) for n in range(ACCOUNTS)]
        await conn.copy_records_to_table(
            "accounts",
            columns=["id", "tenant_id", "livemode", "name", "type", "currency", "created_at"],
            records=[
                (a, tenant_id, False, f"load {n}", "asset" if n % 2 == 0 else "liability", "usd",
                 opened)
                for n, a in enumerate(accounts)
            ],
        )  # fmt: skip
        plan = Plan(tenant_id, accounts, end_ms=end_ms)
        starts = list(range(0, TRANSACTIONS, CHUNK))
        pending = asyncio.create_task(asyncio.to_thread(plan.chunk, starts[0], CHUNK))
        for number, start in enumerate(starts, 1):
            transactions, entries, changed = await pending
            if number < len(starts):
                pending = asyncio.create_task(asyncio.to_thread(plan.chunk, start + CHUNK, CHUNK))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "transactions",
                    columns=["id", "tenant_id", "livemode", "reference_id", "metadata", "kind",
                             "body_hash", "created_at"],
                    records=transactions,
                )  # fmt: skip
                await conn.copy_records_to_table(
                    "entries",
                    columns=["id", "transaction_id", "account_id", "direction", "amount",
                             "currency", "pending", "balance_after", "version_after",
                             "created_at"],
                    records=entries,
                )  # fmt: skip
                await conn.execute(
                    """
                    UPDATE accounts a SET debits_posted = c.d, credits_posted = c.c,
                                          version = c.v
                    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
                         AS c(id, d, c, v)
                    WHERE a.id = c.id
                    """,
                    *map(list, zip(*changed, strict=True)),
                )
            done = start + len(transactions)
            elapsed = time.perf_counter() - began
            print(
                f"  loaded {done:>9,} transactions ({done * 2:,} entries) "
                f"in {elapsed:5.1f}s: {done / elapsed:,.0f}/s",
                flush=True,
            )
        analysed = time.perf_counter()
        await conn.execute("VACUUM ANALYZE accounts, transactions, entries")
        print(f"  VACUUM ANALYZE in {time.perf_counter() - analysed:.1f}s", flush=True)
    finally:
        await conn.close()
    busiest = max(plan.totals, key=lambda a: plan.totals[a].version)
    return Loaded(
        accounts=accounts,
        busiest=busiest,
        transaction_sample=plan.sample,
        first_ms=plan.first_ms,
        last_ms=end_ms,
        seconds=time.perf_counter() - began,
    )


def verify_command(stack: Stack) -> tuple[float, dict[str, object]]:
    """`micro ledger verify --json` as a user runs it, with the stack's settings: its wall
    time (the interpreter's start included) and its report."""
    env = {**stack.app_env(), "MICRO_LOG_LEVEL": "WARNING"}
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "ledger", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise AssertionError(f"micro ledger verify exited {done.returncode}: {done.stderr}")
    report: dict[str, object] = json.loads(done.stdout)
    return seconds, report


def poster(base: str, headers: dict[str, str], accounts: list[str]) -> Send:
    async def send(session: aiohttp.ClientSession) -> int:
        body = transfer_body(*random.sample(accounts, 2))
        async with session.post(f"{base}/ledger/transactions", json=body, headers=headers) as r:
            await r.read()
            return r.status

    return send


def getter(base: str, headers: dict[str, str], paths: Callable[[], str]) -> Send:
    async def send(session: aiohttp.ClientSession) -> int:
        async with session.get(base + paths(), headers=headers) as response:
            await response.read()
            return response.status

    return send


async def posting(label: str, base: str, headers: dict[str, str], accounts: list[str]) -> Result:
    result = await run(
        label,
        poster(base, headers, accounts),
        concurrency=CONCURRENCY,
        seconds=POSTING_SECONDS,
    )
    print("  " + result.line(), flush=True)
    if result.errors:
        raise AssertionError(f"{label}: {result.errors} errors")
    return result


async def latency(
    label: str, base: str, headers: dict[str, str], paths: Callable[[], str]
) -> float:
    """One client's p99, in ms."""
    result = await run(
        label,
        getter(base, headers, paths),
        concurrency=1,
        seconds=READ_SECONDS,
    )
    print("  " + result.line(), flush=True)
    if result.errors:
        raise AssertionError(f"{label}: {result.errors} errors")
    return result.percentile(99)


async def middle_entries(stack: Stack, accounts: list[str]) -> dict[str, str]:
    """An entry id halfway down each account's history (a deep `starting_after`)."""
    conn = await asyncpg.connect(stack.dsn("ledger"))
    try:
        found = {}
        for account in accounts:
            found[account] = await conn.fetchval(
                "SELECT id FROM entries WHERE account_id = $1 ORDER BY seq "
                "OFFSET (SELECT count(*) / 2 FROM entries WHERE account_id = $1) LIMIT 1",
                account,
            )
        return found
    finally:
        await conn.close()


async def main() -> None:
    env = {**BENCH_ENV, "MICRO_LEDGER_POOL_MAX_SIZE": "32", "MICRO_LEDGER_VERIFY_INTERVAL": "0"}
    async with bench_stack(env) as stack:
        ledger = urls(stack)["ledger"]
        tenant = await onboard(stack)
        headers = tenant.direct_headers
        fresh = await open_accounts(ledger, headers, POSTING_ACCOUNTS)
        print(f"{CONCURRENCY} clients posting for {POSTING_SECONDS:.0f}s; reads: 1 client, "
              f"{READ_SECONDS:.0f}s each")  # fmt: skip
        empty = await posting("(1) posting, empty database", ledger, headers, fresh)

        print(f"(2) bulk load: {TRANSACTIONS:,} transactions over {ACCOUNTS:,} accounts, "
              f"{DAYS} days")  # fmt: skip
        loaded = await bulk_load(stack, tenant.tenant_id)
        record(BENCH, "bulk load (COPY, checked at commit, VACUUM ANALYZE)", loaded.seconds, "s")

        seconds, report = await asyncio.to_thread(verify_command, stack)
        entries = int(str(report["entries"]))
        if report["ok"] is not True or report["discrepancies"] or entries < 2 * TRANSACTIONS:
            raise AssertionError(f"the loaded ledger does not verify: {report}")
        print(f"  (3) micro ledger verify: {entries:,} entries, 0 discrepancies, {seconds:.2f}s")
        record(BENCH, "micro ledger verify", entries / seconds, "entries/s", target=">= 500000")

        rng = random.Random(7)
        history = rng.sample(loaded.accounts, POSTING_ACCOUNTS)
        after = await posting(f"(4) posting, {TRANSACTIONS:,} loaded", ledger, headers, history)
        record(
            BENCH,
            f"posting with {TRANSACTIONS:,} loaded / empty database",
            after.rate,
            "req/s",
            ceiling=empty.rate,
            target=">= 0.9",
        )

        busiest, uniform = loaded.busiest, loaded.accounts
        middle_s = (loaded.first_ms + loaded.last_ms) // 2000
        deep_entries = await middle_entries(stack, [busiest, *rng.sample(uniform, 200)])
        deep_accounts = list(deep_entries)[1:]

        def any_account() -> str:
            return rng.choice(uniform)

        reads: list[tuple[str, Callable[[], str], str]] = [
            ("balance read", lambda: f"/ledger/accounts/{any_account()}", "<= 5"),
            ("balance read, busiest account", lambda: f"/ledger/accounts/{busiest}", "<= 5"),
            (
                "balance at a time mid-range",
                lambda: f"/ledger/accounts/{any_account()}/balance?at={middle_s}",
                "<= 10",
            ),
            (
                "balance at a time mid-range, busiest account",
                lambda: f"/ledger/accounts/{busiest}/balance?at={middle_s}",
                "<= 10",
            ),
            ("transactions, first page", lambda: "/ledger/transactions", "<= 20"),
            (
                "transactions, deep page",
                lambda: (
                    "/ledger/transactions?starting_after="
                    + rng.choice(middle(loaded.transaction_sample))
                ),
                "<= 20",
            ),
            ("accounts, first page", lambda: "/ledger/accounts", "<= 20"),
            (
                "accounts, deep page",
                lambda: f"/ledger/accounts?starting_after={rng.choice(uniform[2000:8000])}",
                "<= 20",
            ),
            (
                "entries, first page",
                lambda: f"/ledger/accounts/{any_account()}/entries",
                "<= 20",
            ),
            (
                "entries, deep page",
                lambda: (
                    lambda a: f"/ledger/accounts/{a}/entries?starting_after={deep_entries[a]}"
                )(rng.choice(deep_accounts)),
                "<= 20",
            ),
            (
                "entries, deep page, busiest account",
                lambda: (
                    f"/ledger/accounts/{busiest}/entries?starting_after=" + deep_entries[busiest]
                ),
                "<= 20",
            ),
        ]
        print(f"(5) one client's latency, {TRANSACTIONS:,} loaded (p99):")
        for name, paths, target in reads:
            p99 = await latency(name, ledger, headers, paths)
            record(BENCH, f"{name}, p99", p99, "ms", target=target)
        record_memory(BENCH, stack)


def middle(items: list[str]) -> list[str]:
    """The middle half: cursors deep in the list, never at its ends."""
    return items[len(items) // 4 : 3 * len(items) // 4] or items
