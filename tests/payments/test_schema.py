"""The payments schema after every migration: the tables and columns providers need."""

from __future__ import annotations

import asyncpg

from tests.conftest import CreateDb


async def test_provider_tables_and_columns(create_db: CreateDb) -> None:
    conn = await asyncpg.connect(await create_db("payments"))
    try:
        rows = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    columns = {(r["table_name"], r["column_name"]): r["data_type"] for r in rows}
    # Secrets are kept as ciphertext, never as text.
    assert columns[("provider_credentials", "secret_key")] == "bytea"
    assert columns[("provider_credentials", "webhook_secret")] == "bytea"
    for needed in (
        ("provider_events", "event_id"),
        ("payment_intents", "provider_account"),
        ("payment_intents", "attempts"),
        ("payouts", "wallet_id"),
        ("payouts", "provider_transfer_id"),
    ):
        assert needed in columns
