"""Settings (tenant admins): the tenant's webhook URL, live mode (ask for it), and the
provider accounts its payments use, their secrets masked.

The webhook URL is the tenant's own field (`PUT /tenants/{id}`): the events service keeps it
as the tenant's default endpoint; more endpoints are on the webhooks pages. Provider
secrets are masked by the API already; the page masks again (`masked` below), so no change
of the API's could put a whole secret on it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.formats import masked
from gateway.dashboard.views.team import refusal
from gateway.dashboard.web import TENANT_ADMINS, Page, page


def _shown(account: dict[str, Any]) -> dict[str, Any]:
    return {
        **account,
        "secret_key": masked(account.get("secret_key")),
        "webhook_secret": masked(account.get("webhook_secret")),
    }


async def _page(ctx: Page, status: int = 200, **context: Any) -> Response:
    tenant = await ctx.api.get(f"/tenants/{ctx.session.tenant_id}")
    providers = await ctx.api.call("GET", "/payments/providers")
    accounts = [_shown(a) for a in providers.body["data"]] if providers.ok else []
    return ctx.render(
        "settings/settings.html", status, title="Settings", tenant=tenant, accounts=accounts,
        providers_error=None if providers.ok else providers.message, **context,
    )  # fmt: skip


@page(TENANT_ADMINS)
async def settings(request: Request, ctx: Page) -> Response:
    return await _page(ctx)


@page(TENANT_ADMINS)
async def save_webhook_url(request: Request, ctx: Page) -> Response:
    webhook_url = ctx.field("webhook_url")
    answer = await ctx.api.call(
        "PUT", f"/tenants/{ctx.session.tenant_id}", json={"webhook_url": webhook_url},
        idempotency_key=ctx.form_key(),
    )  # fmt: skip
    if not answer.ok:
        return await _page(ctx, answer.status, error=refusal(answer), webhook_url=webhook_url)
    said = f"Webhooks now go to {webhook_url}." if webhook_url else "The webhook URL is cleared."
    return ctx.redirect("/settings", said)


@page(TENANT_ADMINS)
async def request_live_mode(request: Request, ctx: Page) -> Response:
    tenant = await ctx.api.post(
        f"/auth/tenants/{ctx.session.tenant_id}/live_mode/request",
        idempotency_key=ctx.form_key(),
    )
    if tenant["live_mode"] == "on":
        return ctx.redirect("/settings", "Live mode is already on.")
    return ctx.redirect("/settings", "Live mode requested: a platform admin will turn it on.")


routes = [
    Route("/settings", settings, methods=["GET"]),
    Route("/settings/webhook_url", save_webhook_url, methods=["POST"]),
    Route("/settings/live_mode", request_live_mode, methods=["POST"]),
]
