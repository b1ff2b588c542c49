"""Webhook endpoints: list, create, edit, disable and enable, roll the signing secret, delete;
an endpoint's deliveries with each attempt's answer, and resending one.

A signing secret is in the API's answer to a create or a roll only, so it is shown on the
page that answers that form (drawn from the POST, not redirected to: nothing keeps it) and
on no other page; a reload of the endpoint's page shows it hidden.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.api import Answer, ApiFailure
from gateway.dashboard.views.events import PAGE_SIZE, pager
from gateway.dashboard.web import TENANT_ADMINS, Page, page, query

# How long a rolled secret's predecessor keeps signing beside it (the API's `expires_in`).
OVERLAPS = [("0", "Stop the old secret now"), ("3600", "Keep the old one for 1 hour"),
            ("86400", "Keep the old one for 24 hours")]  # fmt: skip


def _events(text: str) -> list[str]:
    """`a, b c` -> ["a", "b", "c"]: the form's field as the API's list."""
    return [item for item in re.split(r"[\s,]+", text) if item]


def _form_values(ctx: Page) -> dict[str, str]:
    return {
        "url": ctx.field("url"),
        "enabled_events": ctx.field("enabled_events"),
        "description": ctx.field("description"),
    }


def _body(values: dict[str, str]) -> dict[str, Any]:
    return {
        "url": values["url"],
        "enabled_events": _events(values["enabled_events"]),
        "description": values["description"] or None,
    }


def _refusal(answer: Answer) -> str:
    param = answer.error.get("param")
    return f"{answer.message}" + (f" (field: {param})" if param else "")


@page(TENANT_ADMINS)
async def endpoint_list(request: Request, ctx: Page) -> Response:
    params = query(request, ("starting_after", "ending_before"))
    found = await ctx.api.get("/webhook_endpoints", limit=PAGE_SIZE, **params)
    return ctx.render(
        "webhooks/list.html", title="Webhooks", endpoints=found["data"], pages=pager(request, found)
    )


@page(TENANT_ADMINS)
async def new_form(request: Request, ctx: Page) -> Response:
    values = {"url": "", "enabled_events": "*", "description": ""}
    return ctx.render("webhooks/form.html", title="Add a webhook endpoint", values=values)


@page(TENANT_ADMINS)
async def create(request: Request, ctx: Page) -> Response:
    values = _form_values(ctx)
    answer = await ctx.api.call(
        "POST", "/webhook_endpoints", json=_body(values), idempotency_key=ctx.form_key()
    )
    if not answer.ok:
        if answer.status != 400:
            raise ApiFailure(answer)
        return ctx.render(
            "webhooks/form.html", 400, title="Add a webhook endpoint", values=values,
            error=_refusal(answer),
        )  # fmt: skip
    return await _endpoint_page(
        request, ctx, answer.body, secret=answer.body.get("secret"), created=True
    )


@page(TENANT_ADMINS)
async def detail(request: Request, ctx: Page) -> Response:
    endpoint = await ctx.api.get(f"/webhook_endpoints/{request.path_params['endpoint_id']}")
    return await _endpoint_page(request, ctx, endpoint)


async def _endpoint_page(
    request: Request,
    ctx: Page,
    endpoint: dict[str, Any],
    *,
    secret: str | None = None,
    created: bool = False,
) -> Response:
    params = query(request, ("starting_after", "ending_before")) if request.method == "GET" else {}
    attempts = await ctx.api.get(
        f"/webhook_endpoints/{endpoint['id']}/deliveries", limit=PAGE_SIZE, **params
    )
    shown = {k: v for k, v in endpoint.items() if k != "secret"}
    return ctx.render(
        "webhooks/detail.html",
        title=f"Webhook endpoint {endpoint['id']}",
        endpoint=shown,
        secret=secret,
        created=created,
        attempts=attempts["data"],
        pages=pager(request, attempts) if request.method == "GET" else {},
        overlaps=OVERLAPS,
    )


@page(TENANT_ADMINS)
async def edit_form(request: Request, ctx: Page) -> Response:
    endpoint = await ctx.api.get(f"/webhook_endpoints/{request.path_params['endpoint_id']}")
    values = {
        "url": endpoint["url"],
        "enabled_events": ", ".join(endpoint["enabled_events"]),
        "description": endpoint.get("description") or "",
    }
    return ctx.render(
        "webhooks/form.html", title=f"Edit {endpoint['id']}", values=values, endpoint=endpoint
    )


@page(TENANT_ADMINS)
async def edit(request: Request, ctx: Page) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    values = _form_values(ctx)
    body = _body(values)
    if body["description"] is None:
        body["description"] = ""
    answer = await ctx.api.call("POST", f"/webhook_endpoints/{endpoint_id}", json=body)
    if not answer.ok:
        if answer.status != 400:
            raise ApiFailure(answer)
        endpoint = await ctx.api.get(f"/webhook_endpoints/{endpoint_id}")
        return ctx.render(
            "webhooks/form.html", 400, title=f"Edit {endpoint_id}", values=values,
            endpoint=endpoint, error=_refusal(answer),
        )  # fmt: skip
    return ctx.redirect(f"/webhooks/{endpoint_id}", "Endpoint saved.")


def _switch(disabled: bool) -> Any:
    @page(TENANT_ADMINS)
    async def switch(request: Request, ctx: Page) -> Response:
        endpoint_id = request.path_params["endpoint_id"]
        await ctx.api.post(f"/webhook_endpoints/{endpoint_id}", {"disabled": disabled})
        said = "disabled: nothing is sent to it" if disabled else "enabled"
        return ctx.redirect(f"/webhooks/{endpoint_id}", f"Endpoint {said}.")

    switch.__name__ = "disable" if disabled else "enable"
    return switch


@page(TENANT_ADMINS)
async def roll(request: Request, ctx: Page) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    overlap = ctx.field("expires_in", "0")
    seconds = int(overlap) if overlap in {value for value, _ in OVERLAPS} else 0
    rolled = await ctx.api.post(
        f"/webhook_endpoints/{endpoint_id}/roll_secret", {"expires_in": seconds}
    )
    return await _endpoint_page(request, ctx, rolled, secret=rolled.get("secret"))


@page(TENANT_ADMINS)
async def delete(request: Request, ctx: Page) -> Response:
    endpoint_id = request.path_params["endpoint_id"]
    await ctx.api.delete(f"/webhook_endpoints/{endpoint_id}")
    return ctx.redirect("/webhooks", f"Endpoint {endpoint_id} deleted.")


@page(TENANT_ADMINS)
async def resend(request: Request, ctx: Page) -> Response:
    """One event again to this endpoint only (not to `micro listen`)."""
    endpoint_id = request.path_params["endpoint_id"]
    event_id = quote(ctx.field("event_id"), safe="")
    # The endpoint first: another tenant's id is the 404 page, whatever the event.
    await ctx.api.get(f"/webhook_endpoints/{endpoint_id}")
    answer = await ctx.api.call(
        "POST",
        f"/events/{event_id}/resend",
        json={"webhook_endpoint": endpoint_id, "live": False},
        idempotency_key=ctx.form_key(),
    )
    if not answer.ok:
        return ctx.redirect(f"/webhooks/{endpoint_id}", f"Not sent again: {answer.message}")
    said = f"Event {event_id} sent again to this endpoint."
    return ctx.redirect(f"/webhooks/{endpoint_id}", said)


@page(TENANT_ADMINS)
async def to_endpoint(request: Request, ctx: Page) -> Response:
    """A GET of a form's action (a reload, the mode switch's way back): the endpoint's page,
    its secret hidden."""
    return ctx.redirect(f"/webhooks/{quote(request.path_params['endpoint_id'], safe='')}")


_ID = "/webhooks/{endpoint_id}"
routes = [
    Route("/webhooks", endpoint_list, methods=["GET"]),
    Route("/webhooks/new", new_form, methods=["GET"]),
    Route("/webhooks/new", create, methods=["POST"]),
    Route(_ID, detail, methods=["GET"]),
    Route(_ID + "/edit", edit_form, methods=["GET"]),
    Route(_ID + "/edit", edit, methods=["POST"]),
    Route(_ID + "/disable", _switch(True), methods=["POST"]),
    Route(_ID + "/enable", _switch(False), methods=["POST"]),
    Route(_ID + "/roll", roll, methods=["POST"]),
    Route(_ID + "/delete", delete, methods=["POST"]),
    Route(_ID + "/resend", resend, methods=["POST"]),
    *(
        Route(_ID + f"/{action}", to_endpoint, methods=["GET"])
        for action in ("disable", "enable", "roll", "delete", "resend")
    ),
]
