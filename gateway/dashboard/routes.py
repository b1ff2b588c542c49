"""Everything under /dashboard: the static files and each area's pages."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.dashboard.views import (
    events,
    home,
    keys,
    ledger,
    payments,
    platform,
    settings,
    signin,
    team,
    wallets,
    webhooks,
)
from gateway.dashboard.web import EVERYONE, Page, not_found, page

STATIC = Path(__file__).parent / "static"


@page(EVERYONE)
async def _missing(request: Request, ctx: Page) -> Response:
    """Any other path under /dashboard: the dashboard's own 404 page (after sign-in, so a
    signed-out browser learns nothing of which pages exist)."""
    return not_found(ctx)


_pages: list[BaseRoute] = [
    *signin.routes,
    *home.routes,
    *payments.routes,
    *wallets.routes,
    *ledger.routes,
    *keys.routes,
    *team.routes,
    *settings.routes,
    *platform.routes,
    *events.routes,
    *webhooks.routes,
]


async def _slash(request: Request) -> Response:
    return RedirectResponse("/dashboard/", status_code=308)


routes: list[BaseRoute] = [
    Route("/dashboard", _slash, methods=["GET", "HEAD"], include_in_schema=False),
    Mount(
        "/dashboard",
        routes=[
            Mount("/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
            *_pages,
            Route("/{rest:path}", _missing, methods=["GET", "POST"]),
        ],
    ),
]
