"""The ledger, for tenant admins: accounts with balances, an account's entries, transactions,
and the trial balance (per currency, the posted debits and credits of every account, which
must be equal), every figure as the ledger API gives it."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.views.wallets import CURSORS, pager
from gateway.dashboard.web import TENANT_ADMINS, Page, not_found, page, query

PAGE_SIZE = 25
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")
# Account ids or codes, and transaction ids, as the ledger makes or accepts them; anything
# else is never put into an API path.
_REF = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@page(TENANT_ADMINS)
async def accounts(request: Request, ctx: Page) -> Response:
    filters = query(request, ("currency", "type"))
    cursor = query(request, CURSORS)
    found = await ctx.api.get("/ledger/accounts", limit=PAGE_SIZE, **filters, **cursor)
    trial = await ctx.api.get("/ledger/trial_balance")
    return ctx.render(
        "ledger/accounts.html",
        title="Ledger",
        accounts=found["data"],
        pager=pager(found, cursor),
        filters=filters,
        types=ACCOUNT_TYPES,
        trial=trial,
    )


@page(TENANT_ADMINS)
async def account(request: Request, ctx: Page) -> Response:
    ref = request.path_params["account_id"]
    if not _REF.match(ref) or ref in (".", ".."):
        return not_found(ctx)
    found = await ctx.api.get(f"/ledger/accounts/{ref}")
    cursor = query(request, CURSORS)
    entries = await ctx.api.get(
        f"/ledger/accounts/{found['id']}/entries", limit=PAGE_SIZE, **cursor
    )
    return ctx.render(
        "ledger/account.html",
        title=f"Account {found['name']}",
        account=found,
        entries=entries["data"],
        pager=pager(entries, cursor),
    )


@page(TENANT_ADMINS)
async def transactions(request: Request, ctx: Page) -> Response:
    filters = query(request, ("account_id", "reference_id"))
    cursor = query(request, CURSORS)
    found = await ctx.api.get("/ledger/transactions", limit=PAGE_SIZE, **filters, **cursor)
    return ctx.render(
        "ledger/transactions.html",
        title="Ledger transactions",
        transactions=found["data"],
        pager=pager(found, cursor),
        filters=filters,
    )


@page(TENANT_ADMINS)
async def transaction(request: Request, ctx: Page) -> Response:
    ref = request.path_params["transaction_id"]
    if not _REF.match(ref) or ref in (".", ".."):
        return not_found(ctx)
    found = await ctx.api.get(f"/ledger/transactions/{ref}")
    return ctx.render(
        "ledger/transaction.html", title=f"Transaction {found['id']}", transaction=found
    )


@page(TENANT_ADMINS)
async def trial_balance(request: Request, ctx: Page) -> Response:
    trial = await ctx.api.get("/ledger/trial_balance")
    return ctx.render("ledger/trial_balance.html", title="Trial balance", trial=trial)


routes = [
    Route("/ledger", accounts, methods=["GET"]),
    Route("/ledger/accounts/{account_id}", account, methods=["GET"]),
    Route("/ledger/transactions", transactions, methods=["GET"]),
    Route("/ledger/transactions/{transaction_id}", transaction, methods=["GET"]),
    Route("/ledger/trial-balance", trial_balance, methods=["GET"]),
]
