"""Wallets: the list (with a form to open one), a wallet's page with its balance and history,
freeze and unfreeze.

Tenant admins see every wallet of the tenant; a USER sees its own and nothing else. Neither
rule is the dashboard's: `GET /wallet` and `GET /wallet/{id}` already answer a USER with its
own wallets only (another user's wallet is 404 to it, so its page is the not-found page), and
freezing is refused to anyone but a tenant admin (`@page(TENANT_ADMINS)` hides the buttons'
targets too).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.web import TENANT_ADMINS, Page, not_found, page, query
from shared.access import Role

PAGE_SIZE = 20
# Wallet ids as the API makes them (`wal_...`); anything else cannot be one, and is never
# put into an API path.
_ID = re.compile(r"^[A-Za-z0-9_]{1,100}$")
WALLET_PEOPLE = frozenset({Role.TENANT_ADMIN, Role.USER})
STATUSES = ("active", "frozen")
HISTORY_TYPES = ("deposit", "transfer_in", "transfer_out", "withdrawal", "reversal", "refund")
CURSORS = ("starting_after", "ending_before")


async def _list_page(
    request: Request, ctx: Page, *, status: int = 200, error: dict[str, Any] | None = None
) -> Response:
    filters = query(request, ("status", "currency"))
    cursor = query(request, CURSORS)
    found = await ctx.api.get("/wallet", limit=PAGE_SIZE, **filters, **cursor)
    return ctx.render(
        "wallets/list.html",
        status,
        title="Wallets",
        wallets=found["data"],
        pager=pager(found, cursor),
        filters=filters,
        statuses=STATUSES,
        admin=ctx.session.role is Role.TENANT_ADMIN,
        error=error,
        entered={"owner": ctx.field("owner"), "currency": ctx.field("currency")},
    )


@page(WALLET_PEOPLE)
async def wallets(request: Request, ctx: Page) -> Response:
    return await _list_page(request, ctx)


@page(WALLET_PEOPLE)
async def create(request: Request, ctx: Page) -> Response:
    """Open a wallet: `owner` (only tenant admins get the field; a USER's wallet is its own)
    and `currency`, as typed. The API judges them (a USER naming another owner is refused
    there); a refusal is said on the list page and nothing is made."""
    body: dict[str, str] = {}
    owner = ctx.field("owner")
    if owner:
        body["owner"] = owner
    currency = ctx.field("currency")
    if currency:
        body["currency"] = currency
    answer = await ctx.api.call("POST", "/wallet", json=body, idempotency_key=ctx.form_key())
    if not answer.ok:
        if answer.status == 404:
            return not_found(ctx)
        error = {"message": answer.message, "param": answer.error.get("param")}
        return await _list_page(request, ctx, status=answer.status, error=error)
    wallet = answer.body
    return ctx.redirect(
        f"/wallets/{wallet['id']}", f"Wallet {wallet['id']} opened ({wallet['currency'].upper()})."
    )


@page(WALLET_PEOPLE)
async def detail(request: Request, ctx: Page) -> Response:
    wallet_id = request.path_params["wallet_id"]
    if not _ID.match(wallet_id):
        return not_found(ctx)
    wallet = await ctx.api.get(f"/wallet/{wallet_id}")
    balance = await ctx.api.get(f"/wallet/{wallet_id}/balance")
    filters = query(request, ("type", "status"))
    cursor = query(request, CURSORS)
    history = await ctx.api.get(
        f"/wallet/{wallet_id}/transactions", limit=PAGE_SIZE, **filters, **cursor
    )
    return ctx.render(
        "wallets/detail.html",
        title=f"Wallet {wallet_id}",
        wallet=wallet,
        balance=balance,
        history=history["data"],
        pager=pager(history, cursor),
        filters=filters,
        types=HISTORY_TYPES,
        admin=ctx.session.role is Role.TENANT_ADMIN,
    )


async def _set_frozen(request: Request, ctx: Page, *, frozen: bool) -> Response:
    wallet_id = request.path_params["wallet_id"]
    if not _ID.match(wallet_id):
        return not_found(ctx)
    action = "freeze" if frozen else "unfreeze"
    wallet = await ctx.api.post(f"/wallet/{wallet_id}/{action}")
    said = "frozen: it receives money but sends none" if frozen else "active again"
    return ctx.redirect(f"/wallets/{wallet['id']}", f"Wallet {wallet['id']} is {said}.")


@page(TENANT_ADMINS)
async def freeze(request: Request, ctx: Page) -> Response:
    return await _set_frozen(request, ctx, frozen=True)


@page(TENANT_ADMINS)
async def unfreeze(request: Request, ctx: Page) -> Response:
    return await _set_frozen(request, ctx, frozen=False)


def pager(found: dict[str, Any], cursor: dict[str, str] | Any) -> dict[str, str | None]:
    """The ids to page on from a list answer: `older` (next page) and `newer` (previous)."""
    data = found.get("data") or []
    has_more = bool(found.get("has_more"))
    backwards = "ending_before" in cursor
    older = data[-1]["id"] if data and (has_more or backwards) else None
    newer = data[0]["id"] if data and cursor and (has_more or not backwards) else None
    return {"older": older, "newer": newer}


routes = [
    Route("/wallets", wallets, methods=["GET"]),
    # The form posts beside the list, not to it: the list's filter form is a GET to /wallets.
    Route("/wallets/new", wallets, methods=["GET"]),
    Route("/wallets/new", create, methods=["POST"]),
    Route("/wallets/{wallet_id}", detail, methods=["GET"]),
    Route("/wallets/{wallet_id}/freeze", freeze, methods=["POST"]),
    Route("/wallets/{wallet_id}/unfreeze", unfreeze, methods=["POST"]),
]
