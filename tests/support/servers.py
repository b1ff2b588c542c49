"""Real PostgreSQL and Redis servers for the tests, on free ports, stopped afterwards.

testcontainers when a Docker engine answers; otherwise the system binaries, started through
the same code the local stack uses (`cli.stack`). The roles are production's: a superuser
for creating databases, the owner `micro` that migrates, and each app's own role; a cloned
database's DSN is the app's role, as every app in the tests connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from cli.stack.binaries import ensure_binaries, server_user
from cli.stack.ports import free_port
from cli.stack.postgres import SUPERUSER, PostgresServer, ensure_roles
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from shared.settings import DB_APP_PASSWORD, DB_PASSWORD, DB_USER, SERVICES, app_role


@dataclass(frozen=True, slots=True)
class PostgresHandle:
    host: str
    port: int
    superuser_password: str

    def admin_dsn(self, database: str = "postgres") -> str:
        """As the superuser: creating and dropping databases."""
        password = quote(self.superuser_password, safe="")
        return f"postgres://{SUPERUSER}:{password}@{self.host}:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        """As the owner: migrations, and tests that set up or inspect what the app cannot."""
        return f"postgres://{DB_USER}:{DB_PASSWORD}@{self.host}:{self.port}/{database}"

    def app_dsn(self, service: str, database: str) -> str:
        """As the service's app."""
        return (
            f"postgres://{app_role(service)}:{DB_APP_PASSWORD}@{self.host}:{self.port}/{database}"
        )

    async def create_database(self, name: str, *, template: str | None = None) -> None:
        """`name` (dropped first if it exists), owned by the owner, as production's are."""
        admin = await asyncpg.connect(self.admin_dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            clone = f' TEMPLATE "{template}"' if template else ""
            await admin.execute(f'CREATE DATABASE "{name}" OWNER "{DB_USER}"{clone}')
        finally:
            await admin.close()


def owner_dsn(dsn: str) -> str:
    """The same database as `dsn`, as its owner: for a test that must do what the app's role
    may not (edit history, read the migrations table)."""
    parts = urlsplit(dsn)
    netloc = f"{DB_USER}:{DB_PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def docker_available() -> bool:
    if os.environ.get("MICRO_TEST_NO_DOCKER"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    import docker

    try:
        client = docker.from_env(timeout=2)
    except Exception:  # no daemon or no permission: use the binaries
        return False
    try:
        return bool(client.ping())
    except Exception:  # the socket exists but nothing answers on it
        return False
    finally:
        client.close()


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder the unprivileged PostgreSQL account can reach when we are root."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.asynccontextmanager
async def postgres_server() -> AsyncIterator[PostgresHandle]:
    async with _postgres_server() as handle:
        await ensure_roles(handle.admin_dsn(), [app_role(s) for s in SERVICES])
        yield handle


@contextlib.asynccontextmanager
async def _postgres_server() -> AsyncIterator[PostgresHandle]:
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        password = secrets.token_urlsafe(16)
        with PostgresContainer("postgres:15", username=SUPERUSER, password=password) as pg:
            host, port = pg.get_container_host_ip(), int(pg.get_exposed_port(5432))
            yield PostgresHandle(host, port, password)
        return
    binaries = await asyncio.to_thread(ensure_binaries)
    with scratch_dir("micro-test-pg-") as root:
        server = PostgresServer(
            name="test-postgres",
            data_dir=root / "data",
            port=free_port(),
            binaries=binaries,
            run_as=server_user(),
            ephemeral=True,
        )
        await asyncio.to_thread(server.init)
        supervisor = Supervisor(root / "logs", echo=False)
        process = await supervisor.spawn(
            server.name, server.command(), user=server.run_as, stop_signal=signal.SIGINT
        )
        try:
            await server.wait_ready(process)
            password = server.superuser_file.read_text().strip()
            yield PostgresHandle("127.0.0.1", server.port, password)
        finally:
            await supervisor.stop_all()


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    if docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7") as container:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        return
    binaries = await asyncio.to_thread(ensure_binaries)
    with scratch_dir("micro-test-redis-") as root:
        server = RedisServer(
            data_dir=root / "data", port=free_port(), binaries=binaries, persistent=False
        )
        supervisor = Supervisor(root / "logs", echo=False)
        process = await supervisor.spawn("redis", server.command())
        try:
            await server.wait_ready(process)
            yield server.url
        finally:
            await supervisor.stop_all()


CreateDb = Callable[[str], Awaitable[str]]
_counter = itertools.count()


@contextlib.asynccontextmanager
async def databases(pg: PostgresHandle, templates: dict[str, str]) -> AsyncIterator[CreateDb]:
    """`await create("ledger")` -> the DSN, as the ledger app's role, of a fresh clone of the
    migrated template (`owner_dsn` of it for the owner); every clone is dropped on exit."""
    created: list[str] = []
    admin = await asyncpg.connect(pg.admin_dsn())

    async def create(service: str) -> str:
        name = f"t_{service}_{os.getpid()}_{next(_counter)}"
        await admin.execute(
            f'CREATE DATABASE "{name}" OWNER "{DB_USER}" TEMPLATE "{templates[service]}"'
        )
        created.append(name)
        return pg.app_dsn(service, name)

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
