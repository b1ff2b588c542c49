"""Wallet HTTP routes: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.wallet import service
from services.wallet.schemas import Wallet
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state


async def list_wallets(request: Request) -> JSONResponse:
    """List the caller's wallets, newest first."""
    params = list_params(request)
    async with transaction(app_state(request).db) as conn:
        wallets, has_more = await service.list_wallets(conn, identity_of(request), params=params)
    return list_response(request, wallets, has_more=has_more)


@documented(response=Wallet, tags=["wallet"])
async def get_wallet(request: Request) -> JSONResponse:
    """Retrieve a wallet."""
    async with transaction(app_state(request).db) as conn:
        wallet = await service.get_wallet(
            conn, identity_of(request), request.path_params["wallet_id"]
        )
    return json_response(wallet.model_dump())


routes = [
    Route("/wallet", list_wallets, methods=["GET"]),
    Route("/wallet/{wallet_id}", get_wallet, methods=["GET"]),
]
