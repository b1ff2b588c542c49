"""The six apps by name: their factories and settings classes."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

import typer
from pydantic import ValidationError
from starlette.applications import Starlette

from shared import secrets
from shared.settings import APPS, ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def _module_base(app: str) -> str:
    return "gateway" if app == "gateway" else f"services.{app}"


def settings_class(app: str) -> type[ServiceSettings]:
    if app not in APPS:
        raise KeyError(app)
    module = importlib.import_module(f"{_module_base(app)}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceSettings)
            and getattr(value, "service", None) == app
        ):
            return value
    raise LookupError(f"{module.__name__} defines no settings class for {app}")


def app_factory(app: str) -> Callable[[ServiceSettings], Starlette]:
    module = importlib.import_module(f"{_module_base(app)}.app")
    factory: Callable[[ServiceSettings], Starlette] = module.create_app
    return factory


def load_settings(app: str) -> ServiceSettings:
    """The app's settings from the environment; a bad one (a missing secret, say) ends the
    command with one line naming it, not a traceback."""
    try:
        return settings_class(app)()
    except ValidationError as exc:
        typer.echo(f"micro: {app}: {secrets.explain(exc)}", err=True)
        raise typer.Exit(1) from None


def load_settings_as(app: str, kind: type[S]) -> S:
    """`load_settings`, as the settings type the command needs (the one check lives here)."""
    settings = load_settings(app)
    if not isinstance(settings, kind):
        raise TypeError(f"{app}'s settings are not {kind.__name__}")
    return settings
