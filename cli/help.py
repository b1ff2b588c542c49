"""Help screens in the words of the command line, not of Python's type hints.

Typer writes each option's Python type into `--help` (`<str>`, `<bool>`, `<int>`), which
reads as a placeholder to fill in. Here flags show nothing, choices show their values and
any other option shows its name in capitals (`--email EMAIL`), as classic Unix help does.
Typer has no setting for this, so its one formatting method is replaced when the CLI loads.
"""

from __future__ import annotations

from typing import Any

from typer import core


def _display_type(param: Any, ctx: Any) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.type_descriptor.is_choice:
        return str(_typer_display_type(param, ctx)).strip("<>")
    if isinstance(param, core.TyperArgument):
        return ""  # its name is already in the row
    long = next((o for o in param.opts if o.startswith("--")), "--value")
    return str(long[2:]).replace("-", "_").upper()


_typer_display_type = core._TyperParameter.display_type


def install() -> None:
    core._TyperParameter.display_type = _display_type  # type: ignore[method-assign,assignment]
