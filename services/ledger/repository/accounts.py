"""Accounts and their running totals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.ledger.repository.filters import Where
from services.ledger.repository.rows import AccountRow, CurrencyTotalsRow
from shared.db import Connection
from shared.pagination import ListParams, keyset
from shared.rows import row

# Lapsed holds still sit in the pending totals until swept; these sums take them back out.
_SELECT = """
    SELECT a.id, a.tenant_id, a.livemode, a.name, a.code, a.type, a.currency, a.no_overdraft,
           a.metadata::text AS metadata, a.debits_posted, a.credits_posted, a.debits_pending,
           a.credits_pending, a.version, a.created_at,
           coalesce(x.debits, 0)::bigint AS expired_debits,
           coalesce(x.credits, 0)::bigint AS expired_credits
    FROM accounts a
    LEFT JOIN LATERAL (
        SELECT sum(amount) FILTER (WHERE direction = 'debit') AS debits,
               sum(amount) FILTER (WHERE direction = 'credit') AS credits
        FROM holds h WHERE h.account_id = a.id AND h.expires_at <= now()
    ) x ON true
"""


def _account(record: asyncpg.Record) -> AccountRow:
    return row(AccountRow, {**dict(record), "metadata": json.loads(record["metadata"])})


async def insert(
    conn: Connection,
    *,
    account_id: str,
    tenant_id: str,
    livemode: bool,
    name: str,
    type: str,
    currency: str,
    no_overdraft: bool,
    code: str | None,
    metadata: dict[str, Any],
) -> bool:
    """False when the code is taken in this tenant and mode."""
    status = await conn.execute(
        """
        INSERT INTO accounts (id, tenant_id, livemode, name, type, currency, no_overdraft,
                              code, metadata)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
        ON CONFLICT (tenant_id, livemode, code) WHERE code IS NOT NULL DO NOTHING
        """,
        account_id,
        tenant_id,
        livemode,
        name,
        type,
        currency,
        no_overdraft,
        code,
        json.dumps(metadata),
    )
    return bool(status.endswith(" 1"))


async def get(conn: Connection, *, tenant_id: str, livemode: bool, ref: str) -> AccountRow | None:
    """By id or by code."""
    found = await conn.fetchrow(
        _SELECT + " WHERE a.tenant_id = $1 AND a.livemode = $2 AND (a.id = $3 OR a.code = $3)",
        tenant_id,
        livemode,
        ref,
    )
    return None if found is None else _account(found)


async def coded_under(
    conn: Connection, *, tenant_id: str, livemode: bool, prefix: str
) -> list[AccountRow]:
    """The tenant's accounts whose code starts with `prefix`, by currency."""
    found = await conn.fetch(
        _SELECT
        + """
        WHERE a.tenant_id = $1 AND a.livemode = $2 AND starts_with(a.code, $3)
        ORDER BY a.currency
        """,
        tenant_id,
        livemode,
        prefix,
    )
    return [_account(record) for record in found]


async def currency_totals(
    conn: Connection, *, tenant_id: str, livemode: bool
) -> list[CurrencyTotalsRow]:
    """Per currency, over every account of the tenant and mode: the posted debits and credits,
    and the accounts' net balances on each side (a trial balance's two columns)."""
    found = await conn.fetch(
        """
        SELECT currency, count(*)::bigint AS accounts,
               coalesce(sum(debits_posted), 0)::bigint AS debits,
               coalesce(sum(credits_posted), 0)::bigint AS credits,
               coalesce(sum(greatest(debits_posted - credits_posted, 0)), 0)::bigint
                   AS debit_balances,
               coalesce(sum(greatest(credits_posted - debits_posted, 0)), 0)::bigint
                   AS credit_balances
        FROM accounts
        WHERE tenant_id = $1 AND livemode = $2
        GROUP BY currency
        ORDER BY currency
        """,
        tenant_id,
        livemode,
    )
    return [row(CurrencyTotalsRow, record) for record in found]


async def list_page(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    params: ListParams,
    currency: str | None,
    type: str | None,
) -> list[AccountRow]:
    op, order = keyset(params)
    where = Where(tenant_id, livemode)
    where.add_if(f"a.id {op} {{}}", params.cursor)
    where.add_if("a.currency = {}", currency)
    where.add_if("a.type = {}", type)
    limit = where.param(params.fetch)
    found = await conn.fetch(
        _SELECT
        + f" WHERE {where.sql('a.tenant_id = $1', 'a.livemode = $2')}"
        + f" ORDER BY a.id {order} LIMIT {limit}",
        *where.values,
    )
    return [_account(record) for record in found]


async def update(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    account_id: str,
    name: str | None,
    metadata: dict[str, Any] | None,
) -> bool:
    status = await conn.execute(
        """
        UPDATE accounts SET name = coalesce($4, name),
                            metadata = coalesce($5::jsonb, metadata)
        WHERE id = $1 AND tenant_id = $2 AND livemode = $3
        """,
        account_id,
        tenant_id,
        livemode,
        name,
        None if metadata is None else json.dumps(metadata),
    )
    return bool(status.endswith(" 1"))


async def lock(
    conn: Connection, *, tenant_id: str, livemode: bool, refs: Sequence[str]
) -> list[AccountRow]:
    """The accounts named by id or code, locked in id order.

    Locking every account a request touches, in one global order, before writing any row
    that references them, is what keeps concurrent postings free of deadlocks.
    """
    found = await conn.fetch(
        _SELECT
        + """
        WHERE a.tenant_id = $1 AND a.livemode = $2 AND (a.id = ANY($3) OR a.code = ANY($3))
        ORDER BY a.id FOR NO KEY UPDATE OF a
        """,
        tenant_id,
        livemode,
        list(refs),
    )
    return [_account(record) for record in found]


async def lock_with_references(
    conn: Connection,
    *,
    tenant_id: str,
    livemode: bool,
    refs: Sequence[str],
    references: Sequence[str],
) -> tuple[list[AccountRow], dict[str, tuple[str, str]]]:
    """`lock`, and in the same statement (one round trip) the transaction references among
    `references` already used: reference_id -> (transaction id, body hash). The references
    are read with the statement's snapshot, before the locks are waited for, as a separate
    query before `lock` would read them: a reference taken meanwhile shows when the insert
    finds it (`transactions.insert`), and the posting starts over."""
    found = await conn.fetch(
        """
        WITH r AS MATERIALIZED (
            SELECT coalesce(array_agg(reference_id), '{}') AS used_refs,
                   coalesce(array_agg(id), '{}') AS used_ids,
                   coalesce(array_agg(body_hash), '{}') AS used_hashes
            FROM transactions
            WHERE tenant_id = $1 AND livemode = $2 AND reference_id = ANY($4)
        )
        SELECT r.used_refs, r.used_ids, r.used_hashes, l.*
        FROM r LEFT JOIN LATERAL ("""
        + _SELECT
        + """
            WHERE a.tenant_id = $1 AND a.livemode = $2 AND (a.id = ANY($3) OR a.code = ANY($3))
            ORDER BY a.id FOR NO KEY UPDATE OF a
        ) l ON true
        ORDER BY l.id
        """,
        tenant_id,
        livemode,
        list(refs),
        list(references),
    )
    first = found[0]
    used = {
        ref: (txn_id, body_hash)
        for ref, txn_id, body_hash in zip(
            first["used_refs"], first["used_ids"], first["used_hashes"], strict=True
        )
    }
    # No account matched: the one row, of the references only. (row() ignores used_*.)
    accounts = [_account(record) for record in found if record["id"] is not None]
    return accounts, used


async def apply_changes(
    conn: Connection, changes: Sequence[tuple[str, int, int, int, int, int]]
) -> None:
    """One summed update per account: (id, +debits, +credits, +pending d, +pending c, version)."""
    if not changes:
        return
    columns = list(zip(*changes, strict=True))
    await conn.execute(
        """
        UPDATE accounts a SET debits_posted = a.debits_posted + c.dp,
                              credits_posted = a.credits_posted + c.cp,
                              debits_pending = a.debits_pending + c.dh,
                              credits_pending = a.credits_pending + c.ch,
                              version = c.version
        FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                    $6::bigint[]) AS c(id, dp, cp, dh, ch, version)
        WHERE a.id = c.id
        """,
        *map(list, columns),
    )
