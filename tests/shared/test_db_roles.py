"""Least privilege in the databases: each app's role holds what its service uses and nothing
else; the ledger's cannot change history or switch off the triggers that guard it.

Every other test runs its apps as these roles too (`create_db` hands out the app's DSN, and
an app refuses to start as a superuser or an owner), so the rest of the suite is the check
that the grants are enough.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import pytest

from cli.stack.binaries import find_psql
from shared.db_roles import RoleError
from shared.migrations import MigrationError, apply_migrations, load_migrations, migrate_service
from shared.settings import DB_USER, SERVICES, app_role, database_url
from tests.support.asgi import ServiceClient, identity_headers
from tests.support.processes import micro
from tests.support.servers import CreateDb, PostgresHandle, owner_dsn

# Every table of every service and what its app's role may do there. A table missing here
# (one a new migration created without granting, or with grants nobody reviewed) fails the
# test below: each migration grants on its own tables, explicitly.
SHARED_GRANTS = {
    "idempotency_keys": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "outbox": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    # Read by `micro db wait` (a pod's init container) to see the migration Job is done.
    "schema_migrations": {"SELECT"},
    "shared_migrations": {"SELECT"},
}
GRANTS: dict[str, dict[str, set[str]]] = {
    "auth": {
        "tenants": {"SELECT", "INSERT", "UPDATE"},
        "users": {"SELECT", "INSERT", "UPDATE"},
        # Ended ones are deleted by retention.
        "sessions": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "refresh_tokens": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "api_keys": {"SELECT", "INSERT", "UPDATE"},
        "signing_keys": {"SELECT", "INSERT"},
    },
    "payments": {
        "payment_intents": {"SELECT", "INSERT", "UPDATE"},
        "payouts": {"SELECT", "INSERT", "UPDATE"},
        "ledger_outbox": {"SELECT", "INSERT", "UPDATE"},
        "provider_events": {"SELECT", "INSERT", "UPDATE"},
        "refunds": {"SELECT", "INSERT"},
        "provider_credentials": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        # Deleted and detached in place (Stripe answers a deleted customer's id): no DELETE.
        "customers": {"SELECT", "INSERT", "UPDATE"},
        "payment_methods": {"SELECT", "INSERT", "UPDATE"},
        # Failover (0013): a tenant's routes are replaced and removed; the route an intent
        # was created on never changes; an attempt's outcome columns only (COLUMN_ONLY_UPDATES).
        "provider_routes": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "intent_routes": {"SELECT", "INSERT"},
        "payment_attempts": {"SELECT", "INSERT"},
        # Settlement runs: completed once; their lines only added.
        "reconciliations": {"SELECT", "INSERT", "UPDATE"},
        "reconciliation_lines": {"SELECT", "INSERT"},
        "simulator_journal": {"SELECT", "INSERT", "UPDATE"},
    },
    "ledger": {
        # History: read and appended to, never changed.
        "transactions": {"SELECT", "INSERT"},
        "entries": {"SELECT", "INSERT"},
        "resolutions": {"SELECT", "INSERT"},
        # UPDATE of some columns only (ACCOUNT_COLUMNS).
        "accounts": {"SELECT", "INSERT"},
        "holds": {"SELECT", "INSERT", "DELETE"},
        # The last periodic verification's result, replaced by each run.
        "verify_runs": {"SELECT", "INSERT", "UPDATE"},
    },
    "wallet": {
        "wallets": {"SELECT", "INSERT", "UPDATE"},
        "wallet_operations": {"SELECT", "INSERT", "UPDATE"},
        "wallet_transactions": {"SELECT", "INSERT", "UPDATE"},
    },
    "events": {
        # Appended to, and deleted by retention once old.
        "events": {"SELECT", "INSERT", "DELETE"},
        "delivery_attempts": {"SELECT", "INSERT", "DELETE"},
        "webhook_endpoints": {"SELECT", "INSERT", "UPDATE", "DELETE"},
        "deliveries": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    },
}
# What of an account the ledger changes: its name and metadata, and its running totals.
ACCOUNT_COLUMNS = {
    "name",
    "metadata",
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "version",
}

# Column-only UPDATE grants: an account's changeable parts; a refund's metadata (Stripe's
# refund update) and what its provider answers (status, its id, a failure's reason), never
# its amount by the app role's hand.
COLUMN_ONLY_UPDATES: dict[str, set[tuple[str, str]]] = {
    "ledger": {("accounts", c) for c in ACCOUNT_COLUMNS},
    "payments": {
        *(
            ("refunds", c)
            for c in ("metadata", "status", "provider_refund_id", "failure_reason", "updated_at")
        ),
        *(("payment_attempts", c) for c in ("status", "error_code", "error_message", "updated_at")),
    },
}

# What the ledger app's role must be refused, each with the reason PostgreSQL gives.
FORBIDDEN_ON_THE_LEDGER = [
    ("UPDATE entries SET amount = 1", "permission denied for table entries"),
    ("DELETE FROM entries", "permission denied for table entries"),
    ("UPDATE transactions SET description = 'edited'", "permission denied for table transactions"),
    ("DELETE FROM transactions", "permission denied for table transactions"),
    ("UPDATE resolutions SET outcome = 'posted'", "permission denied for table resolutions"),
    ("DELETE FROM resolutions", "permission denied for table resolutions"),
    ("TRUNCATE entries", "permission denied for table entries"),
    ("TRUNCATE transactions CASCADE", "permission denied for table transactions"),
    ("UPDATE accounts SET currency = 'eur'", "permission denied for table accounts"),
    ("DELETE FROM accounts", "permission denied for table accounts"),
    ("ALTER TABLE entries DISABLE TRIGGER entries_append_only", "must be owner of table entries"),
    ("ALTER TABLE transactions DISABLE TRIGGER ALL", "must be owner of table transactions"),
    ("DROP TRIGGER entries_append_only ON entries", "must be owner of relation entries"),
    ("ALTER TABLE entries DISABLE TRIGGER entries_sum_to_zero", "must be owner of table entries"),
    ("DROP TRIGGER accounts_currency_fixed ON accounts", "must be owner of relation accounts"),
    ("ALTER TABLE entries ADD COLUMN note text", "must be owner of table entries"),
    ("DROP TABLE entries CASCADE", "must be owner of table entries"),
    (
        "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END; $$",
        "permission denied for schema public",
    ),
    (
        "ALTER FUNCTION ledger_refuse_change() RENAME TO gone",
        "must be owner of function ledger_refuse_change",
    ),
    ("SET session_replication_role = replica", 'permission denied to set parameter "session'),
    ("CREATE TABLE public.mine (id int)", "permission denied for schema public"),
    ("CREATE SCHEMA mine", "permission denied for database"),
    # Which would stop every posting until the session ends.
    ("BEGIN; LOCK TABLE entries IN ACCESS EXCLUSIVE MODE", "permission denied for table entries"),
    (f'SET ROLE "{DB_USER}"', f'permission denied to set role "{DB_USER}"'),
    ("COPY entries FROM PROGRAM 'true'", "pg_execute_server_program role to COPY"),
]


async def _table_grants(conn: asyncpg.Connection, role: str) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT c.relname, coalesce(array_agg(p.privilege_type)"
        "         FILTER (WHERE p.privilege_type IS NOT NULL), '{}') AS privileges"
        " FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
        " LEFT JOIN LATERAL aclexplode(c.relacl) p"
        "   ON p.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)"
        " WHERE c.relkind IN ('r', 'p') GROUP BY c.relname",
        role,
    )
    return {row["relname"]: set(row["privileges"]) for row in rows}


@pytest.mark.parametrize("service", SERVICES)
async def test_each_app_holds_exactly_the_privileges_its_service_uses(
    create_db: CreateDb, service: str
) -> None:
    conn = await asyncpg.connect(owner_dsn(await create_db(service)))
    try:
        role = app_role(service)
        assert await _table_grants(conn, role) == GRANTS[service] | SHARED_GRANTS
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.column_privileges"
            " WHERE grantee = $1 AND privilege_type = 'UPDATE'",
            role,
        )
        updatable = {(row["table_name"], row["column_name"]) for row in columns}
        # Table-wide UPDATE shows here once per column: keep only the column-only grants.
        tables = {
            t for t, grants in (GRANTS[service] | SHARED_GRANTS).items() if "UPDATE" in grants
        }
        column_only = {(t, c) for t, c in updatable if t not in tables}
        assert column_only == COLUMN_ONLY_UPDATES.get(service, set())
        sequences = await conn.fetch(
            "SELECT c.relname FROM pg_class c, aclexplode(c.relacl) p"
            " WHERE c.relkind = 'S' AND p.privilege_type = 'USAGE'"
            " AND p.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1)",
            role,
        )
        assert {row["relname"] for row in sequences} == (
            {"entries_seq_seq"} if service == "ledger" else set()
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_each_app_role_is_neither_superuser_nor_owner(
    create_db: CreateDb, service: str
) -> None:
    conn = await asyncpg.connect(await create_db(service))
    try:
        me = await conn.fetchrow(
            "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert me is not None
        assert me["name"] == app_role(service)
        assert not any(me[k] for k in ("rolsuper", "rolcreaterole", "rolcreatedb"))
        assert not me["rolreplication"]
        assert not me["rolbypassrls"]
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'MEMBER')"
        )
        assert owned == 0
        assert not await conn.fetchval(
            "SELECT pg_has_role(current_user, datdba, 'MEMBER') FROM pg_database"
            " WHERE datname = current_database()"
        )
        assert not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", DB_USER)
        assert not await conn.fetchval(
            "SELECT has_parameter_privilege('session_replication_role', 'SET')"
        )
    finally:
        await conn.close()


async def _funded_ledger(service_client: ServiceClient, dsn: str) -> dict[str, int]:
    """Two accounts and a posted transaction, made by the app itself; the counts of history."""
    async with service_client("ledger", database_url=dsn) as client:
        headers = identity_headers()
        for code, type_ in (("cash", "asset"), ("sales", "revenue")):
            made = await client.post(
                "/ledger/accounts",
                json={"name": code, "code": code, "type": type_, "currency": "usd"},
                headers=headers,
            )
            assert made.status_code == 201, made.text
        posted = await client.post(
            "/ledger/transactions",
            json={
                "reference_id": "sale-1",
                "entries": [
                    {"account_id": "cash", "direction": "debit", "amount": 500},
                    {"account_id": "sales", "direction": "credit", "amount": 500},
                ],
            },
            headers=headers,
        )
        assert posted.status_code == 201, posted.text
    return await _history(dsn)


async def _history(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM transactions) AS transactions,"
            " (SELECT count(*) FROM entries) AS entries,"
            " (SELECT sum(amount) FROM entries) AS amount,"
            " (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal) AS triggers,"
            " (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'O')"
            "  AS triggers_on"
        )
        assert row is not None
        return dict(row)
    finally:
        await conn.close()


async def test_the_ledger_app_cannot_change_history_or_its_guards(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    before = await _funded_ledger(service_client, dsn)
    assert before == {
        "transactions": 1,
        "entries": 2,
        "amount": 1000,
        # 0002's six append-only, 0004's three balance rules, the outbox's notify.
        "triggers": 10,
        "triggers_on": 10,
    }
    conn = await asyncpg.connect(dsn)
    try:
        for statement, reason in FORBIDDEN_ON_THE_LEDGER:
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await conn.execute(statement)
            assert reason in str(refused.value), statement
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
    finally:
        await conn.close()
    assert await _history(dsn) == before


async def test_psql_as_the_ledger_app_role_is_refused_each_forbidden_statement(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    psql = find_psql()
    assert psql is not None, "psql is installed with the PostgreSQL client package"
    dsn = await create_db("ledger")
    before = await _funded_ledger(service_client, dsn)
    for statement, reason in FORBIDDEN_ON_THE_LEDGER:
        result = await asyncio.to_thread(
            subprocess.run,
            [str(psql), dsn, "-X", "-v", "ON_ERROR_STOP=1", "-c", statement],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0, statement
        assert reason in result.stderr, (statement, result.stderr)
    assert await _history(dsn) == before


async def test_an_app_refuses_to_start_as_the_owner_or_a_superuser(
    pg: PostgresHandle, create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    name = dsn.rsplit("/", 1)[1]
    with pytest.raises(RoleError, match=r"connects as micro, which owns the database"):
        async with service_client("ledger", database_url=owner_dsn(dsn)):
            pass
    with pytest.raises(RoleError, match=r"connects as postgres, which is a superuser"):
        async with service_client("ledger", database_url=pg.admin_dsn(name)):
            pass


async def test_an_app_refuses_a_role_that_can_become_the_owner(
    pg: PostgresHandle, create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    admin = await asyncpg.connect(pg.admin_dsn())
    try:
        await admin.execute("DROP ROLE IF EXISTS owner_in_disguise")
        await admin.execute("CREATE ROLE owner_in_disguise LOGIN PASSWORD 'x'")
        await admin.execute(f'GRANT "{DB_USER}" TO owner_in_disguise')
        disguised = dsn.replace(f"{app_role('ledger')}:micro@", "owner_in_disguise:x@")
        with pytest.raises(RoleError, match=r"connects as owner_in_disguise, which owns the d"):
            async with service_client("ledger", database_url=disguised):
                pass
    finally:
        await admin.execute("DROP ROLE IF EXISTS owner_in_disguise")
        await admin.close()


async def test_migrate_on_start_migrates_as_the_owner_then_serves_as_the_app(
    pg: PostgresHandle, service_client: ServiceClient
) -> None:
    await pg.create_database("roles_on_start")
    async with service_client(
        "ledger",
        database_url=pg.app_dsn("ledger", "roles_on_start"),
        migration_database_url=pg.dsn("roles_on_start"),
        migrate_on_start=True,
    ) as client:
        made = await client.post(
            "/ledger/accounts",
            json={"name": "cash", "type": "asset", "currency": "usd"},
            headers=identity_headers(),
        )
        assert made.status_code == 201, made.text
    conn = await asyncpg.connect(pg.dsn("roles_on_start"))
    try:
        owners = await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
        assert [row["tableowner"] for row in owners] == [DB_USER]
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("", "no role for the app: set MICRO_LEDGER_DATABASE_URL to the app's own role"),
        ("nobody_here", "the app's role nobody_here does not exist: create it first"),
        (DB_USER, "migrations run as micro, the app's own role; run them as the owner"),
        ("postgres", "the app's role postgres is a superuser"),
    ],
)
async def test_migrations_refuse_a_missing_owning_or_superuser_app_role(
    pg: PostgresHandle, role: str, message: str
) -> None:
    await pg.create_database("roles_refused")
    with pytest.raises(MigrationError, match=message):
        await migrate_service("ledger", pg.dsn("roles_refused"), app_role=role)
    conn = await asyncpg.connect(pg.dsn("roles_refused"))
    try:
        assert await conn.fetchval("SELECT to_regclass('accounts')") is None
    finally:
        await conn.close()


async def test_db_migrate_with_only_the_apps_dsn_says_to_set_the_owners(
    pg: PostgresHandle,
) -> None:
    await pg.create_database("roles_cli")
    result = micro(
        "db", "migrate", "ledger", env={"MICRO_LEDGER_DATABASE_URL": pg.dsn("roles_cli")}
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "micro: ledger: migrations run as micro, the app's own role; run them as the owner of "
        "the tables: set MICRO_LEDGER_MIGRATION_DATABASE_URL (and keep "
        "MICRO_LEDGER_DATABASE_URL for a role of the app's own)"
    )


async def test_the_app_role_variable_is_quoted_and_required(
    pg: PostgresHandle, tmp_path: Path
) -> None:
    (tmp_path / "0001_t.sql").write_text(
        'CREATE TABLE t (id int);\nGRANT SELECT ON t TO :"app_role";\n'
    )
    migrations = load_migrations(tmp_path)
    odd = 'Odd "Role"; DROP TABLE t; --'
    quoted = odd.replace('"', '""')
    await pg.create_database("roles_quoted")
    admin = await asyncpg.connect(pg.admin_dsn("roles_quoted"))
    conn = await asyncpg.connect(pg.dsn("roles_quoted"))
    try:
        with pytest.raises(MigrationError, match=r"x: 0001_t.sql grants to the app's role; none"):
            await apply_migrations(conn, migrations, label="x")
        await admin.execute(f'CREATE ROLE "{quoted}"')
        await apply_migrations(conn, migrations, label="x", app_role=odd)
        assert await conn.fetchval("SELECT has_table_privilege($1, 't', 'SELECT')", odd)
        assert not await conn.fetchval("SELECT has_table_privilege($1, 't', 'INSERT')", odd)
    finally:
        await conn.close()
        await admin.execute(f'DROP OWNED BY "{quoted}"')
        await admin.execute(f'DROP ROLE "{quoted}"')
        await admin.close()


def test_settings_split_the_apps_role_from_the_owners() -> None:
    from services.ledger.settings import LedgerSettings
    from tests.support.secrets import TEST_SECRET_FIELDS

    def settings(**values: object) -> LedgerSettings:
        # The secrets a deployment sets too; only the database fields differ here.
        return LedgerSettings.model_validate({**TEST_SECRET_FIELDS, **values})

    local = settings()
    assert local.database_url == database_url("ledger")
    assert local.migration_database_url == database_url("ledger", owner=True)
    assert local.app_role == "ledger_app"
    deployed = settings(database_url="postgres://ledger_rw:pw@db/ledger")
    assert deployed.migration_database_url == "postgres://ledger_rw:pw@db/ledger"
    assert deployed.app_role == "ledger_rw"
    grouped = settings(
        database_url="postgres://ledger_rw:pw@db/ledger",
        migration_database_url="postgres://ledger_owner:pw@db/ledger",
        app_role="ledger_app_group",
    )
    assert (grouped.app_role, grouped.migration_database_url) == (
        "ledger_app_group",
        "postgres://ledger_owner:pw@db/ledger",
    )


async def test_the_app_role_still_reads_the_ledger_for_verify(
    create_db: CreateDb, service_client: ServiceClient
) -> None:
    dsn = await create_db("ledger")
    await _funded_ledger(service_client, dsn)
    result = micro("ledger", "verify", env={"MICRO_LEDGER_DATABASE_URL": dsn})
    assert result.returncode == 0, result.stderr
    assert "1 transactions, 2 entries: no discrepancies" in result.stdout
