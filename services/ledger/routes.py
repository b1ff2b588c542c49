"""Ledger HTTP routes: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger import service
from services.ledger.schemas import Account
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_body, list_params
from shared.responses import json_response
from shared.state import app_state


async def list_accounts(request: Request) -> JSONResponse:
    """List the caller's ledger accounts, newest first."""
    params = list_params(request)
    async with transaction(app_state(request).db) as conn:
        accounts, has_more = await service.list_accounts(conn, identity_of(request), params=params)
    return json_response(
        list_body([a.model_dump() for a in accounts], has_more=has_more, url=request.url.path)
    )


@documented(response=Account, tags=["ledger"])
async def get_account(request: Request) -> JSONResponse:
    """Retrieve a ledger account with its balance."""
    async with transaction(app_state(request).db) as conn:
        account = await service.get_account(
            conn, identity_of(request), request.path_params["account_id"]
        )
    return json_response(account.model_dump())


routes = [
    Route("/ledger/accounts", list_accounts, methods=["GET"]),
    Route("/ledger/accounts/{account_id}", get_account, methods=["GET"]),
]
