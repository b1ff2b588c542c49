"""`micro ledger verify`: recompute the ledger from its history and report disagreements."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import typer

from cli.apps import load_settings_as
from services.ledger.service.verify import verify
from services.ledger.settings import LedgerSettings

ledger_app = typer.Typer(help="Ledger tasks.", no_args_is_help=True)


@ledger_app.command("verify")
def verify_command(
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Check every balance against its entries and debits against credits (exit 1 if not)."""
    settings = load_settings_as("ledger", LedgerSettings)
    try:
        report = asyncio.run(_run(settings.database_url))
    except (OSError, asyncpg.PostgresError) as exc:
        typer.echo(f"micro: cannot read the ledger database: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(
            f"ledger: {report['accounts']} accounts, {report['transactions']} transactions, "
            f"{report['entries']} entries: "
            + (
                "no discrepancies"
                if report["ok"]
                else f"{len(report['discrepancies'])} discrepancies"
            )
        )
        for item in report["discrepancies"]:
            typer.echo(f"  {json.dumps(item)}")
    if not report["ok"]:
        raise typer.Exit(1)


async def _run(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        # One snapshot, so a busy ledger is checked as of one moment.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await verify(conn)
    finally:
        await conn.close()
