"""`micro events list|resend`: the tenant's event log, through the events service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from cli.client import Gateway, cli_errors
from cli.options import ApiBaseOption, ProfileOption, active_profile
from cli.table import render

events_app = typer.Typer(help="The event log: list events, resend one.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def when(created: Any) -> str:
    if not isinstance(created, int):
        return "-"
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S")


@events_app.command("list")
def list_events(
    type_: Annotated[
        str | None, typer.Option("--type", "-t", help="Only events of this type.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    format_: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """The newest events first."""
    params: dict[str, Any] = {"limit": limit}
    if type_:
        params["type"] = type_
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            page: dict[str, Any] = gateway.get("/events", params=params)
    events: list[dict[str, Any]] = page.get("data", [])
    if format_ is Format.json:
        typer.echo(json.dumps(events, indent=2))
        return
    if not events:
        typer.echo("No events" + (f" of type {type_}" if type_ else ""))
        return
    rows = [
        [
            str(event.get("id")),
            when(event.get("created")),
            str(event.get("type")),
            str(((event.get("data") or {}).get("object") or {}).get("id", "")),
        ]
        for event in events
    ]
    typer.echo(render(["ID", "CREATED", "TYPE", "OBJECT"], rows))
    if page.get("has_more"):
        typer.echo("(more: raise --limit, up to 100)", err=True)


@events_app.command("resend")
def resend(
    event_id: Annotated[str, typer.Argument(help="The evt_ id.", show_default=False)],
    webhook_endpoint: Annotated[
        str | None,
        typer.Option("--webhook-endpoint", help="Only to this endpoint (and `micro listen`)."),
    ] = None,
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """Send an event again, to the webhook endpoints and to `micro listen`."""
    body = {"webhook_endpoint": webhook_endpoint} if webhook_endpoint else {}
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            answer: dict[str, Any] = gateway.post(f"/events/{event_id}/resend", json=body) or {}
    event_type = answer.get("type")
    typer.echo(f"Resent {event_id}" + (f" ({event_type})" if event_type else ""))
