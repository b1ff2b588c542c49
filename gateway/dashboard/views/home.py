"""Home: the tenant's balances per currency (from the ledger), recent payments."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.dashboard.web import EVERYONE, Page, page, url
from shared.access import Role


@page(EVERYONE)
async def home(request: Request, ctx: Page) -> Response:
    if ctx.session.role is Role.PLATFORM_ADMIN:
        return RedirectResponse(url("/platform/tenants"), status_code=303)
    if ctx.session.role is Role.USER:
        return RedirectResponse(url("/wallets"), status_code=303)
    balance = await ctx.api.get("/ledger/balance")
    recent = await ctx.api.get("/payments/payment_intents", limit=10)
    return ctx.render("home.html", title="Home", balance=balance, recent=recent["data"])


routes = [Route("/", home, methods=["GET"])]
