"""Everything under /dashboard: the static files and each area's pages."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.dashboard.views import home, payments, signin

STATIC = Path(__file__).parent / "static"

_pages: list[BaseRoute] = [
    *signin.routes,
    *home.routes,
    *payments.routes,
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
        ],
    ),
]
