"""`micro`: the command line of Micro."""

from __future__ import annotations

import typer

from cli.dev import dev_app, psql
from cli.ledger import ledger_app
from cli.serve import db_app, serve

app = typer.Typer(
    name="micro",
    help="Micro: payments, ledger, wallets and events on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dev_app, name="dev")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.command()(serve)
app.command()(psql)
