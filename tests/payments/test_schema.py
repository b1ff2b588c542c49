"""The payments schema after every migration: the tables and columns providers need."""

from __future__ import annotations

import asyncpg

from shared.settings import app_role
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


async def test_customers_methods_and_charges(create_db: CreateDb) -> None:
    conn = await asyncpg.connect(await create_db("payments"))
    try:
        columns = {
            (r["table_name"], r["column_name"])
            for r in await conn.fetch(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
        }
        # The app's role may change a refund's metadata and what its provider answers
        # (status, the provider's id, a failure's reason), never its money.
        grants = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'refunds' "
                "AND has_column_privilege($1, 'refunds', column_name, 'UPDATE')",
                app_role("payments"),
            )
        }
    finally:
        await conn.close()
    for needed in (
        ("customers", "deleted_at"),
        ("payment_methods", "card_of"),
        ("payment_intents", "customer_id"),
        ("payment_intents", "latest_charge"),
        ("refunds", "metadata"),
    ):
        assert needed in columns
    assert grants == {"metadata", "status", "provider_refund_id", "failure_reason", "updated_at"}
