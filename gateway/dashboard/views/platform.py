"""The platform operator's pages: tenants (search, disable, rate limit, live mode), their
users, the system's health, and `ledger verify`.

All of them are platform admins' only: anyone else gets the 404 page (`@page`), and the API
refuses what a page would ask for anyway.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.views.team import refusal
from gateway.dashboard.web import PLATFORM_ADMINS, Page, not_found, page, query


@page(PLATFORM_ADMINS)
async def tenants(request: Request, ctx: Page) -> Response:
    params = query(request, ("q", "starting_after", "ending_before"))
    found = await ctx.api.get("/tenants", limit=25, **params)
    return ctx.render(
        "platform/tenants.html", title="Tenants", tenants=found["data"],
        has_more=found["has_more"], q=params.get("q", ""),
    )  # fmt: skip


async def _tenant_page(ctx: Page, tenant_id: str, status: int = 200, **context: Any) -> Response:
    tenant = await ctx.api.get(f"/tenants/{tenant_id}")
    users = await ctx.api.get("/auth/users", tenant_id=tenant["id"], limit=20)
    return ctx.render(
        "platform/tenant.html", status, title=tenant["name"], tenant=tenant,
        users=users["data"], more_users=users["has_more"], **context,
    )  # fmt: skip


@page(PLATFORM_ADMINS)
async def tenant(request: Request, ctx: Page) -> Response:
    return await _tenant_page(ctx, request.path_params["tenant_id"])


@page(PLATFORM_ADMINS)
async def set_rate_limit(request: Request, ctx: Page) -> Response:
    tenant_id = request.path_params["tenant_id"]
    raw = ctx.field("rate_limit")
    try:
        limit = int(raw)
    except ValueError:
        return await _tenant_page(ctx, tenant_id, 400, error="The rate limit is a whole number "
                                  "of requests per minute.")  # fmt: skip
    answer = await ctx.api.call(
        "PUT", f"/tenants/{tenant_id}", json={"rate_limit": limit}, idempotency_key=ctx.form_key()
    )
    if not answer.ok:
        if answer.status == 404:
            return not_found(ctx)
        return await _tenant_page(ctx, tenant_id, answer.status, error=refusal(answer))
    return ctx.redirect(f"/platform/tenants/{tenant_id}", f"Rate limit now {limit} a minute.")


@page(PLATFORM_ADMINS)
async def set_live_mode(request: Request, ctx: Page) -> Response:
    tenant_id = request.path_params["tenant_id"]
    wanted = ctx.field("enabled")
    if wanted not in ("on", "off"):
        return await _tenant_page(ctx, tenant_id, 400, error="Turn live mode on or off.")
    await ctx.api.post(
        f"/auth/tenants/{tenant_id}/live_mode", {"enabled": wanted == "on"},
        idempotency_key=ctx.form_key(),
    )  # fmt: skip
    return ctx.redirect(f"/platform/tenants/{tenant_id}", f"Live mode is {wanted}.")


@page(PLATFORM_ADMINS)
async def disable(request: Request, ctx: Page) -> Response:
    tenant_id = request.path_params["tenant_id"]
    done = await ctx.api.delete(f"/tenants/{tenant_id}")
    return ctx.redirect(
        f"/platform/tenants/{tenant_id}",
        f"Disabled {done['name']}: its users, sessions and API keys stopped working.",
    )


@page(PLATFORM_ADMINS)
async def users(request: Request, ctx: Page) -> Response:
    """One tenant's users (by id or slug); the platform tenant's without one."""
    params = query(request, ("tenant", "starting_after", "ending_before"))
    ref = params.get("tenant", "")
    found_tenant: dict[str, Any] | None = None
    if ref:
        path = f"/tenants/{ref}" if ref.startswith("ten_") else f"/tenants/slug/{ref}"
        answer = await ctx.api.call("GET", path)
        if not answer.ok:
            return ctx.render(
                "platform/users.html", answer.status if answer.status != 404 else 404,
                title="Users", tenant_ref=ref, users=[], has_more=False, tenant=None,
                error=f"No tenant has the id or slug {ref!r}." if answer.status == 404
                else answer.message,
            )  # fmt: skip
        found_tenant = answer.body
    listed = await ctx.api.get(
        "/auth/users", limit=50, tenant_id=found_tenant["id"] if found_tenant else None,
        starting_after=params.get("starting_after"), ending_before=params.get("ending_before"),
    )  # fmt: skip
    return ctx.render(
        "platform/users.html", title="Users", tenant_ref=ref, tenant=found_tenant,
        users=listed["data"], has_more=listed["has_more"],
    )  # fmt: skip


@page(PLATFORM_ADMINS)
async def health(request: Request, ctx: Page) -> Response:
    # 503 is an answer too: its body says which service is not ready.
    answer = await ctx.api.call("GET", "/health")
    body = answer.body if isinstance(answer.body, dict) else {}
    # A service that is down says so in the table above; its figures are then unknown.
    outbox = await ctx.api.call("GET", "/payments/ledger_outbox")
    outboxes = await ctx.api.call("GET", "/system/outboxes")
    events = await ctx.api.call("GET", "/events/backlog")
    return ctx.render(
        "platform/health.html", title="System health", status_word=body.get("status", "unknown"),
        services=body.get("services", {}), http_status=answer.status,
        outbox=outbox.body if outbox.ok else None,
        outbox_error=None if outbox.ok else outbox.message,
        outboxes=outboxes.body.get("services", {}) if outboxes.ok else None,
        outboxes_error=None if outboxes.ok else outboxes.message,
        events=events.body if events.ok else None,
        events_error=None if events.ok else events.message,
    )  # fmt: skip


@page(PLATFORM_ADMINS)
async def ledger(request: Request, ctx: Page) -> Response:
    return ctx.render("platform/ledger.html", title="Ledger verify", report=None)


@page(PLATFORM_ADMINS)
async def run_verify(request: Request, ctx: Page) -> Response:
    report = await ctx.api.get("/ledger/verify")
    return ctx.render("platform/ledger.html", title="Ledger verify", report=report)


routes = [
    Route("/platform/tenants", tenants, methods=["GET"]),
    Route("/platform/tenants/{tenant_id}", tenant, methods=["GET"]),
    Route("/platform/tenants/{tenant_id}/rate_limit", set_rate_limit, methods=["POST"]),
    Route("/platform/tenants/{tenant_id}/live_mode", set_live_mode, methods=["POST"]),
    Route("/platform/tenants/{tenant_id}/disable", disable, methods=["POST"]),
    Route("/platform/users", users, methods=["GET"]),
    Route("/platform/health", health, methods=["GET"]),
    Route("/platform/ledger", ledger, methods=["GET"]),
    Route("/platform/ledger", run_verify, methods=["POST"]),
]
