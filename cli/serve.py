"""`micro serve APP` and `micro db migrate`: run one app, or apply migrations."""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated, Literal

import asyncpg
import typer
import uvicorn
from starlette.types import ASGIApp

from cli.apps import app_factory, load_settings, load_settings_as
from gateway.app import create_metrics_app
from gateway.settings import GatewaySettings
from shared.logging import configure_logging
from shared.migrations import MigrationError, migrate_service, pending_migrations
from shared.settings import APPS, SERVICES, DatabaseSettings

db_app = typer.Typer(help="Database tasks.", no_args_is_help=True)


def serve(
    app: Annotated[str, typer.Argument(help=f"One of: {', '.join(APPS)}.")],
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Apply pending migrations before serving.")
    ] = False,
) -> None:
    """Run one Micro app in the foreground (uvicorn)."""
    if app not in APPS:
        raise typer.BadParameter(f"unknown app {app!r}; choose from {', '.join(APPS)}")
    settings = load_settings(app)
    if migrate and isinstance(settings, DatabaseSettings):
        settings = settings.model_copy(update={"migrate_on_start": True})
    configure_logging(app, settings.log_level)
    servers = [_server(app_factory(app)(settings), settings.host, settings.port, lifespan="on")]
    if isinstance(settings, GatewaySettings):
        metrics = create_metrics_app()
        servers.append(
            _server(metrics, settings.metrics_host, settings.metrics_port, lifespan="off")
        )
    raise typer.Exit(asyncio.run(_serve_all(servers)))


# How long an idle connection is kept open. Longer than any pool that calls a Micro app keeps
# its idle connections (the gateway's 30 s, httpx's 5 s; a load balancer's 60 s), so the
# client is always the side that closes one: a server closing first races the request the
# client may be sending on it that moment, and the request is lost (uvicorn's 5 s default
# did, under load, to a ledger posting). As nginx's keepalive_timeout.
KEEP_ALIVE_SECONDS = 75


class _Server(uvicorn.Server):
    """uvicorn's Server, saying when it has started (it offers no event of its own)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.up = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:
            # uvicorn exits the process when it cannot bind (having logged why); the other
            # server must stop cleanly first, so this one just does not start.
            self.should_exit = True
            return
        if self.started:
            self.up.set()


def _server(app: ASGIApp, host: str, port: int, *, lifespan: Literal["on", "off"]) -> _Server:
    return _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan=lifespan,
            # X-Forwarded-For is the gateway's to judge (trusted_proxies), not the server's.
            proxy_headers=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )


async def _serve_all(servers: list[_Server]) -> int:
    """Every server on this loop; when one ends (a signal, a failed start) the rest stop.

    The first is the app; the others (the gateway's metrics listener) open once it has
    started, so an answer from them means the app is up."""
    first, *others = servers
    tasks = [asyncio.create_task(first.serve())]
    up = asyncio.create_task(first.up.wait())
    await asyncio.wait([tasks[0], up], return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    if first.started:
        tasks.extend(asyncio.create_task(server.serve()) for server in others)
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    # uvicorn leaves started False when a server could not bind its port or start its app.
    return 0 if all(server.started for server in servers) else 1


@db_app.command("migrate")
def migrate(
    service: Annotated[
        str | None, typer.Argument(help="One service; all of them when omitted.")
    ] = None,
) -> None:
    """Apply pending migrations to each service's own database, as its owner
    (MICRO_<SERVICE>_MIGRATION_DATABASE_URL), granting the app's role what it uses."""
    targets = [service] if service else list(SERVICES)
    unknown = [s for s in targets if s not in SERVICES]
    if unknown:
        raise typer.BadParameter(f"unknown service {unknown[0]!r}; choose from {SERVICES}")
    failed = False
    for name in targets:
        settings = load_settings_as(name, DatabaseSettings)
        try:
            applied = asyncio.run(
                migrate_service(name, settings.migration_database_url, app_role=settings.app_role)
            )
        except MigrationError as exc:
            typer.echo(f"micro: {exc}", err=True)
            failed = True
            continue
        except OSError as exc:
            typer.echo(
                f"micro: {name}: cannot reach {_safe(settings.migration_database_url)}: {exc}",
                err=True,
            )
            failed = True
            continue
        done = ", ".join(m.filename for m in applied) or "nothing to apply"
        typer.echo(f"{name}: {done}")
    if failed:
        raise typer.Exit(1)


@db_app.command("wait")
def wait(
    service: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICES)}.")],
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait before giving up.", min=0)
    ] = 300.0,
) -> None:
    """Wait until the service's database has every migration of this code applied, as the
    app's own role (MICRO_<SERVICE>_DATABASE_URL): the init container of each service's pod,
    so no replica serves before the migration Job has finished. Exit 1 on timeout."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {SERVICES}")
    settings = load_settings(service)
    if not isinstance(settings, DatabaseSettings):
        raise typer.BadParameter(f"{service} has no database")
    pending, error = asyncio.run(_wait_for_migrations(service, settings.database_url, timeout))
    if pending or error:
        why = error or f"still pending: {', '.join(pending)}"
        typer.echo(f"micro: {service}: not migrated after {timeout:g} s ({why})", err=True)
        raise typer.Exit(1)
    typer.echo(f"{service}: every migration applied")


async def _wait_for_migrations(
    service: str, dsn: str, seconds: float
) -> tuple[list[str], str | None]:
    """(what is still pending, the last connection error) when the time is up; ([], None)
    as soon as nothing is pending."""
    deadline = asyncio.get_running_loop().time() + seconds
    pending: list[str] = []
    error: str | None = None
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            try:
                pending = await pending_migrations(conn, service)
                error = None
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError) as exc:
            # The database may come up after the pod: keep trying until the deadline.
            error = f"cannot reach {_safe(dsn)}: {exc}"
        if not pending and error is None:
            return [], None
        if asyncio.get_running_loop().time() >= deadline:
            return pending, error
        await asyncio.sleep(1.0)


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}:***@{tail}"
