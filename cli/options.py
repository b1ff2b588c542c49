"""The options every command that talks to the gateway takes: which profile, which gateway."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from cli import config
from cli.config import DEFAULT_API_BASE, Profile

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        envvar="MICRO_PROFILE",
        help="Profile to use (default: the one `micro login` last used).",
        show_default=False,
        metavar="NAME",
    ),
]

ApiBaseOption = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        envvar="MICRO_API_BASE",
        help=f"The gateway's URL (default: the profile's, else {DEFAULT_API_BASE}).",
        show_default=False,
        metavar="URL",
    ),
]


def active_profile(profile_name: str | None, api_base: str | None) -> Profile:
    """The stored profile to act as, pointed at `api_base` for this run when one is given
    (the stored profile keeps its own)."""
    profile = config.load_profile(profile_name)
    if api_base:
        profile = dataclasses.replace(profile, api_base=api_base.rstrip("/"))
    return profile
