"""Replicas of one service as real processes (`python -m cli serve SERVICE`), started at once
against one database and one Redis, each on a free port with a log the test can read, for
the tests that prove a background job right with two replicas (docs/architecture.md,
"Background jobs and replicas").

A replica can be SIGKILLed (`Replica.kill`) and any process paused (`paused`): a stopped
upstream holds whoever calls it mid-call, lease or lock in hand, for as long as the test
wants, with nothing timed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cli.stack.ports import free_port
from tests.support.processes import Start, serving_all
from tests.support.secrets import TEST_SECRETS
from tests.support.servers import owner_dsn


@dataclass(frozen=True, slots=True)
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs; its connections close as the kernel reaps it."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)


def service_env(
    service: str, *, dsn: str, redis_url: str, settings: Mapping[str, object] | None = None
) -> dict[str, str]:
    """A complete environment for `micro serve SERVICE` on `dsn` (the app's role; migrations,
    if asked for, as the owner) with `settings` as `MICRO_<SERVICE>_<NAME>`; nothing MICRO_*
    of the test's own environment leaks in."""
    prefix = f"MICRO_{service.upper()}_"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env |= TEST_SECRETS
    env |= {
        "MICRO_REDIS_URL": redis_url,
        f"{prefix}DATABASE_URL": dsn,
        f"{prefix}MIGRATION_DATABASE_URL": owner_dsn(dsn),
    }
    for name, value in (settings or {}).items():
        env[f"{prefix}{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


@contextlib.contextmanager
def replicas(
    service: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    count: int = 2,
    first: int = 1,
    each: Callable[[int], Mapping[str, str]] = lambda _: {},
) -> Iterator[list[Replica]]:
    """`count` processes of `service`, launched together; `each(i)` adds env for replica i
    (from 0). Yields once every one answers /health; stopped at the end. `first` numbers
    them (and their logs): a replica started later by a second call is `first=2`."""
    prefix = f"MICRO_{service.upper()}_"
    starts = []
    for index in range(count):
        port = free_port()
        starts.append(
            Start(
                {**env, f"{prefix}PORT": str(port), **each(index)},
                service,
                port,
                log_dir / f"{service}-{first + index}.log",
            )
        )
    with serving_all(starts) as processes:
        yield [
            Replica(f"{service}-{first + index}", start.port, process, start.log or log_dir)
            for index, (start, process) in enumerate(zip(starts, processes, strict=True))
        ]


def logs(*members: Replica) -> str:
    """Every replica's output, for an assertion's message."""
    return "\n".join(f"--- {m.name}\n{m.output()}" for m in members)


@contextlib.contextmanager
def paused(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP until the block ends: connections to it still open (the kernel accepts them),
    but nothing answers, so a caller sits in its call."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


async def value(dsn: str, query: str, *args: object) -> object:
    """One value read as the owner (a test inspects what the app's role may not)."""
    conn = await asyncpg.connect(owner_dsn(dsn))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def lock_holder(admin_dsn: str, members: list[Replica], lock_key: int) -> Replica | None:
    """The replica whose connection holds the session advisory lock `lock_key` now, if any
    (as a superuser, `admin_dsn`, who sees every backend's client port)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        port = await conn.fetchval(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.database = ("
            "   SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND (l.classid::bigint << 32 | l.objid::bigint) = $1",
            lock_key,
        )
    finally:
        await conn.close()
    if port is None:
        return None
    return next((m for m in members if _has_local_port(m.process.pid, port)), None)


def _has_local_port(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP socket on local `port` (Linux: /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False
