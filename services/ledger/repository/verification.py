"""The queries `micro ledger verify` runs: everything recomputed from history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.rows import row, rows


@dataclass(frozen=True, slots=True)
class AccountTotals:
    """An account whose posted totals differ from the sum of its posted entries."""

    id: str
    debits_posted: int
    credits_posted: int
    entry_debits: int
    entry_credits: int


@dataclass(frozen=True, slots=True)
class PendingTotals:
    """An account whose pending totals differ from the sum of its holds."""

    id: str
    debits_pending: int
    credits_pending: int
    hold_debits: int
    hold_credits: int


@dataclass(frozen=True, slots=True)
class UnbalancedTransaction:
    transaction_id: str
    currency: str
    difference: int


@dataclass(frozen=True, slots=True)
class UnbalancedBooks:
    tenant_id: str
    livemode: bool
    currency: str
    difference: int


@dataclass(frozen=True, slots=True)
class StaleBalance:
    id: str
    balance_after: int
    posted: int


@dataclass(frozen=True, slots=True)
class Counts:
    accounts: int
    transactions: int
    entries: int


async def account_totals_mismatch(conn: Connection) -> list[AccountTotals]:
    found = await conn.fetch(
        """
        SELECT a.id, a.tenant_id, a.debits_posted, a.credits_posted,
               coalesce(e.debits, 0) AS entry_debits, coalesce(e.credits, 0) AS entry_credits
        FROM accounts a
        LEFT JOIN (
            SELECT account_id,
                   sum(amount) FILTER (WHERE direction = 'debit')::bigint AS debits,
                   sum(amount) FILTER (WHERE direction = 'credit')::bigint AS credits
            FROM entries WHERE NOT pending GROUP BY account_id
        ) e ON e.account_id = a.id
        WHERE a.debits_posted <> coalesce(e.debits, 0) OR a.credits_posted <> coalesce(e.credits, 0)
        """
    )
    return rows(AccountTotals, found)


async def pending_totals_mismatch(conn: Connection) -> list[PendingTotals]:
    found = await conn.fetch(
        """
        SELECT a.id, a.tenant_id, a.debits_pending, a.credits_pending,
               coalesce(h.debits, 0) AS hold_debits, coalesce(h.credits, 0) AS hold_credits
        FROM accounts a
        LEFT JOIN (
            SELECT account_id,
                   sum(amount) FILTER (WHERE direction = 'debit')::bigint AS debits,
                   sum(amount) FILTER (WHERE direction = 'credit')::bigint AS credits
            FROM holds GROUP BY account_id
        ) h ON h.account_id = a.id
        WHERE a.debits_pending <> coalesce(h.debits, 0)
           OR a.credits_pending <> coalesce(h.credits, 0)
        """
    )
    return rows(PendingTotals, found)


async def unbalanced_transactions(conn: Connection) -> list[UnbalancedTransaction]:
    """Per transaction, currency and pending-ness, entries whose debits and credits differ.

    Grouped by transaction alone first, in the order of its index (no sort, no hash table of
    a million keys): a transaction in one currency balances when its posted and its pending
    entries each sum to zero. Only the suspects (those that do not, and any in several
    currencies) are then grouped by currency, which is what is reported. With 1,000,000
    transactions loaded: 8.8 s -> 2.5 s on the 2-core machine (#19).
    """
    found = await conn.fetch(
        """
        WITH suspects AS (
            SELECT transaction_id FROM entries
            GROUP BY transaction_id
            HAVING min(currency) <> max(currency)
                OR sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END)
                       FILTER (WHERE NOT pending) <> 0
                OR sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END)
                       FILTER (WHERE pending) <> 0
        )
        SELECT transaction_id, currency,
               sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END)::bigint AS difference
        FROM entries WHERE transaction_id IN (SELECT transaction_id FROM suspects)
        GROUP BY transaction_id, currency, pending
        HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0
        """
    )
    return rows(UnbalancedTransaction, found)


async def unbalanced_books(conn: Connection) -> list[UnbalancedBooks]:
    found = await conn.fetch(
        """
        SELECT a.tenant_id, a.livemode, a.currency,
               (sum(a.debits_posted) - sum(a.credits_posted))::bigint AS difference
        FROM accounts a GROUP BY a.tenant_id, a.livemode, a.currency
        HAVING sum(a.debits_posted) <> sum(a.credits_posted)
        """
    )
    return rows(UnbalancedBooks, found)


async def stale_balances_after(conn: Connection) -> list[StaleBalance]:
    """Accounts whose last posted entry does not show the account's posted balance."""
    found = await conn.fetch(
        """
        SELECT a.id, a.tenant_id, last.balance_after,
               CASE WHEN a.type IN ('asset', 'expense')
                    THEN a.debits_posted - a.credits_posted
                    ELSE a.credits_posted - a.debits_posted END AS posted
        FROM accounts a
        JOIN LATERAL (
            SELECT balance_after FROM entries e
            WHERE e.account_id = a.id AND NOT e.pending ORDER BY seq DESC LIMIT 1
        ) last ON true
        WHERE last.balance_after <> CASE WHEN a.type IN ('asset', 'expense')
                                         THEN a.debits_posted - a.credits_posted
                                         ELSE a.credits_posted - a.debits_posted END
        """
    )
    return rows(StaleBalance, found)


async def counts(conn: Connection) -> Counts:
    found = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM accounts) AS accounts, "
        "(SELECT count(*) FROM transactions) AS transactions, "
        "(SELECT count(*) FROM entries) AS entries"
    )
    assert found is not None
    return row(Counts, found)


@dataclass(frozen=True, slots=True)
class VerifyRun:
    """What the last periodic verification found, and when it finished."""

    discrepancies: int
    finished_at: datetime


async def last_run(conn: Connection) -> VerifyRun | None:
    record = await conn.fetchrow("SELECT discrepancies, finished_at FROM verify_runs")
    return None if record is None else row(VerifyRun, record)


async def record_run(conn: Connection, *, discrepancies: int) -> None:
    await conn.execute(
        "INSERT INTO verify_runs (discrepancies, finished_at) VALUES ($1, now()) "
        "ON CONFLICT (only_row) DO UPDATE SET discrepancies = EXCLUDED.discrepancies, "
        "finished_at = EXCLUDED.finished_at",
        discrepancies,
    )


async def try_lock(conn: Connection, key: int) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def unlock(conn: Connection, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def seconds_since_last_run(conn: Connection) -> float | None:
    value = await conn.fetchval(
        "SELECT extract(epoch FROM now() - finished_at)::float8 FROM verify_runs"
    )
    return None if value is None else float(value)
