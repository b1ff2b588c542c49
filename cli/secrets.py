"""`micro secrets generate`: a fresh value for every secret Micro needs, as env lines."""

from __future__ import annotations

import typer

from shared import secrets

secrets_app = typer.Typer(help="Secrets the apps need (none has a default).", no_args_is_help=True)


@secrets_app.command("generate")
def generate() -> None:
    """Print KEY=value lines, one per purpose (`micro secrets generate >> .env`)."""
    typer.echo(secrets.env_lines(secrets.generate()), nl=False)
