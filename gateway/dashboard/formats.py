"""How the templates write money, times and ids (Jinja filters)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jinja2 import Environment

# Currencies whose minor unit is not a hundredth (ISO 4217): none of Micro's have another,
# but a zero-decimal one must not be shown a hundred times too small.
ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "xof", "xaf", "ugx", "rwf", "clp", "pyg"})


def money(amount: Any, currency: Any = "") -> str:
    """`123456, "usd"` -> "1,234.56 USD"; a negative amount keeps its sign."""
    try:
        value = int(amount)
    except (TypeError, ValueError):
        return "—"
    code = str(currency or "").lower()
    sign = "-" if value < 0 else ""
    value = abs(value)
    text = f"{value:,}" if code in ZERO_DECIMAL else f"{value // 100:,}.{value % 100:02d}"
    return f"{sign}{text} {code.upper()}".strip()


def when(stamp: Any) -> str:
    """A unix time (or ISO text) as "2026-12-02 19:05:03 UTC"."""
    if stamp in (None, ""):
        return "—"
    try:
        moment = dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError):
        try:
            moment = dt.datetime.fromisoformat(str(stamp))
        except ValueError:
            return str(stamp)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(value: Any) -> str:
    """A payload as the API sent it, indented."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def masked(secret: Any) -> str | None:
    """A secret as a page may show it: its last 4 characters, never more (None if unset)."""
    if secret in (None, ""):
        return None
    return "••••" + str(secret)[-4:]


def install(env: Environment) -> None:
    env.filters["money"] = money
    env.filters["when"] = when
    env.filters["pretty"] = pretty
    env.filters["masked"] = masked
