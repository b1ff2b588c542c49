"""The ledger's SQL ceilings (#19 point 1), measured with pgbench on the bench stack's own
ledger PostgreSQL, in the same run as the figures compared with them.

    ceilings = await sql_ceilings(stack)            # stack: tests.bench._stack.bench_stack
    ceilings.transfer.best   # transfers/s, one double-entry transfer per commit
    ceilings.hot.best        # the same, every transfer touching one hot account
    ceilings.batch.best      # transfers/s, `batch_size` (100) transfers per commit

The shape (frozen dataclasses):

    Ceilings(transfer: Ceiling, hot: Ceiling, batch: Ceiling, batch_size: int)
    Ceiling(name: str, runs: tuple[PgbenchRun, ...], per_transaction: int)
        .best -> float     the best run's transfers/s (tps x per_transaction): the saturating
                           figure over the client counts tried
    PgbenchRun(clients: int, tps: float, transactions: int, failed: int)
        tps excludes pgbench's connection time

How: as the ledger database's owner (`stack.dsn("ledger")`), a scratch schema of its own
holds `accounts`, `transactions` and `entries` made from the real tables (`LIKE ...
INCLUDING ALL`: columns, checks, defaults, indexes), plus what LIKE leaves out and a posting
pays for: the foreign keys, and the deferred balance triggers of migration 0004 (the real
functions, resolving their tables through pgbench's `search_path`, the scratch schema
first). The service's data is not touched; the schema is dropped after. pgbench runs with
`-n -M prepared -j 2 -T seconds` at each client count, durability settings as the server has
them (fsync and synchronous commit on). Ids are time-sortable, as the service's are.

Per transfer, the statements a posting needs (services/ledger/service/posting.py): in one
transaction, each account locked and updated in one global order (the UPDATE takes the row
lock the service's SELECT ... FOR NO KEY UPDATE takes, and returns the balance and version
after), then the transaction row and its two entries (with those balances) in one statement.
The service also reads the references already used before writing (its replay check): the
ceiling leaves that out, so it is what the data work alone allows. The batch: the accounts
of 100 transfers locked in id order, then one statement updating each account once (summed)
and writing the 100 transactions and 200 entries with their running balances, as
posting.py's batch does.
"""

# SQL text made here from constants, numbers and a schema name of our own: no input.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import os
import re
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cli.stack.stack import Stack

PGBENCH = Path("/usr/lib/postgresql/15/bin/pgbench")
TENANT = "ten_bench_ceiling"


@dataclass(frozen=True, slots=True)
class PgbenchRun:
    clients: int
    tps: float
    transactions: int
    failed: int


@dataclass(frozen=True, slots=True)
class Ceiling:
    name: str
    runs: tuple[PgbenchRun, ...]
    # Transfers per pgbench transaction (1, or the batch size).
    per_transaction: int = 1

    @property
    def best(self) -> float:
        """Transfers/s of the best run: the saturating figure."""
        return max((run.tps for run in self.runs), default=0.0) * self.per_transaction

    def line(self) -> str:
        each = ", ".join(
            f"{run.clients} clients {run.tps * self.per_transaction:,.0f}/s" for run in self.runs
        )
        return f"{self.name}: best {self.best:,.0f} transfers/s ({each})"


@dataclass(frozen=True, slots=True)
class Ceilings:
    transfer: Ceiling
    hot: Ceiling
    batch: Ceiling
    batch_size: int


class PgbenchError(RuntimeError):
    pass


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.M)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)
_CLIENTS = re.compile(r"^number of clients: (\d+)", re.M)


def parse_pgbench(output: str) -> PgbenchRun:
    """pgbench's summary (PostgreSQL 14+): tps without the initial connection time."""
    tps, processed = _TPS.search(output), _PROCESSED.search(output)
    clients = _CLIENTS.search(output)
    if tps is None or processed is None or clients is None:
        raise PgbenchError(f"no pgbench summary in:\n{output}")
    failed = _FAILED.search(output)
    return PgbenchRun(
        clients=int(clients.group(1)),
        tps=float(tps.group(1)),
        transactions=int(processed.group(1)),
        failed=int(failed.group(1)) if failed else 0,
    )


def account_id(n: int) -> str:
    return f"acc_{n:08d}"


def _acc(variable: str) -> str:
    """SQL for the account id numbered by a pgbench variable (as account_id does)."""
    return f"('acc_' || lpad(:{variable}::text, 8, '0'))"


def _schema_sql(schema: str, real: str, accounts: int) -> list[str]:
    s = f'"{schema}"'
    return [
        f"CREATE SCHEMA {s}",
        f"CREATE SEQUENCE {s}.entries_seq",
        *(
            f"CREATE TABLE {s}.{table} (LIKE {real}.{table} INCLUDING ALL)"
            for table in ("accounts", "transactions", "entries")
        ),
        # LIKE copies the default nextval of the real sequence: a sequence of its own.
        f"ALTER TABLE {s}.entries ALTER COLUMN seq SET DEFAULT nextval('{s}.entries_seq')",
        f"ALTER TABLE {s}.transactions ADD FOREIGN KEY (parent_id) REFERENCES {s}.transactions",
        f"ALTER TABLE {s}.entries ADD FOREIGN KEY (transaction_id) REFERENCES {s}.transactions",
        f"ALTER TABLE {s}.entries ADD FOREIGN KEY (account_id) REFERENCES {s}.accounts",
        f"""CREATE CONSTRAINT TRIGGER entries_currency_matches_account
            AFTER INSERT ON {s}.entries DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION {real}.ledger_check_entry_currency()""",
        f"""CREATE CONSTRAINT TRIGGER entries_sum_to_zero
            AFTER INSERT ON {s}.entries DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION {real}.ledger_check_zero_sum()""",
        # Time-sortable ids, as shared/ids.py makes them (btree inserts at the right edge).
        f"""CREATE FUNCTION {s}.new_id(prefix text) RETURNS text LANGUAGE sql VOLATILE AS $$
            SELECT prefix || '_' || lpad(to_hex((extract(epoch FROM clock_timestamp())
                   * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 14) $$""",
        # The transfers of a batch, from a seed: the same pairs in each statement that asks.
        f"""CREATE FUNCTION {s}.pairs(seed bigint, size int, accounts int)
            RETURNS TABLE (ordinal int, debit text, credit text)
            LANGUAGE sql IMMUTABLE AS $$
            SELECT i, 'acc_' || lpad((a + 1)::text, 8, '0'),
                   'acc_' || lpad(((a + 1 + abs(hashint8(seed * 4096 + i * 2 + 1))
                                    % (accounts - 1)) % accounts + 1)::text, 8, '0')
            FROM generate_series(1, size) AS i,
                 LATERAL (SELECT abs(hashint8(seed * 4096 + i * 2)) % accounts AS a) AS x $$""",
        f"""INSERT INTO {s}.accounts (id, tenant_id, livemode, name, type, currency)
            SELECT 'acc_' || lpad(n::text, 8, '0'), '{TENANT}', false, 'ceiling ' || n,
                   'asset', 'usd'
            FROM generate_series(1, {accounts}) AS n""",
        f"ANALYZE {s}.accounts",
    ]


def _update(variable: str, column: str, out: str) -> str:
    return (
        f"UPDATE accounts SET {column} = {column} + 1, version = version + 1 "
        f"WHERE id = {_acc(variable)} "
        f"RETURNING debits_posted - credits_posted AS bal_{out}, version AS ver_{out} \\gset\n"
    )


def transfer_script(accounts: int, *, hot: bool) -> str:
    """One double-entry transfer of 1 per commit, debit :a, credit :b (a != b); hot: :a is
    always account 1."""
    pick = (
        f"\\set a 1\n\\set b random(2, {accounts})\n"
        if hot
        else (
            f"\\set a random(1, {accounts})\n\\set b random(1, {accounts - 1})\n"
            "\\if :b >= :a\n\\set b :b + 1\n\\endif\n"
        )
    )
    return (
        pick
        + "BEGIN;\n"
        # Locks in one global order (the lower number first): no deadlocks.
        + "\\if :a < :b\n"
        + _update("a", "debits_posted", "a")
        + _update("b", "credits_posted", "b")
        + "\\else\n"
        + _update("b", "credits_posted", "b")
        + _update("a", "debits_posted", "a")
        + "\\endif\n"
        + "WITH t AS (INSERT INTO transactions (id, tenant_id, livemode, reference_id, "
        "metadata, kind, body_hash) VALUES (new_id('txn'), "
        f"'{TENANT}', false, new_id('ref'), '{{}}', 'standard', md5(random()::text)) "
        "RETURNING id, created_at) "
        "INSERT INTO entries (id, transaction_id, account_id, direction, amount, currency, "
        "pending, balance_after, version_after, created_at) "
        "SELECT new_id('ent'), t.id, e.account_id, e.direction, 1, 'usd', false, e.balance, "
        "e.version, t.created_at FROM t, (VALUES "
        f"({_acc('a')}, 'debit', :bal_a::bigint, :ver_a::bigint, 1), "
        f"({_acc('b')}, 'credit', :bal_b::bigint, :ver_b::bigint, 2)) "
        "AS e(account_id, direction, balance, version, position) ORDER BY e.position;\n"
        "COMMIT;\n"
    )


def batch_script(accounts: int, size: int) -> str:
    """`size` transfers of 1 in one transaction: lock their accounts in id order, then one
    statement: one summed update per account, the transactions, the entries with each
    account's running balance and version."""
    pairs = f"pairs(:seed, {size}, {accounts})"
    return (
        "\\set seed random(1, 1000000000)\n"
        "BEGIN;\n"
        f"SELECT id FROM accounts WHERE id IN (SELECT debit FROM {pairs} UNION "
        f"SELECT credit FROM {pairs}) ORDER BY id FOR NO KEY UPDATE;\n"
        f"WITH p AS MATERIALIZED (SELECT ordinal, new_id('txn') AS txn, debit, credit "
        f"FROM {pairs}), "
        "legs AS MATERIALIZED (SELECT txn, debit AS account_id, 'debit' AS direction, "
        "2 * ordinal AS pos FROM p UNION ALL SELECT txn, credit, 'credit', 2 * ordinal + 1 "
        "FROM p), "
        "c AS (SELECT account_id, count(*) FILTER (WHERE direction = 'debit') AS d, "
        "count(*) FILTER (WHERE direction = 'credit') AS c, count(*) AS k "
        "FROM legs GROUP BY account_id), "
        "u AS (UPDATE accounts a SET debits_posted = a.debits_posted + c.d, "
        "credits_posted = a.credits_posted + c.c, version = a.version + c.k FROM c "
        "WHERE a.id = c.account_id RETURNING a.id, a.debits_posted - a.credits_posted AS bal, "
        "a.version, c.d - c.c AS delta, c.k), "
        "t AS (INSERT INTO transactions (id, tenant_id, livemode, reference_id, metadata, "
        f"kind, body_hash) SELECT txn, '{TENANT}', false, new_id('ref'), '{{}}', 'standard', "
        "md5(random()::text) FROM p RETURNING id, created_at) "
        "INSERT INTO entries (id, transaction_id, account_id, direction, amount, currency, "
        "pending, balance_after, version_after, created_at) "
        "SELECT new_id('ent'), l.txn, l.account_id, l.direction, 1, 'usd', false, "
        "u.bal - u.delta + sum(CASE l.direction WHEN 'debit' THEN 1 ELSE -1 END) OVER w, "
        "u.version - u.k + row_number() OVER w, t.created_at "
        "FROM legs l JOIN u ON u.id = l.account_id JOIN t ON t.id = l.txn "
        "WINDOW w AS (PARTITION BY l.account_id ORDER BY l.pos) ORDER BY l.pos;\n"
        "COMMIT;\n"
    )


async def pgbench(
    dsn: str, script: str, *, clients: int, seconds: float, schema: str, real: str
) -> PgbenchRun:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="ceiling-") as file:
        file.write(script)
        file.flush()
        process = await asyncio.create_subprocess_exec(
            str(PGBENCH),
            "-n",
            "-M",
            "prepared",
            "-f",
            file.name,
            "-c",
            str(clients),
            "-j",
            str(min(2, clients)),
            "-T",
            str(max(1, round(seconds))),
            dsn,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PGOPTIONS": f"-c search_path={schema},{real}"},
        )
        out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise PgbenchError(f"pgbench exited {process.returncode}:\n{text}")
    return parse_pgbench(text)


async def sql_ceilings(
    stack: Stack,
    *,
    accounts: int = 100,
    seconds: float = 5.0,
    clients: Sequence[int] = (8, 16, 32),
    batch_clients: Sequence[int] = (2, 4, 8),
    batch_size: int = 100,
) -> Ceilings:
    """The three ceilings on `stack`'s ledger PostgreSQL (see the module docstring), over
    `accounts` scratch accounts, each client count run for `seconds`."""
    dsn = stack.dsn("ledger")
    schema = f"bench_ceilings_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(dsn)
    try:
        real = await conn.fetchval(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'entries' AND c.relkind = 'r' AND n.nspname NOT LIKE 'bench_%'"
        )
        if real is None:
            raise PgbenchError("the ledger database has no entries table: not migrated?")
        for statement in _schema_sql(schema, real, accounts):
            await conn.execute(statement)
        try:

            async def ceiling(name: str, script: str, counts: Sequence[int], per: int) -> Ceiling:
                runs = []
                for count in counts:
                    runs.append(
                        await pgbench(
                            dsn, script, clients=count, seconds=seconds, schema=schema, real=real
                        )
                    )
                return Ceiling(name, tuple(runs), per)

            transfer = await ceiling(
                "SQL transfer, one per commit",
                transfer_script(accounts, hot=False),
                clients,
                1,
            )
            hot = await ceiling(
                "SQL transfer, one hot account", transfer_script(accounts, hot=True), clients, 1
            )
            batch = await ceiling(
                f"SQL batches of {batch_size}",
                batch_script(accounts, batch_size),
                batch_clients,
                batch_size,
            )
        finally:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    return Ceilings(transfer, hot, batch, batch_size)
