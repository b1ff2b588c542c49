"""Home: the tenant's balances per currency (from the ledger), the payment volume of the
last 7 days (`GET /payments/payment_intents/volume`) as a chart, recent payments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.dashboard.web import EVERYONE, Page, page, url
from shared.access import Role

VOLUME_DAYS = 7
# The chart's drawing box (SVG user units); bars stand on the base line.
CHART_WIDTH = 700
CHART_HEIGHT = 200
_TOP = 20
_BASE = 170


@dataclass(frozen=True, slots=True)
class Bar:
    date: str
    label: str
    count: int
    amount: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Series:
    """One currency's days, oldest first, drawn as bars."""

    currency: str
    bars: list[Bar]
    total: int
    count: int


def volume_series(volume: dict[str, Any]) -> list[Series]:
    """Every day of the period for each currency that had payments (missing days: zero)."""
    first = dt.datetime.fromtimestamp(int(volume["since"]), tz=dt.UTC).date()
    days = [first + dt.timedelta(days=i) for i in range(int(volume["days"]))]
    by_currency: dict[str, dict[str, tuple[int, int]]] = {}
    for row in volume["data"]:
        by_currency.setdefault(row["currency"], {})[row["date"]] = (row["count"], row["amount"])
    slot = CHART_WIDTH / max(len(days), 1)
    found = []
    for currency in sorted(by_currency, key=lambda c: -sum(a for _, a in by_currency[c].values())):
        figures = by_currency[currency]
        top = max((a for _, a in figures.values()), default=0) or 1
        bars = []
        for i, day in enumerate(days):
            count, amount = figures.get(day.isoformat(), (0, 0))
            height = (_BASE - _TOP) * amount / top
            bars.append(
                Bar(
                    date=day.isoformat(),
                    label=day.strftime("%a %d %b"),
                    count=count,
                    amount=amount,
                    x=round(i * slot + slot * 0.15, 1),
                    y=round(_BASE - height, 1),
                    width=round(slot * 0.7, 1),
                    height=round(height, 1),
                )
            )
        found.append(
            Series(
                currency=currency,
                bars=bars,
                total=sum(b.amount for b in bars),
                count=sum(b.count for b in bars),
            )
        )
    return found


@page(EVERYONE)
async def home(request: Request, ctx: Page) -> Response:
    if ctx.session.role is Role.PLATFORM_ADMIN:
        return RedirectResponse(url("/platform/tenants"), status_code=303)
    if ctx.session.role is Role.USER:
        return RedirectResponse(url("/wallets"), status_code=303)
    balance = await ctx.api.get("/ledger/balance")
    recent = await ctx.api.get("/payments/payment_intents", limit=10)
    volume = await ctx.api.get("/payments/payment_intents/volume", days=VOLUME_DAYS)
    return ctx.render(
        "home.html",
        title="Home",
        balance=balance,
        recent=recent["data"],
        volume=volume_series(volume),
        volume_days=VOLUME_DAYS,
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        chart_base=_BASE,
    )


routes = [Route("/", home, methods=["GET"])]
