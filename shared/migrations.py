"""Numbered plain-SQL migrations, one folder per service (`services/<name>/migrations`).

Each file ``NNNN_name.sql`` is applied once, in order, inside its own transaction, and
recorded with a SHA-256 of its text. A session advisory lock makes concurrent starts safe:
the second process waits, then finds nothing left to do. A file edited after it was applied,
or an applied version missing from disk, stops everything with a message saying what to do.
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
    conn: Connection, migrations: list[Migration], *, label: str, table: str = SERVICE_TABLE
) -> list[Migration]:
    """Apply what is pending; return what was applied. `label` names the database in errors."""
    assert table in (SERVICE_TABLE, SHARED_TABLE)
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE.format(table=table))
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
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
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


def shared_migrations_dir() -> Path:
    return Path(__file__).parent / "sql"


async def migrate_database(conn: Connection, service: str) -> list[Migration]:
    """The service's own migrations, then the shared ones (tables `shared/` code uses)."""
    own = await apply_migrations(conn, load_migrations(migrations_dir(service)), label=service)
    shared = await apply_migrations(
        conn,
        load_migrations(shared_migrations_dir()),
        label=f"{service} (shared)",
        table=SHARED_TABLE,
    )
    return own + shared


async def migrate_service(service: str, dsn: str) -> list[Migration]:
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate_database(conn, service)
    finally:
        await conn.close()
