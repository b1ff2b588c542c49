"""`micro`: the command line of Micro."""

from __future__ import annotations

import typer

from cli import help as plain_help
from cli.api_keys import api_keys_app
from cli.auth import login, logout, whoami
from cli.dev import dev_app, psql
from cli.events import events_app
from cli.ledger import ledger_app
from cli.listen import listen
from cli.payments import payments_app
from cli.secrets import secrets_app
from cli.serve import db_app, serve
from cli.trigger import trigger

plain_help.install()

app = typer.Typer(
    name="micro",
    help="Micro: payments, ledger, wallets and events on your own machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(dev_app, name="dev")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(payments_app, name="payments")
app.add_typer(secrets_app, name="secrets")
app.command()(serve)
app.command()(psql)
app.command()(login)
app.command()(logout)
app.command()(whoami)
app.command()(trigger)
app.command()(listen)
app.add_typer(events_app, name="events")
app.add_typer(api_keys_app, name="api-keys")
