"""The migration runner: order, checksums, concurrency, and the schema it produces."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from shared.migrations import (
    MigrationError,
    apply_migrations,
    load_migrations,
    migrate_service,
    migrations_dir,
    shared_migrations_dir,
)
from shared.settings import SERVICES, app_role
from tests.support.servers import CreateDb, PostgresHandle, owner_dsn

# What shared/ keeps in every service's database, and the two bookkeeping tables.
SHARED_TABLES = {"idempotency_keys", "outbox", "schema_migrations", "shared_migrations"}
EXPECTED_TABLES = {
    "auth": {"tenants", "users", "sessions", "refresh_tokens", "api_keys", "signing_keys"},
    "payments": {
        "payment_intents",
        "refunds",
        "ledger_outbox",
        "payouts",
        "provider_credentials",
        "provider_events",
        "customers",
        "payment_methods",
        # Failover (0013).
        "provider_routes",
        "intent_routes",
        "payment_attempts",
        "reconciliations",
        "reconciliation_lines",
        "simulator_journal",
    },
    "ledger": {"accounts", "transactions", "entries", "holds", "resolutions", "verify_runs"},
    "wallet": {"wallets", "wallet_operations", "wallet_transactions"},
    "events": {"events", "webhook_endpoints", "deliveries", "delivery_attempts"},
}


async def fresh_database(pg: PostgresHandle, name: str) -> str:
    """An empty database; its DSN as the owner."""
    await pg.create_database(name)
    return pg.dsn(name)


def write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(sql)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_migration_gives_the_expected_schema(pg: PostgresHandle, service: str) -> None:
    dsn = await fresh_database(pg, f"m_schema_{service}")
    applied = await migrate_service(service, dsn, app_role=app_role(service))
    assert [m.filename for m in applied] == [
        m.filename
        for m in (
            *load_migrations(migrations_dir(service)),
            *load_migrations(shared_migrations_dir()),
        )
    ]
    conn = await asyncpg.connect(dsn)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    assert tables == EXPECTED_TABLES[service] | SHARED_TABLES


async def test_applying_twice_changes_nothing(pg: PostgresHandle, create_db: CreateDb) -> None:
    dsn = owner_dsn(await create_db("ledger"))  # already migrated from the template
    assert await migrate_service("ledger", dsn, app_role=app_role("ledger")) == []
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(
            load_migrations(migrations_dir("ledger"))
        )
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_do_not_collide(
    pg: PostgresHandle, tmp_path: Path
) -> None:
    dsn = await fresh_database(pg, "m_concurrent")
    # A slow migration widens the window in which the second runner could step on the first.
    write(tmp_path, "0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE t (id int);")
    write(tmp_path, "0002_more.sql", "ALTER TABLE t ADD COLUMN name text;")
    migrations = load_migrations(tmp_path)
    conns = [await asyncpg.connect(dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(apply_migrations(c, migrations, label="test") for c in conns)
        )
        assert sorted(len(r) for r in results) == [0, 0, 0, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == 2
    finally:
        for conn in conns:
            await conn.close()


async def test_an_edited_applied_migration_is_refused(pg: PostgresHandle, tmp_path: Path) -> None:
    dsn = await fresh_database(pg, "m_edited")
    write(tmp_path, "0001_first.sql", "CREATE TABLE t (id int);")
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, load_migrations(tmp_path), label="ledger")
        write(tmp_path, "0001_first.sql", "CREATE TABLE t (id bigint);")
        write(tmp_path, "0002_second.sql", "CREATE TABLE u (id int);")
        with pytest.raises(MigrationError, match=r"ledger: 0001_first.sql was edited after it"):
            await apply_migrations(conn, load_migrations(tmp_path), label="ledger")
        # Nothing after the refusal ran.
        assert await conn.fetchval("SELECT to_regclass('u')") is None
    finally:
        await conn.close()


async def test_an_applied_migration_missing_from_disk_is_refused(
    pg: PostgresHandle, tmp_path: Path
) -> None:
    dsn = await fresh_database(pg, "m_missing")
    write(tmp_path / "a", "0001_first.sql", "CREATE TABLE t (id int);")
    write(tmp_path / "a", "0002_second.sql", "CREATE TABLE u (id int);")
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, load_migrations(tmp_path / "a"), label="x")
        (tmp_path / "a" / "0002_second.sql").unlink()
        with pytest.raises(MigrationError, match=r"0002_second\.sql, which this code"):
            await apply_migrations(conn, load_migrations(tmp_path / "a"), label="x")
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(
    pg: PostgresHandle, tmp_path: Path
) -> None:
    dsn = await fresh_database(pg, "m_failing")
    write(tmp_path, "0001_ok.sql", "CREATE TABLE t (id int);")
    write(tmp_path, "0002_bad.sql", "CREATE TABLE u (id int); SELECT * FROM no_such_table;")
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(MigrationError, match=r"0002_bad\.sql failed: UndefinedTableError"):
            await apply_migrations(conn, load_migrations(tmp_path), label="x")
        assert await conn.fetchval("SELECT to_regclass('u')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["0001_a.sql", "0001_b.sql"], "used twice"),
        (["1_a.sql"], "named NNNN_name.sql"),
        (["0001_Bad-Name.sql"], "named NNNN_name.sql"),
    ],
)
def test_badly_named_files_are_refused(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)
