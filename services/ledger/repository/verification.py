"""The queries `micro ledger verify` runs: everything recomputed from history."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Connection


async def account_totals_mismatch(conn: Connection) -> Sequence[asyncpg.Record]:
    return await conn.fetch(
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


async def pending_totals_mismatch(conn: Connection) -> Sequence[asyncpg.Record]:
    return await conn.fetch(
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


async def unbalanced_transactions(conn: Connection) -> Sequence[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT transaction_id, currency,
               sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END)::bigint AS difference
        FROM entries GROUP BY transaction_id, currency, pending
        HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0
        """
    )


async def unbalanced_books(conn: Connection) -> Sequence[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT a.tenant_id, a.livemode, a.currency,
               (sum(a.debits_posted) - sum(a.credits_posted))::bigint AS difference
        FROM accounts a GROUP BY a.tenant_id, a.livemode, a.currency
        HAVING sum(a.debits_posted) <> sum(a.credits_posted)
        """
    )


async def stale_balances_after(conn: Connection) -> Sequence[asyncpg.Record]:
    """Accounts whose last posted entry does not show the account's posted balance."""
    return await conn.fetch(
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


async def counts(conn: Connection) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM accounts) AS accounts, "
        "(SELECT count(*) FROM transactions) AS transactions, "
        "(SELECT count(*) FROM entries) AS entries"
    )
    assert row is not None
    return row
