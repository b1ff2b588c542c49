"""The whole Micro stack on one machine, as `micro dev up` runs it.

Order: check ports and binaries; start the five PostgreSQL servers and Redis; create the
roles and databases; migrate as the owner; start the five services, each connecting as its
own role; wait until each is ready; start the gateway; wait until its /health is 200. Any
failure stops everything already started and reports one line saying what went wrong and how
to fix it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cli.stack.binaries import Binaries, ensure_binaries, server_user
from cli.stack.config import DevSettings, forget_location, record_location, recorded_dir
from cli.stack.errors import StackError
from cli.stack.ports import port_is_free
from cli.stack.postgres import PostgresServer
from cli.stack.redis import RedisServer
from cli.stack.secrets import stack_secrets
from cli.stack.supervisor import Supervisor
from shared.migrations import MigrationError, migrate_service
from shared.settings import DB_NAMES, SERVICES, app_role, database_url


@dataclass(slots=True)
class Stack:
    settings: DevSettings
    echo: bool = True
    supervisor: Supervisor = field(init=False)
    databases: dict[str, PostgresServer] = field(default_factory=dict)
    redis: RedisServer | None = None

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.settings.log_dir, echo=self.echo)

    # -- plan -------------------------------------------------------------------------------

    def ports(self) -> dict[str, int]:
        """Every port the stack will listen on, named for error messages."""
        named = {f"{s} postgres": p for s, p in self.settings.db_ports.items()}
        named["redis"] = self.settings.redis_port
        named.update(self.settings.http_ports)
        named["gateway metrics"] = self.settings.metrics_port
        return named

    def secrets(self) -> dict[str, str]:
        """The stack's secrets (`.micro/secrets.env`), by variable name."""
        return stack_secrets(self.settings.secrets_file)

    def app_env(self) -> dict[str, str]:
        # The stack's generated secrets, unless the environment sets its own.
        env = {**self.secrets(), **os.environ}
        env["MICRO_REDIS_URL"] = f"redis://127.0.0.1:{self.settings.redis_port}/0"
        for app, port in self.settings.http_ports.items():
            env[f"MICRO_{app.upper()}_HOST"] = "127.0.0.1"
            env[f"MICRO_{app.upper()}_PORT"] = str(port)
        for service in SERVICES:
            env[f"MICRO_{service.upper()}_DATABASE_URL"] = self.app_dsn(service)
            env[f"MICRO_{service.upper()}_MIGRATION_DATABASE_URL"] = self.dsn(service)
            url = f"http://127.0.0.1:{self.settings.http_ports[service]}"
            env[f"MICRO_GATEWAY_{service.upper()}_URL"] = url
        env["MICRO_GATEWAY_METRICS_HOST"] = "127.0.0.1"
        env["MICRO_GATEWAY_METRICS_PORT"] = str(self.settings.metrics_port)
        env["MICRO_PAYMENTS_LEDGER_URL"] = f"http://127.0.0.1:{self.settings.http_ports['ledger']}"
        env["MICRO_PAYMENTS_PUBLIC_URL"] = f"http://localhost:{self.settings.http_ports['gateway']}"
        env["MICRO_WALLET_LEDGER_URL"] = f"http://127.0.0.1:{self.settings.http_ports['ledger']}"
        env["MICRO_WALLET_PAYMENTS_URL"] = (
            f"http://127.0.0.1:{self.settings.http_ports['payments']}"
        )
        return env

    def dsn(self, service: str) -> str:
        """As the owner (migrations, psql)."""
        return database_url(
            service, host="127.0.0.1", port=self.settings.db_ports[service], owner=True
        )

    def app_dsn(self, service: str) -> str:
        """As the service's app."""
        return database_url(service, host="127.0.0.1", port=self.settings.db_ports[service])

    # -- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._check_ports()
        binaries = await asyncio.to_thread(ensure_binaries)
        run_as = server_user()
        root = self.settings.dir.resolve()
        for service in SERVICES:
            self.databases[service] = PostgresServer(
                name=f"{service}-db",
                data_dir=root / "pg" / service,
                port=self.settings.db_ports[service],
                binaries=binaries,
                run_as=run_as,
                ephemeral=self.settings.ephemeral,
            )
        await asyncio.gather(*(asyncio.to_thread(db.init) for db in self.databases.values()))
        await self._start_data_servers(binaries, root)
        await self._migrate()
        env = self.app_env()
        await asyncio.gather(*(self._start_app(service, env) for service in SERVICES))
        await self._start_app("gateway", env, path="/health")

    def _check_ports(self) -> None:
        for name, port in self.ports().items():
            if not port_is_free(port):
                raise StackError(
                    f"port {port} ({name}) is already in use: stop whatever holds it "
                    f"(`ss -ltnp 'sport = :{port}'` shows it; `micro dev down` if it is an "
                    "earlier stack) and run again"
                )

    async def _start_data_servers(self, binaries: Binaries, root: Path) -> None:
        self.redis = RedisServer(
            data_dir=root / "redis",
            port=self.settings.redis_port,
            binaries=binaries,
            persistent=not self.settings.ephemeral,
        )
        waits = []
        for db in self.databases.values():
            # SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients to leave.
            process = await self.supervisor.spawn(
                db.name, db.command(), user=db.run_as, stop_signal=signal.SIGINT
            )
            waits.append(db.wait_ready(process))
        redis_process = await self.supervisor.spawn("redis", self.redis.command())
        waits.append(self.redis.wait_ready(redis_process))
        await asyncio.gather(*waits)
        await asyncio.gather(
            *(
                db.ensure_database(DB_NAMES[s], app_roles=[app_role(s)])
                for s, db in self.databases.items()
            )
        )
        for db in self.databases.values():
            if db.legacy and self.echo:
                print(
                    f"micro: {db.name}: made by an older Micro, its owner `micro` is a superuser "
                    "(the apps still connect as their own roles); `make clean-data` starts over",
                    flush=True,
                )

    async def _migrate(self) -> None:
        async def one(service: str) -> None:
            try:
                applied = await migrate_service(
                    service, self.dsn(service), app_role=app_role(service)
                )
            except MigrationError as exc:
                raise StackError(f"migration failed: {exc}") from exc
            if applied and self.echo:
                names = ", ".join(m.filename for m in applied)
                print(f"micro: {service}: applied {names}", flush=True)

        await asyncio.gather(*(one(s) for s in SERVICES))

    async def _start_app(self, app: str, env: dict[str, str], path: str = "/ready") -> None:
        argv = [sys.executable, "-m", "cli", "serve", app]
        process = await self.supervisor.spawn(app, argv, env=env)
        url = f"http://127.0.0.1:{self.settings.http_ports[app]}{path}"
        deadline = time.monotonic() + self.settings.start_timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.returncode is not None:
                    log = self.settings.log_dir / f"{app}.log"
                    raise StackError(
                        f"{app} exited with code {process.returncode} during start-up; see {log}"
                    )
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StackError(f"{app} was not ready at {url} in time; see its log")
                await asyncio.sleep(0.1)

    # -- run and stop -----------------------------------------------------------------------

    async def stop(self) -> None:
        data = ["redis", *(db.name for db in self.databases.values())]
        await self.supervisor.stop_all(groups=[["gateway"], list(SERVICES), data])
        self.settings.state_file.unlink(missing_ok=True)
        forget_location(self.settings)

    def write_state(self, *, phase: str) -> None:
        state: dict[str, Any] = {
            "pid": os.getpid(),
            "phase": phase,
            "started": time.time(),
            "http_ports": self.settings.http_ports,
            "db_ports": self.settings.db_ports,
            "redis_port": self.settings.redis_port,
            "metrics_port": self.settings.metrics_port,
            "children": {c.name: c.process.pid for c in self.supervisor.children},
        }
        self.settings.state_file.write_text(json.dumps(state, indent=2))
        record_location(self.settings)


def locate(settings: DevSettings) -> tuple[DevSettings, dict[str, Any] | None]:
    """The running stack and its state: the one in this directory's data folder, else (when
    MICRO_DEV_DIR does not pin a folder) the one `micro dev up` last recorded, with the ports
    it really uses."""
    state = read_state(settings)
    if state is None and "MICRO_DEV_DIR" not in os.environ:
        folder = recorded_dir()
        if folder is not None and folder != settings.dir.resolve():
            elsewhere = settings.model_copy(update={"dir": folder})
            state = read_state(elsewhere)
            if state is not None:
                settings = elsewhere
    if state is not None:
        settings = settings.model_copy(
            update={
                "http_ports": state.get("http_ports", settings.http_ports),
                "db_ports": state.get("db_ports", settings.db_ports),
                "redis_port": state.get("redis_port", settings.redis_port),
                "metrics_port": state.get("metrics_port", settings.metrics_port),
            }
        )
    return settings, state


def read_state(settings: DevSettings) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(settings.state_file.read_text())
    except (OSError, ValueError):
        return None
    return state if pid_alive(int(state.get("pid", 0))) else None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited process its parent has not reaped yet still answers signal 0.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"
