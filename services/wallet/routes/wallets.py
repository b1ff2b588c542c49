from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.wallet.schemas import (
    CreateWalletRequest,
    TransactionFilters,
    Wallet,
    WalletBalance,
    WalletFilters,
    WalletTransaction,
)
from services.wallet.service import operations, wallets
from services.wallet.state import wallet_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import list_response
from shared.responses import json_response

# What can be done next with the wallet an operation answers (OpenAPI links).
WALLET_LINKS = {
    "deposit": Link(
        "deposit", "Put money in this wallet", body={"wallet_id": "$response.body#/id"}
    ),
    "transfer": Link(
        "transfer", "Send money from this wallet", body={"from_wallet_id": "$response.body#/id"}
    ),
    "withdraw": Link(
        "withdraw",
        "Withdraw from this wallet to a bank account",
        body={"wallet_id": "$response.body#/id"},
    ),
}


@documented(
    request=CreateWalletRequest,
    response=Wallet,
    status=201,
    example={"owner": "customer_42", "currency": "usd"},
    links=WALLET_LINKS,
)
async def create_wallet(request: Request) -> JSONResponse:
    """Open a wallet (and its ledger account) for an owner.

    `owner` is your own reference for who the wallet belongs to. Left out, a plain USER's
    wallet is its own, and an API key's or an admin's is the tenant's own wallet (owner: the
    tenant's id). The wallet's money lives in a no-overdraft ledger account.
    """
    body = await parse(request, CreateWalletRequest)
    wallet = await wallets.create_wallet(wallet_state(request), identity_of(request), body)
    return json_response(wallet.model_dump(), status=201)


@documented(response=Wallet, listing=True, query=WalletFilters)
async def list_wallets(request: Request) -> JSONResponse:
    """List wallets, newest first (filters: owner, currency, status).

    Filters: `owner`, `currency`, `status`.
    """
    filters = validate(WalletFilters, dict(request.query_params))
    found, has_more = await wallets.list_wallets(
        wallet_state(request).pool, identity_of(request), filters=filters
    )
    return list_response(request, found, has_more=has_more)


@documented(
    response=Wallet,
    links=WALLET_LINKS,
)
async def get_wallet(request: Request) -> JSONResponse:
    """Retrieve a wallet.

    With its status (`active` or `frozen`).
    """
    wallet = await wallets.get_wallet(
        wallet_state(request).pool, identity_of(request), _id(request)
    )
    return json_response(wallet.model_dump())


async def _set_frozen(request: Request, *, frozen: bool) -> JSONResponse:
    wallet = await wallets.set_frozen(
        wallet_state(request).pool, identity_of(request), _id(request), frozen=frozen
    )
    return json_response(wallet.model_dump())


@documented(response=Wallet)
async def freeze(request: Request) -> JSONResponse:
    """Freeze a wallet: it still receives money but sends none.

    Deposits still arrive; transfers out and withdrawals are refused until unfrozen.
    """
    return await _set_frozen(request, frozen=True)


@documented(response=Wallet)
async def unfreeze(request: Request) -> JSONResponse:
    """Let a frozen wallet send money again.

    Transfers out and withdrawals work again.
    """
    return await _set_frozen(request, frozen=False)


@documented(response=WalletBalance, operation_id="wallet_balance")
async def balance(request: Request) -> JSONResponse:
    """The wallet's balance, read from its ledger account.

    `available` excludes amounts held by pending withdrawals.
    """
    found = await wallets.balance(wallet_state(request), identity_of(request), _id(request))
    return json_response(found.model_dump())


@documented(response=WalletTransaction, listing=True, query=TransactionFilters)
async def history(request: Request) -> JSONResponse:
    """The wallet's money movements, newest first (filters: type, status).

    Deposits, transfers and withdrawals that touched the wallet. Filters: `type`, `status`.
    """
    filters = validate(TransactionFilters, dict(request.query_params))
    found, has_more = await operations.history(
        wallet_state(request).pool, identity_of(request), _id(request), filters=filters
    )
    return list_response(request, found, has_more=has_more)


def _id(request: Request) -> str:
    return str(request.path_params["wallet_id"])


routes = [
    Route("/wallet", create_wallet, methods=["POST"]),
    Route("/wallet", list_wallets, methods=["GET"]),
    Route("/wallet/{wallet_id}", get_wallet, methods=["GET"]),
    Route("/wallet/{wallet_id}/freeze", freeze, methods=["POST"]),
    Route("/wallet/{wallet_id}/unfreeze", unfreeze, methods=["POST"]),
    Route("/wallet/{wallet_id}/balance", balance, methods=["GET"]),
    Route("/wallet/{wallet_id}/transactions", history, methods=["GET"]),
]
