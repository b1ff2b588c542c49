"""The ledger's balance rules hold in the database itself: SQL that tries to break them.

These statements bypass the service entirely (a script, a migration gone wrong, a bug in a
new code path); each must be refused at COMMIT, and a balanced write must still go through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.conftest import CreateDb
from tests.support.servers import owner_dsn

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def conn(create_db: CreateDb) -> AsyncIterator[asyncpg.Connection]:
    # As the owner, whom no grant stops (a migration, a script): the rules still hold. The
    # app's role cannot even try some of these (tests/test_db_roles.py).
    connection = await asyncpg.connect(owner_dsn(await create_db("ledger")))
    for account_id, currency in (("acc_usd1", "usd"), ("acc_usd2", "usd"),
                                 ("acc_eur1", "eur"), ("acc_eur2", "eur")):  # fmt: skip
        await connection.execute(
            "INSERT INTO accounts (id, tenant_id, livemode, name, type, currency)"
            " VALUES ($1, 'ten_x', false, $1, 'asset', $2)",
            account_id,
            currency,
        )
    try:
        yield connection
    finally:
        await connection.close()


async def write(conn: asyncpg.Connection, transaction_id: str, *legs: tuple[Any, ...]) -> None:
    """One ledger transaction with these (account, direction, amount, currency) entries."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO transactions (id, tenant_id, livemode, reference_id, kind, body_hash)"
            " VALUES ($1, 'ten_x', false, $1, 'standard', 'x')",
            transaction_id,
        )
        for position, (account_id, direction, amount, currency) in enumerate(legs):
            await conn.execute(
                "INSERT INTO entries (id, transaction_id, account_id, direction, amount,"
                " currency, pending, balance_after, version_after)"
                " VALUES ($1, $2, $3, $4, $5, $6, false, 0, 0)",
                f"{transaction_id}_e{position}",
                transaction_id,
                account_id,
                direction,
                amount,
                currency,
            )


async def test_a_balanced_transaction_commits(conn: asyncpg.Connection) -> None:
    await write(
        conn, "txn_ok", ("acc_usd1", "debit", 100, "usd"), ("acc_usd2", "credit", 100, "usd")
    )
    assert await conn.fetchval("SELECT count(*) FROM entries WHERE transaction_id = 'txn_ok'") == 2


async def test_balanced_in_each_of_two_currencies_commits(conn: asyncpg.Connection) -> None:
    await write(
        conn,
        "txn_fx",
        ("acc_usd1", "debit", 100, "usd"),
        ("acc_usd2", "credit", 100, "usd"),
        ("acc_eur1", "debit", 92, "eur"),
        ("acc_eur2", "credit", 92, "eur"),
    )


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param([("acc_usd1", "debit", 100, "usd")], id="one-leg"),
        pytest.param(
            [("acc_usd1", "debit", 100, "usd"), ("acc_usd2", "credit", 99, "usd")],
            id="off-by-a-cent",
        ),
        pytest.param(
            [("acc_usd1", "debit", 100, "usd"), ("acc_usd2", "debit", 100, "usd")],
            id="two-debits",
        ),
        pytest.param(
            # The amounts cancel out, but across currencies: no currency balances.
            [("acc_usd1", "debit", 100, "usd"), ("acc_eur1", "credit", 100, "eur")],
            id="across-currencies",
        ),
        pytest.param(
            [
                ("acc_usd1", "debit", 100, "usd"),
                ("acc_usd2", "credit", 100, "usd"),
                ("acc_eur1", "debit", 5, "eur"),
            ],
            id="one-currency-of-two",
        ),
    ],
)
async def test_an_unbalanced_transaction_never_commits(
    conn: asyncpg.Connection, legs: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
        await write(conn, "txn_bad", *legs)
    assert await conn.fetchval("SELECT count(*) FROM transactions") == 0
    assert await conn.fetchval("SELECT count(*) FROM entries") == 0


async def test_an_entry_in_another_currency_than_its_account_never_commits(
    conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="its account acc_eur1 holds eur"):
        await write(
            conn, "txn_cur", ("acc_usd1", "debit", 100, "usd"), ("acc_eur1", "credit", 100, "usd")
        )
    assert await conn.fetchval("SELECT count(*) FROM entries") == 0


async def test_checking_immediately_refuses_the_first_leg_alone(conn: asyncpg.Connection) -> None:
    """The triggers are deferred, not optional: asking for them now runs them now."""
    async with conn.transaction():
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        await conn.execute(
            "INSERT INTO transactions (id, tenant_id, livemode, reference_id, kind, body_hash)"
            " VALUES ('txn_now', 'ten_x', false, 'txn_now', 'standard', 'x')"
        )
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await conn.execute(
                "INSERT INTO entries (id, transaction_id, account_id, direction, amount,"
                " currency, pending, balance_after, version_after)"
                " VALUES ('e1', 'txn_now', 'acc_usd1', 'debit', 1, 'usd', false, 0, 0)"
            )


async def test_an_account_currency_never_changes(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="cannot change"):
        await conn.execute("UPDATE accounts SET currency = 'eur' WHERE id = 'acc_usd1'")
    # Balances still move as the service moves them.
    await conn.execute("UPDATE accounts SET debits_posted = 5 WHERE id = 'acc_usd1'")
