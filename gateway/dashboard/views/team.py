"""The team (tenant admins): the tenant's users and their roles, add one, deactivate one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.api import Answer
from gateway.dashboard.web import TENANT_ADMINS, Page, page, query

ROLES = ("USER", "TENANT_ADMIN")


async def _page(ctx: Page, request: Request, status: int = 200, **context: Any) -> Response:
    params = query(request, ("starting_after", "ending_before"))
    users = await ctx.api.get("/auth/users", limit=50, **params)
    return ctx.render(
        "team/list.html", status, title="Team", users=users["data"],
        has_more=users["has_more"], roles=ROLES, **context,
    )  # fmt: skip


@page(TENANT_ADMINS)
async def team(request: Request, ctx: Page) -> Response:
    return await _page(ctx, request)


def refusal(answer: Answer) -> str:
    """What the API said, in a sentence: a validation error names its field."""
    error = answer.error
    param = error.get("param")
    if answer.status == 400 and param:
        return f"Check the {param}: {answer.message}"
    return answer.message


@page(TENANT_ADMINS)
async def add_member(request: Request, ctx: Page) -> Response:
    email = ctx.field("email")
    role = ctx.field("role")
    password = ctx.form.get("password", "")
    if not email or not password:
        return await _page(ctx, request, 400, error="Enter the new member's email and password.",
                           email=email, role=role)  # fmt: skip
    if role not in ROLES:
        return await _page(ctx, request, 400, error="Choose a role: USER or TENANT_ADMIN.",
                           email=email)  # fmt: skip
    answer = await ctx.api.call(
        "POST", "/auth/users", json={"email": email, "password": password, "role": role},
        idempotency_key=ctx.form_key(),
    )  # fmt: skip
    if not answer.ok:
        return await _page(ctx, request, answer.status, error=refusal(answer), email=email,
                           role=role)  # fmt: skip
    return ctx.redirect("/team", f"Added {answer.body['email']} as {answer.body['role']}.")


@page(TENANT_ADMINS)
async def deactivate(request: Request, ctx: Page) -> Response:
    user_id = request.path_params["user_id"]
    user = await ctx.api.delete(f"/auth/users/{user_id}")
    return ctx.redirect("/team", f"Deactivated {user['email']}: its sessions have ended.")


routes = [
    Route("/team", team, methods=["GET"]),
    Route("/team", add_member, methods=["POST"]),
    Route("/team/{user_id}/deactivate", deactivate, methods=["POST"]),
]
