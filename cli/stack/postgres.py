"""A PostgreSQL server of our own: initialised once in a data folder, run in the foreground.

Three roles, as in production: the bootstrap superuser `postgres` (its password random, made
at initdb and kept 0600 beside the data folder), used only to create the others and the
databases; the owner `micro`, no superuser, which owns each database and runs the
migrations; and each app's own role (`ledger_app`), which owns nothing and holds what the
migrations grant it. A cluster made by an older Micro has `micro` as its superuser.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg

from cli.stack.binaries import Binaries
from cli.stack.errors import StackError
from shared.settings import DB_APP_PASSWORD, DB_PASSWORD, DB_USER

SUPERUSER = "postgres"

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
    def superuser_file(self) -> Path:
        return self.data_dir.parent / f".{self.data_dir.name}.superuser"

    @property
    def legacy(self) -> bool:
        """Made by an older Micro: `micro`, the owner, is the cluster's superuser."""
        return self.initialised and not self.superuser_file.exists()

    @property
    def admin_dsn(self) -> str:
        if self.legacy:
            return self.dsn("postgres")
        password = self.superuser_file.read_text().strip()
        return f"postgres://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        """As the owner."""
        return f"postgres://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.port}/{database}"

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (superuser `postgres`, a random password) unless the folder
        already holds one."""
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # initdb reads the password from this file, which is kept for admin_dsn.
        pwfile = self.superuser_file
        with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(24))
        try:
            if self.run_as:
                _hand_over(self.data_dir, self.run_as)
                _hand_over(pwfile, self.run_as)
            os.chmod(self.data_dir, 0o700)
            result = subprocess.run(
                [
                    self.binaries.pg("initdb"),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
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
        except BaseException:
            pwfile.unlink(missing_ok=True)
            raise
        if result.returncode != 0:
            pwfile.unlink(missing_ok=True)
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

    async def ensure_database(self, database: str, *, app_roles: Iterable[str]) -> None:
        """The owner and the apps' roles, and `database` owned by the owner."""
        await ensure_roles(self.admin_dsn, app_roles)
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{database}" OWNER "{DB_USER}"')
        finally:
            await conn.close()


async def ensure_roles(admin_dsn: str, app_roles: Iterable[str]) -> None:
    """Create the owner if missing, and each app's role with no power beyond logging in
    (reset on every start, so a role someone widened by hand is narrowed again)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", DB_USER):
            await conn.execute(
                f'CREATE ROLE "{DB_USER}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                f"PASSWORD '{DB_PASSWORD}'"
            )
        for role in app_roles:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(
                f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                f"NOBYPASSRLS PASSWORD '{DB_APP_PASSWORD}'"
            )
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
