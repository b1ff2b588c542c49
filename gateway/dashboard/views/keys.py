"""API keys (tenant admins): the list (masked, with last use), create, roll and revoke.

A new or rolled key's secret is in the answer to that POST only: the page that answers it
shows it once, and nothing keeps it (the API marks the answer `no-store`, the dashboard
stores no copy). Every other page shows the masked form the API lists.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.views.team import refusal
from gateway.dashboard.web import TENANT_ADMINS, Page, page, query

_ENVIRONMENTS = ("test", "live")


async def _list(ctx: Page, request: Request) -> dict[str, Any]:
    params = query(request, ("starting_after", "ending_before"))
    found: dict[str, Any] = await ctx.api.get("/auth/api_keys", limit=20, **params)
    return found


async def _page(ctx: Page, request: Request, status: int = 200, **context: Any) -> Response:
    keys = await _list(ctx, request)
    return ctx.render(
        "keys/list.html", status, title="API keys", keys=keys["data"],
        has_more=keys["has_more"], **context,
    )  # fmt: skip


@page(TENANT_ADMINS)
async def list_keys(request: Request, ctx: Page) -> Response:
    return await _page(ctx, request)


@page(TENANT_ADMINS)
async def create_key(request: Request, ctx: Page) -> Response:
    environment = ctx.field("environment")
    name = ctx.field("name")
    if environment not in _ENVIRONMENTS:
        return await _page(ctx, request, 400, error="Choose the key's environment: test or live.",
                           name=name)  # fmt: skip
    body: dict[str, Any] = {"environment": environment}
    if name:
        body["name"] = name
    answer = await ctx.api.call("POST", "/auth/api_keys", json=body, idempotency_key=ctx.form_key())
    if not answer.ok:
        return await _page(ctx, request, answer.status, error=refusal(answer), name=name)
    return ctx.render("keys/secret.html", title="Your new API key", key=answer.body, rolled=None)


@page(TENANT_ADMINS)
async def roll_key(request: Request, ctx: Page) -> Response:
    key_id = request.path_params["key_id"]
    key = await ctx.api.post(
        f"/auth/api_keys/{key_id}/roll", {"grace_period_seconds": 0},
        idempotency_key=ctx.form_key(),
    )  # fmt: skip
    return ctx.render("keys/secret.html", title="Your rolled API key", key=key, rolled=key_id)


@page(TENANT_ADMINS)
async def revoke_key(request: Request, ctx: Page) -> Response:
    key_id = request.path_params["key_id"]
    key = await ctx.api.delete(f"/auth/api_keys/{key_id}")
    return ctx.redirect("/keys", f"Revoked the key {key['masked']}: it no longer works.")


routes = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/{key_id}/roll", roll_key, methods=["POST"]),
    Route("/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
]
