"""Numbered plain-SQL migrations, one folder per service (`services/<name>/migrations`).

Each file ``NNNN_name.sql`` is applied once, in order, inside its own transaction, and
recorded with a SHA-256 of its text. A session advisory lock makes concurrent starts safe:
the second process waits, then finds nothing left to do. A file edited after it was applied,
or an applied version missing from disk, stops everything with a message saying what to do.

Migrations run as the owner of the database's tables; each app connects as its own role,
which holds only what its service's migrations grant it. A migration names that role as
psql does a variable, `:"app_role"` (`GRANT SELECT ON accounts TO :"app_role";`): the runner
puts in the quoted name it is given (the user of `MICRO_<SERVICE>_DATABASE_URL`, or
`MICRO_<SERVICE>_APP_ROLE`), and `psql -v app_role=ledger_app -f 0005_app_role.sql` runs the
same file by hand. The checksum is of the file as written, so another role name is not an
edit. Each migration grants on the tables it creates, explicitly and per table (no ALTER
DEFAULT PRIVILEGES, which would give every new table, history included, the same rights);
tests/shared/test_db_roles.py holds the whole grant table and fails on a table nobody granted.
The role itself is the operator's to create (a managed PostgreSQL gives the migrating role
no CREATEROLE); the runner refuses a role that is missing, a superuser, or the owner.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from shared.db import Connection

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed 64-bit number; every service uses the same one in its own database.
_LOCK_KEY = 0x6D6963726F6D6967  # "micromig"

# Each service's own migrations, and those every service shares (shared/sql/), are kept
# apart: their version numbers are separate sequences.
SERVICE_TABLE = "schema_migrations"
SHARED_TABLE = "shared_migrations"

APP_ROLE = ':"app_role"'

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def migrations_dir(service: str) -> Path:
    return Path(str(resources.files(f"services.{service}"))) / "migrations"


def load_migrations(directory: Path) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is used twice in {directory}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


async def apply_migrations(
    conn: Connection,
    migrations: list[Migration],
    *,
    label: str,
    table: str = SERVICE_TABLE,
    app_role: str | None = None,
) -> list[Migration]:
    """Apply what is pending; return what was applied. `label` names the database in errors;
    `app_role` is the role `:"app_role"` names."""
    assert table in (SERVICE_TABLE, SHARED_TABLE)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE.format(table=table))
        if app_role:
            # The app reads (never writes) what was applied: `micro db wait` and a pod's
            # init container wait on it for the migration Job to finish.
            await conn.execute(f"GRANT SELECT ON {table} TO {quote_ident(app_role)}")
        rows = await conn.fetch(f"SELECT version, name, checksum FROM {table}")  # noqa: S608
        applied = {row["version"]: row for row in rows}
        on_disk = {m.version: m for m in migrations}
        for version, row in sorted(applied.items()):
            migration = on_disk.get(version)
            if migration is None:
                raise MigrationError(
                    f"{label}: the database has migration {version:04d}_{row['name']}.sql, "
                    "which this code does not have; run the code that applied it, or restore "
                    "the file."
                )
            if migration.checksum != row["checksum"]:
                raise MigrationError(
                    f"{label}: {migration.filename} was edited after it was applied; "
                    "restore the applied text and put the change in a new migration."
                )
        pending = [m for m in migrations if m.version not in applied]
        for migration in pending:
            if APP_ROLE in migration.sql and not app_role:
                raise MigrationError(
                    f"{label}: {migration.filename} grants to the app's role; none was named"
                )
            sql = migration.sql.replace(APP_ROLE, quote_ident(app_role or ""))
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        f"INSERT INTO {table} (version, name, checksum) "  # noqa: S608
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{label}: {migration.filename} failed: {exc.__class__.__name__}: {exc}"
                ) from exc
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def pending_migrations(conn: Connection, service: str) -> list[str]:
    """What this code has for `service` that its database has not applied (file names, in
    order; a table not there yet means everything), read as any role the runner granted."""
    pending: list[str] = []
    for table, directory in (
        (SERVICE_TABLE, migrations_dir(service)),
        (SHARED_TABLE, shared_migrations_dir()),
    ):
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        applied: dict[int, str] = {}
        if exists:
            rows = await conn.fetch(f"SELECT version, checksum FROM {table}")  # noqa: S608
            applied = {row["version"]: row["checksum"] for row in rows}
        pending.extend(
            m.filename for m in load_migrations(directory) if applied.get(m.version) != m.checksum
        )
    return pending


def shared_migrations_dir() -> Path:
    return Path(__file__).parent / "sql"


async def migrate_database(conn: Connection, service: str, *, app_role: str) -> list[Migration]:
    """The service's own migrations, then the shared ones (tables `shared/` code uses), run
    as the owner (`conn`), granting the app what it uses through `app_role`."""
    await check_grantee(conn, service, app_role)
    own = await apply_migrations(
        conn, load_migrations(migrations_dir(service)), label=service, app_role=app_role
    )
    shared = await apply_migrations(
        conn,
        load_migrations(shared_migrations_dir()),
        label=f"{service} (shared)",
        table=SHARED_TABLE,
        app_role=app_role,
    )
    return own + shared


async def migrate_service(service: str, dsn: str, *, app_role: str) -> list[Migration]:
    """`dsn` is the owner's (MICRO_<SERVICE>_MIGRATION_DATABASE_URL)."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate_database(conn, service, app_role=app_role)
    finally:
        await conn.close()


async def check_grantee(conn: Connection, service: str, app_role: str) -> None:
    """The app's role must exist apart from the owner: granting to the owner itself would
    be recorded as done and leave the app with every right once it gets its own role."""
    env = f"MICRO_{service.upper()}"
    if not app_role:
        raise MigrationError(
            f"{service}: no role for the app: set {env}_DATABASE_URL to the app's own role "
            f"(or {env}_APP_ROLE)"
        )
    row = await conn.fetchrow(
        "SELECT r.rolsuper, r.rolname = current_user AS is_migrator,"
        " pg_has_role(r.rolname, current_user, 'MEMBER') AS in_migrator"
        " FROM pg_roles r WHERE r.rolname = $1",
        app_role,
    )
    if row is None:
        raise MigrationError(
            f"{service}: the app's role {app_role} does not exist: create it first "
            f"(CREATE ROLE {quote_ident(app_role)} LOGIN PASSWORD '...')"
        )
    if row["rolsuper"]:
        raise MigrationError(
            f"{service}: the app's role {app_role} is a superuser; the app needs a role "
            "that is neither superuser nor owner"
        )
    if row["is_migrator"] or row["in_migrator"]:
        raise MigrationError(
            f"{service}: migrations run as {app_role}, the app's own role; run them as the "
            f"owner of the tables: set {env}_MIGRATION_DATABASE_URL (and keep "
            f"{env}_DATABASE_URL for a role of the app's own)"
        )
