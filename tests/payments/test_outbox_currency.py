"""Each posting in the payments outbox records the currency it moves (migration 0008):
rows written before it get the currency of what owes them."""

from __future__ import annotations

import asyncpg

from shared.migrations import apply_migrations, load_migrations, migrations_dir
from shared.settings import app_role
from tests.support.servers import PostgresHandle

BEFORE, CURRENCY = 7, 8


def _entries(*codes: str) -> str:
    legs = ", ".join(
        f'{{"account_id": "{code}", "amount": 5, "direction": "{direction}"}}'
        for code, direction in zip(codes, ("debit", "credit"), strict=True)
    )
    return f'{{"reference_id": "r", "entries": [{legs}]}}'


async def test_rows_written_before_get_the_currency_of_what_owes_them(pg: PostgresHandle) -> None:
    await pg.create_database("m_outbox_currency")
    conn = await asyncpg.connect(pg.dsn("m_outbox_currency"))
    migrations = load_migrations(migrations_dir("payments"))
    try:
        earlier = [m for m in migrations if m.version <= BEFORE]
        await apply_migrations(conn, earlier, label="payments", app_role=app_role("payments"))
        await conn.execute(
            """
            INSERT INTO payment_intents (id, tenant_id, livemode, amount, currency)
                VALUES ('pi_1', 't', false, 5, 'eur');
            INSERT INTO refunds (id, tenant_id, livemode, payment_intent_id, amount, currency)
                VALUES ('re_1', 't', false, 'pi_1', 5, 'eur');
            INSERT INTO payouts (id, tenant_id, livemode, amount, currency, provider, destination)
                VALUES ('po_1', 't', false, 5, 'ngn', 'simulator', '{}');
            """
        )
        # Each body names the accounts of another currency: the owner's currency wins.
        for reference_id, body in [
            ("pi_1", _entries("payments.clearing.usd", "wallet.wal_1")),
            ("re_1", _entries("wallet.wal_1", "payments.clearing.usd")),
            ("po_1", _entries("payments.balance.usd", "payments.clearing.usd")),
            ("po_1.reversal", _entries("payments.clearing.usd", "payments.balance.usd")),
            ("by_hand", _entries("payments.clearing.jpy", "wallet.wal_1")),
        ]:
            await conn.execute(
                "INSERT INTO ledger_outbox (id, tenant_id, livemode, reference_id, body) "
                "VALUES ($1, 't', false, $1, $2::jsonb)",
                reference_id,
                body,
            )
        applied = await apply_migrations(
            conn, migrations, label="payments", app_role=app_role("payments")
        )
        assert CURRENCY in [m.version for m in applied]
        found = {
            r["reference_id"]: r["currency"]
            for r in await conn.fetch("SELECT reference_id, currency FROM ledger_outbox")
        }
        nullable = await conn.fetchval(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'ledger_outbox' AND column_name = 'currency'"
        )
    finally:
        await conn.close()
    assert found == {
        "pi_1": "eur", "re_1": "eur", "po_1": "ngn", "po_1.reversal": "ngn", "by_hand": "jpy",
    }  # fmt: skip
    assert nullable == "NO"
