"""A PostgreSQL server of our own: initialised once in a data folder, run in the foreground."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cli.stack.binaries import Binaries
from cli.stack.errors import StackError
from shared.settings import DB_PASSWORD, DB_USER

# Settings for throwaway test servers: durability traded for speed, never for dev data.
EPHEMERAL_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass(slots=True)
class PostgresServer:
    name: str
    data_dir: Path
    port: int
    binaries: Binaries
    run_as: str | None = None
    ephemeral: bool = False

    @property
    def admin_dsn(self) -> str:
        return self.dsn("postgres")

    def dsn(self, database: str) -> str:
        return f"postgres://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{database}"

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (superuser micro/micro) unless the folder already holds one."""
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / f".{self.data_dir.name}.pw"
        pwfile.write_text(DB_PASSWORD)
        try:
            if self.run_as:
                _hand_over(self.data_dir, self.run_as)
                _hand_over(pwfile, self.run_as)
            os.chmod(self.data_dir, 0o700)
            result = subprocess.run(
                [
                    self.binaries.pg("initdb"),
                    "-D", str(self.data_dir),
                    "-U", DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                user=self.run_as,
                capture_output=True,
                text=True,
                check=False,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StackError(
                f"{self.name}: initdb failed: {result.stderr.strip().splitlines()[-1:]}"
            )

    def command(self) -> list[str]:
        settings = [
            "listen_addresses=127.0.0.1",
            # TCP only: socket paths under deep folders overflow the 107-byte limit.
            "unix_socket_directories=",
            "max_connections=200",
            "log_min_messages=warning",
            *(EPHEMERAL_SETTINGS if self.ephemeral else ()),
        ]
        argv = [self.binaries.pg("postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for setting in settings:
            argv += ["-c", setting]
        return argv

    async def wait_ready(self, process: asyncio.subprocess.Process, within: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            if process.returncode is not None:
                raise StackError(
                    f"{self.name}: postgres exited with code {process.returncode} during start-up"
                )
            try:
                conn = await asyncpg.connect(self.admin_dsn, timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                if asyncio.get_running_loop().time() > deadline:
                    raise StackError(
                        f"{self.name}: postgres did not accept connections within {within:.0f}s"
                    ) from None
                await asyncio.sleep(0.1)
                continue
            await conn.close()
            return

    async def ensure_database(self, database: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()


def _hand_over(path: Path, user: str) -> None:
    record = pwd.getpwnam(user)
    os.chown(path, record.pw_uid, record.pw_gid)
    _check_reachable(path, user)


def _check_reachable(path: Path, user: str) -> None:
    """Every parent must be searchable by `user`, or postgres cannot open its data folder."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise StackError(
                f"{parent} is not searchable by the `{user}` account that runs PostgreSQL: "
                f"run `chmod o+x {parent}` or set MICRO_DEV_DIR to a folder outside it"
            )
