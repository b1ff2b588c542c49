"""Events: the log (filter by type, paginated, a live tail over server-sent events), an
event's exact payload with its webhook deliveries, and resend."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.api import ApiFailure
from gateway.dashboard.views.stream import cursor_now, event_stream
from gateway.dashboard.web import TENANT_ADMINS, Page, page, query

PAGE_SIZE = 25


def pager(request: Request, found: dict[str, Any]) -> dict[str, str | None]:
    """Links to the older and newer pages of a newest-first list (`starting_after` /
    `ending_before` cursors, as the API pages)."""
    data = found.get("data") or []
    has_more = bool(found.get("has_more"))
    backwards = bool(request.query_params.get("ending_before"))
    forwards = bool(request.query_params.get("starting_after"))
    older = data[-1]["id"] if data and (has_more or backwards) else None
    newer = data[0]["id"] if data and (forwards or (backwards and has_more)) else None
    return {"older": older, "newer": newer}


@page(TENANT_ADMINS)
async def event_list(request: Request, ctx: Page) -> Response:
    params = query(request, ("type", "starting_after", "ending_before"))
    answer = await ctx.api.call("GET", "/events", params={"limit": PAGE_SIZE, **params})
    error = None
    found: dict[str, Any] = {"data": [], "has_more": False}
    if answer.ok:
        found = answer.body
    elif answer.status == 400:
        error = answer.message
    else:
        raise ApiFailure(answer)
    kind = params.get("type", "")
    # The live tail only on the newest page: older pages stay as they were.
    live = not (params.get("starting_after") or params.get("ending_before")) and error is None
    tail = None
    if live:
        tail = {"after": await cursor_now(request, ctx.session)}
        if kind:
            tail["type"] = kind
    return ctx.render(
        "events/list.html",
        tail=urlencode({k: v for k, v in (tail or {}).items() if v}),
        title="Events",
        events=found["data"],
        kind=kind,
        exact=kind if kind and "*" not in kind else "",
        live=live,
        error=error,
        pages=pager(request, found),
    )


@page(TENANT_ADMINS)
async def event_detail(request: Request, ctx: Page) -> Response:
    event_id = request.path_params["event_id"]
    event = await ctx.api.get(f"/events/{event_id}")
    params = query(request, ("starting_after", "ending_before"))
    attempts = await ctx.api.get(f"/events/{event_id}/deliveries", limit=PAGE_SIZE, **params)
    endpoints = await ctx.api.get("/webhook_endpoints", limit=100)
    return ctx.render(
        "events/detail.html",
        title=f"Event {event_id}",
        event=event,
        attempts=attempts["data"],
        pages=pager(request, attempts),
        endpoints=[e for e in endpoints["data"] if e["status"] == "enabled"],
    )


@page(TENANT_ADMINS)
async def resend(request: Request, ctx: Page) -> Response:
    event_id = request.path_params["event_id"]
    target = ctx.field("webhook_endpoint")
    body: dict[str, Any] = {"webhook_endpoint": target, "live": False} if target else {}
    answer = await ctx.api.call(
        "POST", f"/events/{event_id}/resend", json=body, idempotency_key=ctx.form_key()
    )
    if answer.status == 404 and answer.error.get("param") != "webhook_endpoint":
        raise ApiFailure(answer)  # not this tenant's event: the 404 page
    if not answer.ok:
        return ctx.redirect(f"/events/{event_id}", f"Not sent again: {answer.message}")
    where = f"to {target}" if target else "to every endpoint that selects it"
    return ctx.redirect(f"/events/{event_id}", f"Event {event_id} sent again {where}.")


@page(TENANT_ADMINS)
async def to_event(request: Request, ctx: Page) -> Response:
    """A GET of the resend form's action (a reload, the mode switch's way back)."""
    return ctx.redirect(f"/events/{quote(request.path_params['event_id'], safe='')}")


routes = [
    # Before /events/{event_id}: "stream" is not an event id.
    Route("/events/stream", event_stream, methods=["GET"]),
    Route("/events", event_list, methods=["GET"]),
    Route("/events/{event_id}", event_detail, methods=["GET"]),
    Route("/events/{event_id}/resend", resend, methods=["POST"]),
    Route("/events/{event_id}/resend", to_event, methods=["GET"]),
]
