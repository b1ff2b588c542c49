from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger.schemas.accounts import (
    Account,
    AccountCreateRequest,
    AccountFilters,
    AccountUpdateRequest,
    HistoricalBalance,
)
from services.ledger.schemas.transactions import Entry
from services.ledger.service import accounts
from services.ledger.state import ledger_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response


@documented(
    request=AccountCreateRequest,
    response=Account,
    status=201,
    example={"name": "Revenue", "type": "revenue", "currency": "usd", "code": "acc_revenue"},
    errors={409: "Another account has this code (`code_taken`)"},
)
async def create_account(request: Request) -> JSONResponse:
    """Create a ledger account.

    An account holds one currency. `type` decides the sign of a normal balance (assets and
    expenses debit-normal; liabilities, equity and revenue credit-normal). `code` is your
    own unique name for it: transactions may name accounts by id or by code. `no_overdraft:
    true` refuses entries that take the balance below zero.
    """
    body = await parse(request, AccountCreateRequest)
    account = await accounts.create_account(ledger_state(request), identity_of(request), body)
    return json_response(account.model_dump(), status=201)


@documented(response=Account, listing=True, query=AccountFilters)
async def list_accounts(request: Request) -> JSONResponse:
    """List ledger accounts, newest first (filters: currency, type).

    Filters: `currency`, `type`.
    """
    params = validate(AccountFilters, dict(request.query_params))
    found, has_more = await accounts.list_accounts(
        ledger_state(request), identity_of(request), params=params
    )
    return list_response(request, found, has_more=has_more)


@documented(response=Account)
async def get_account(request: Request) -> JSONResponse:
    """Retrieve a ledger account (by id or code) with its balance.

    `account_id` is an `acc_` id or the account's `code`.
    """
    account = await accounts.get_account(
        ledger_state(request), identity_of(request), request.path_params["account_id"]
    )
    return json_response(account.model_dump())


@documented(
    request=AccountUpdateRequest,
    response=Account,
    body_required=False,
    example={"name": "Revenue (web shop)", "metadata": {"team": "sales"}},
)
async def update_account(request: Request) -> JSONResponse:
    """Update an account's name and metadata (nothing else ever changes by hand).

    Only `name` and `metadata` change by hand; balances change only through transactions.
    """
    body = await parse(request, AccountUpdateRequest)
    account = await accounts.update_account(
        ledger_state(request), identity_of(request), request.path_params["account_id"], body
    )
    return json_response(account.model_dump())


@documented(response=Entry, listing=True)
async def list_entries(request: Request) -> JSONResponse:
    """An account's entries, newest first, each with the balance and version after it.

    Each entry shows the balance and version after it, so an account's history reads like a
    statement.
    """
    params = list_params(request)
    found, has_more = await accounts.list_entries(
        ledger_state(request),
        identity_of(request),
        request.path_params["account_id"],
        params=params,
    )
    return list_response(request, found, has_more=has_more)


class _At(BaseModel):
    at: datetime | None = None


@documented(response=HistoricalBalance, query=_At, operation_id="ledger_account_balance")
async def balance(request: Request) -> JSONResponse:
    """The account's posted balance at a moment (`at`: Unix seconds or ISO 8601; now).

    The posted balance as it was at `at` (default now), recomputed from the entries.
    """
    at = validate(_At, dict(request.query_params)).at or datetime.now(UTC)
    found = await accounts.balance_at(
        ledger_state(request), identity_of(request), request.path_params["account_id"], at
    )
    return json_response(found.model_dump())


routes = [
    Route("/ledger/accounts", create_account, methods=["POST"]),
    Route("/ledger/accounts", list_accounts, methods=["GET"]),
    Route("/ledger/accounts/{account_id}", get_account, methods=["GET"]),
    Route("/ledger/accounts/{account_id}", update_account, methods=["POST"]),
    Route("/ledger/accounts/{account_id}/entries", list_entries, methods=["GET"]),
    Route("/ledger/accounts/{account_id}/balance", balance, methods=["GET"]),
]
