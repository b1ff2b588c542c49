"""The whole Micro stack on one machine, as `micro dev up` runs it.

Order: check ports and binaries; start the five PostgreSQL servers and Redis; create the
roles and databases; migrate as the owner (once, whatever the number of replicas); start
every replica of the five services, each connecting as its own role; wait until each is
ready; start every gateway; wait until each answers /ready, then until its /health is 200
(every service behind it ready); with `--with-prometheus`, start Prometheus last. Any
failure during start-up stops everything already started and reports one line saying what
went wrong and how to fix it. Once running, a child that exits is started again
(`cli/stack/supervisor.py`).
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

from cli.stack.binaries import Binaries, ensure_binaries, ensure_prometheus, server_user
from cli.stack.config import DevSettings, forget_location, record_location, recorded_dir
from cli.stack.errors import StackError
from cli.stack.ports import port_is_free
from cli.stack.postgres import PostgresServer
from cli.stack.prometheus import PrometheusServer
from cli.stack.redis import RedisServer
from cli.stack.replicas import Replica, plan_replicas, urls
from cli.stack.restarts import RestartRules
from cli.stack.secrets import stack_secrets
from cli.stack.supervisor import Child, ChildSpec, Probe, Supervisor
from shared.migrations import MigrationError, migrate_service
from shared.settings import DB_NAMES, SERVICES, app_role, database_url

# Seconds the stack waits, at start, for each gateway's /health once it answers /ready.
_HEALTH_WAIT = 5.0


@dataclass(slots=True)
class Stack:
    settings: DevSettings
    echo: bool = True
    supervisor: Supervisor = field(init=False)
    databases: dict[str, PostgresServer] = field(default_factory=dict)
    redis: RedisServer | None = None
    prometheus: PrometheusServer | None = None
    # Every app's processes, by app (`--replicas`): planned once, when the stack is made.
    replicas: dict[str, list[Replica]] = field(init=False)
    _phase: str = "starting"
    _started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        rules = RestartRules(
            first_delay=self.settings.restart_delay,
            max_delay=max(self.settings.restart_delay, self.settings.restart_delay_max),
        )
        self.supervisor = Supervisor(
            self.settings.log_dir, echo=self.echo, rules=rules, on_change=self._changed
        )
        self.replicas = plan_replicas(self.settings)

    # -- plan -------------------------------------------------------------------------------

    def ports(self) -> dict[str, int]:
        """Every port the stack will listen on, named for error messages."""
        named = {f"{s} postgres": p for s, p in self.settings.db_ports.items()}
        named["redis"] = self.settings.redis_port
        if self.settings.prometheus:
            named["prometheus"] = self.settings.prometheus_port
        for replica in self.all_replicas():
            named[replica.name] = replica.port
            if replica.metrics_port is not None:
                named[f"{replica.name} metrics"] = replica.metrics_port
        return named

    def all_replicas(self) -> list[Replica]:
        return [replica for replicas in self.replicas.values() for replica in replicas]

    @property
    def gateways(self) -> list[Replica]:
        return self.replicas["gateway"]

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
        # Each caller is given every replica of what it calls, and spreads its calls over them.
        for service in SERVICES:
            env[f"MICRO_{service.upper()}_DATABASE_URL"] = self.app_dsn(service)
            env[f"MICRO_{service.upper()}_MIGRATION_DATABASE_URL"] = self.dsn(service)
            env[f"MICRO_GATEWAY_{service.upper()}_URL"] = urls(self.replicas[service])
        env["MICRO_GATEWAY_METRICS_HOST"] = "127.0.0.1"
        env["MICRO_GATEWAY_METRICS_PORT"] = str(self.settings.metrics_port)
        env["MICRO_PAYMENTS_LEDGER_URL"] = urls(self.replicas["ledger"])
        env["MICRO_PAYMENTS_PUBLIC_URL"] = f"http://localhost:{self.settings.http_ports['gateway']}"
        env["MICRO_WALLET_LEDGER_URL"] = urls(self.replicas["ledger"])
        env["MICRO_WALLET_PAYMENTS_URL"] = urls(self.replicas["payments"])
        return env

    def replica_env(self, replica: Replica, env: dict[str, str]) -> dict[str, str]:
        """`env` (the stack's `app_env`), with this replica's own ports."""
        own = {**env, f"MICRO_{replica.app.upper()}_PORT": str(replica.port)}
        if replica.metrics_port is not None:
            own["MICRO_GATEWAY_METRICS_PORT"] = str(replica.metrics_port)
        return own

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
        services = [r for service in SERVICES for r in self.replicas[service]]
        await asyncio.gather(*(self._start_app(replica, env) for replica in services))
        await asyncio.gather(*(self._start_app(replica, env) for replica in self.gateways))
        await asyncio.gather(*(self._healthy(gateway) for gateway in self.gateways))
        if self.settings.prometheus:
            await self._start_prometheus(root)

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
        specs = [
            # SIGINT is PostgreSQL's "fast" shutdown: no waiting for clients to leave. A
            # server started again after a crash recovers from its WAL on the same folder.
            ChildSpec(
                db.name,
                db.command(),
                user=db.run_as,
                stop_signal=signal.SIGINT,
                probe=db.wait_ready,
            )
            for db in self.databases.values()
        ]
        specs.append(ChildSpec("redis", self.redis.command(), probe=self.redis.wait_ready))
        await asyncio.gather(*(self.supervisor.start(spec) for spec in specs))
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

    async def _start_prometheus(self, root: Path) -> None:
        binaries = await asyncio.to_thread(ensure_prometheus)
        self.prometheus = PrometheusServer(
            folder=root / "prometheus",
            port=self.settings.prometheus_port,
            binaries=binaries,
            interval=self.settings.prometheus_interval,
        )
        self.prometheus.write_config(
            self.replicas,
            for_=self.settings.prometheus_for,
            thresholds=self.settings.prometheus_thresholds,
        )
        await self.supervisor.start(
            ChildSpec(
                self.prometheus.name, self.prometheus.command(), probe=self.prometheus.wait_ready
            )
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

    async def _start_app(self, replica: Replica, env: dict[str, str]) -> None:
        argv = [sys.executable, "-m", "cli", "serve", replica.app]
        spec = ChildSpec(
            replica.name, argv, env=self.replica_env(replica, env), probe=self._probe(replica)
        )
        await self.supervisor.start(spec)

    def _probe(self, replica: Replica) -> Probe:
        """Ready: a service's /ready (its database and Redis answer); the gateway's /ready
        (Redis), since its /health also asks every service, which a restarted gateway must
        not wait on, and then its metrics listener. That one opens just after the app, and
        a gateway that cannot bind it exits: asked only once the app answered, a port taken
        meanwhile would pass as a good start and crash-loop afterwards."""
        wanted = [f"{replica.url}/ready"]
        if replica.metrics_port is not None:
            wanted.append(f"http://127.0.0.1:{replica.metrics_port}/metrics")
        log = self.settings.log_dir / f"{replica.name}.log"

        async def probe(process: asyncio.subprocess.Process) -> None:
            # Each start asks again (the probe is kept for every restart of the child).
            urls = list(wanted)
            deadline = time.monotonic() + self.settings.start_timeout
            async with httpx.AsyncClient(timeout=2) as client:
                while True:
                    if process.returncode is not None:
                        raise StackError(
                            f"{replica.name} exited with code {process.returncode} "
                            f"during start-up; see {log}"
                        )
                    try:
                        while urls and (await client.get(urls[0])).status_code == 200:
                            urls.pop(0)
                    except httpx.HTTPError:
                        pass
                    if not urls:
                        return
                    if time.monotonic() > deadline:
                        raise StackError(
                            f"{replica.name} was not ready at {urls[0]} in time; see {log}"
                        )
                    await asyncio.sleep(0.1)

        return probe

    async def _healthy(self, gateway: Replica) -> None:
        """The gateway reaches every service (its /health is 200): what the ready line
        promises. A gateway that does not is a warning, not a failed start: every service
        answered its own /ready already, and the gateway's words say which one it cannot
        reach."""
        url = f"{gateway.url}/health"
        deadline = time.monotonic() + _HEALTH_WAIT
        body = ""
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                try:
                    response = await client.get(url)
                except httpx.HTTPError as exc:
                    body = exc.__class__.__name__
                else:
                    if response.status_code == 200:
                        return
                    body = response.text
                await asyncio.sleep(0.2)
        if self.echo:
            print(f"micro: warning: {gateway.name}: {url} is not 200: {body}", flush=True)

    # -- run and stop -----------------------------------------------------------------------

    def supervise(self) -> None:
        """From now on, restart what exits (with backoff), until `stop`."""
        self._phase = "running"
        self.supervisor.supervise()

    async def stop(self) -> None:
        """Gateways first (no new requests), then the services, then the data servers."""
        self._phase = "stopping"
        # `micro dev status` meanwhile says so, rather than listing parts going down.
        self.write_state(phase="stopping")
        gateways = ["prometheus", *(r.name for r in self.gateways)]
        services = [r.name for service in SERVICES for r in self.replicas[service]]
        data = ["redis", *(db.name for db in self.databases.values())]
        await self.supervisor.stop_all(groups=[gateways, services, data])
        self.settings.state_file.unlink(missing_ok=True)
        forget_location(self.settings)

    def _changed(self) -> None:
        if self._phase == "running":
            self.write_state(phase="running")

    def write_state(self, *, phase: str) -> None:
        children = {c.name: c for c in self.supervisor.children}
        state: dict[str, Any] = {
            "pid": os.getpid(),
            "phase": phase,
            "started": self._started,
            "http_ports": self.settings.http_ports,
            "db_ports": self.settings.db_ports,
            "redis_port": self.settings.redis_port,
            "metrics_port": self.settings.metrics_port,
            "children": {name: c.process.pid for name, c in children.items()},
            "replica_count": self.settings.replicas,
            "replicas": {
                app: [
                    {
                        "name": r.name,
                        "port": r.port,
                        **({"metrics_port": r.metrics_port} if r.metrics_port else {}),
                        **_child_state(children.get(r.name)),
                    }
                    for r in replicas
                ]
                for app, replicas in self.replicas.items()
            },
            "servers": [
                {"name": name, "port": port, **_child_state(children.get(name))}
                for name, port in self._server_ports().items()
            ],
        }
        # Replaced whole: `micro dev status` may read it at any moment.
        tmp = self.settings.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.settings.state_file)
        record_location(self.settings)

    def _server_ports(self) -> dict[str, int]:
        ports = {f"{s}-db": p for s, p in self.settings.db_ports.items()}
        ports["redis"] = self.settings.redis_port
        if self.settings.prometheus:
            ports["prometheus"] = self.settings.prometheus_port
        return ports


def _child_state(child: Child | None) -> dict[str, Any]:
    if child is None:
        return {"pid": None, "restarts": 0, "crash_loop": None}
    return {"pid": child.process.pid, "restarts": child.restarts, "crash_loop": child.crash_loop}


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
