"""Real PostgreSQL and Redis servers for the tests, on free ports, stopped afterwards.

testcontainers when a Docker engine answers; otherwise the system binaries, started through
the same code the local stack uses (`cli.stack`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cli.stack.binaries import ensure_binaries, server_user
from cli.stack.ports import free_port
from cli.stack.postgres import PostgresServer
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from shared.settings import DB_PASSWORD, DB_USER


@dataclass(frozen=True, slots=True)
class PostgresHandle:
    host: str
    port: int

    def dsn(self, database: str) -> str:
        return f"postgres://{DB_USER}:{DB_PASSWORD}@{self.host}:{self.port}/{database}"


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
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", username=DB_USER, password=DB_PASSWORD) as pg:
            yield PostgresHandle(pg.get_container_host_ip(), int(pg.get_exposed_port(5432)))
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
            yield PostgresHandle("127.0.0.1", server.port)
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
    """`await create("ledger")` -> the DSN of a fresh clone of the migrated template; every
    clone is dropped on exit."""
    created: list[str] = []
    admin = await asyncpg.connect(pg.dsn("postgres"))

    async def create(service: str) -> str:
        name = f"t_{service}_{os.getpid()}_{next(_counter)}"
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{templates[service]}"')
        created.append(name)
        return pg.dsn(name)

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
