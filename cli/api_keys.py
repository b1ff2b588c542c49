"""`micro api-keys list|create|revoke`: the tenant's API keys, managed with the session."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.client import Gateway, cli_errors
from cli.events import when
from cli.options import ApiBaseOption, ProfileOption, active_profile
from cli.table import render

api_keys_app = typer.Typer(help="List, create and revoke API keys.", no_args_is_help=True)


@api_keys_app.command("list")
def list_keys(profile_name: ProfileOption = None, api_base: ApiBaseOption = None) -> None:
    """The tenant's keys, masked; `*` marks the one this profile uses."""
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            page: dict[str, Any] = gateway.get(
                "/auth/api_keys", credential="session", params={"limit": 100}
            )
    keys: list[dict[str, Any]] = page.get("data", [])
    if not keys:
        typer.echo("No API keys")
        return
    rows = [
        [
            "*" if key.get("id") == profile.api_key_id else "",
            str(key["id"]),
            str(key["masked"]),
            str(key["status"]),
            when(key.get("created")),
            when(key.get("last_used")) if key.get("last_used") else "never",
            str(key.get("name") or ""),
        ]
        for key in keys
    ]
    typer.echo(render(["", "ID", "KEY", "STATUS", "CREATED", "LAST USED", "NAME"], rows))


@api_keys_app.command("create")
def create_key(
    name: Annotated[str | None, typer.Option("--name", help="A label for the key.")] = None,
    live: Annotated[bool, typer.Option("--live", help="A live-mode key (sk_live_…).")] = False,
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """Create a key; its secret is printed this once."""
    body: dict[str, Any] = {"environment": "live" if live else "test"}
    if name:
        body["name"] = name
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            key: dict[str, Any] = gateway.post("/auth/api_keys", credential="session", json=body)
    typer.echo(f"Created {key['id']} ({key['environment']})")
    typer.echo(key["secret"])
    typer.echo("This secret is shown only once: store it now.", err=True)


@api_keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key_ id.", show_default=False)],
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """Revoke a key: every gateway refuses it within a second."""
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile) as gateway:
            key: dict[str, Any] = gateway.delete(f"/auth/api_keys/{key_id}", credential="session")
    typer.echo(f"Revoked {key['id']} ({key['masked']})")
    if key_id == profile.api_key_id and profile.access_token:
        typer.echo("It was this profile's CLI key: the next API call makes a new one.")
