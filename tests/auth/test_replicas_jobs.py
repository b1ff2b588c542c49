"""Auth's start-up with two replicas launched at once as real processes on one empty
database: the migrations applied once (one waits on the other's lock, also when a holder of
that lock dies), one signing key, one platform admin; then both purge ended sessions side
by side. docs/architecture.md, "Background jobs and replicas"."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from shared.migrations import load_migrations, migrations_dir, shared_migrations_dir
from tests.support.auth import anonymous
from tests.support.polling import until
from tests.support.replicas import logs, replicas, service_env, value
from tests.support.servers import PostgresHandle, owner_dsn

# Takes the migration runner's lock as another starting process would, says so, and holds
# it until it is killed (a replica that died mid-migration).
_HOLD_LOCK = """
import asyncio, sys, asyncpg
from shared.migrations import _LOCK_KEY
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    print("locked", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@contextmanager
def migration_lock_held(dsn: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process holding the migration runner's lock on `dsn`'s database, killed at the end
    if the test did not kill it first."""
    command = [sys.executable, "-c", _HOLD_LOCK, owner_dsn(dsn)]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == b"locked\n"
            yield holder
        finally:
            holder.kill()


async def empty_database(pg: PostgresHandle) -> str:
    name = f"t_auth_empty_{secrets.token_hex(4)}"
    await pg.create_database(name)
    return pg.app_dsn("auth", name)


async def test_two_replicas_starting_on_an_empty_database_migrate_and_bootstrap_once(
    pg: PostgresHandle, redis_url: str, tmp_path: Path
) -> None:
    dsn = await empty_database(pg)
    env = service_env(
        "auth",
        dsn=dsn,
        redis_url=redis_url,
        settings={"migrate_on_start": True, "bcrypt_rounds": 4, "retention_interval": 0.05},
    )
    # Someone holds the migration lock as the replicas start, and dies holding it.
    with migration_lock_held(dsn) as holder:
        # Killed while both replicas wait on its lock (they cannot answer before it goes).
        killer = threading.Timer(1.0, holder.kill)
        killer.start()
        with replicas("auth", env, tmp_path) as pair:
            killer.join()
            keys = []
            async with httpx.AsyncClient(timeout=30) as http:
                for member in pair:
                    answer = await http.get(
                        f"{member.url}/auth/.well-known/jwks.json", headers=anonymous()
                    )
                    assert answer.status_code == 200, answer.text
                    keys.append(answer.json()["keys"])
            # Both sign with the one key made on the first start.
            assert keys[0] == keys[1]
            assert len(keys[0]) == 1

            admin = await value(dsn, "SELECT id FROM users WHERE role = 'PLATFORM_ADMIN'")
            conn = await asyncpg.connect(owner_dsn(dsn))
            try:
                await conn.execute(
                    "INSERT INTO sessions (id, user_id, expires_at, created_at)"
                    " SELECT 'ses_old_' || n, $1, now() - interval '40 days',"
                    " now() - interval '41 days' FROM generate_series(1, 2500) n",
                    admin,
                )
                await conn.execute(
                    "INSERT INTO sessions (id, user_id, expires_at) "
                    "VALUES ('ses_live', $1, now() + interval '1 day')",
                    admin,
                )
            finally:
                await conn.close()

            async def purged() -> bool:
                return await value(dsn, "SELECT count(*) FROM sessions") == 1

            await until(purged, what=lambda: logs(*pair))
            for member in pair:
                assert "retention job failed" not in member.output(), member.output()
    applied = await value(dsn, "SELECT array_agg(version ORDER BY version) FROM schema_migrations")
    assert applied == [m.version for m in load_migrations(migrations_dir("auth"))]
    shared = await value(dsn, "SELECT array_agg(version ORDER BY version) FROM shared_migrations")
    assert shared == [m.version for m in load_migrations(shared_migrations_dir())]
    assert await value(dsn, "SELECT count(*) FROM users WHERE role = 'PLATFORM_ADMIN'") == 1
    assert await value(dsn, "SELECT count(*) FROM tenants WHERE slug = 'platform'") == 1
    assert await value(dsn, "SELECT count(*) FROM signing_keys") == 1
    assert await value(dsn, "SELECT array_agg(id) FROM sessions") == ["ses_live"]
