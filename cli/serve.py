"""`micro serve APP` and `micro db migrate`: run one app, or apply migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from cli.apps import app_factory, settings_class
from shared.logging import configure_logging
from shared.migrations import MigrationError, migrate_service
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
    settings = settings_class(app)()
    if migrate and isinstance(settings, DatabaseSettings):
        settings = settings.model_copy(update={"migrate_on_start": True})
    configure_logging(app, settings.log_level)
    uvicorn.run(
        app_factory(app)(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        # X-Forwarded-For is the gateway's to judge (trusted_proxies), not the server's.
        proxy_headers=False,
    )


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
        settings = settings_class(name)()
        assert isinstance(settings, DatabaseSettings)
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


def _safe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    head, at, tail = dsn.rpartition("@")
    if not at:
        return dsn
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':')[0]}:***@{tail}"
