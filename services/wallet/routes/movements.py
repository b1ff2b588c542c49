from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.wallet.schemas import (
    DepositRequest,
    TransferRequest,
    WalletOperation,
    WithdrawRequest,
)
from services.wallet.service import deposits, operations, transfers, withdrawals
from services.wallet.state import wallet_state
from shared.body import parse
from shared.identity import identity_of
from shared.openapi import documented
from shared.responses import json_response


@documented(
    request=DepositRequest,
    response=WalletOperation,
    example={"wallet_id": "wal_1NfB3kQ8Zc2rXh4T", "amount": 5000, "payment_method": "pm_card_visa"},
    errors={402: "The card was declined (`card_declined`)"},
)
async def deposit(request: Request) -> JSONResponse:
    """Put money in a wallet with a card payment.

    A PaymentIntent is made for the amount; when it succeeds the wallet's balance grows.
    Without `payment_method` the operation waits for the customer on the provider's page
    (`next_action`).
    """
    body = await parse(request, DepositRequest)
    found = await deposits.deposit(wallet_state(request), identity_of(request), body)
    return json_response(found.model_dump())


@documented(
    request=TransferRequest,
    response=WalletOperation,
    example={
        "from_wallet_id": "wal_1NfB3kQ8Zc2rXh4T",
        "to_wallet_id": "wal_2PgC4lR9Ad3sYi5U",
        "amount": 2500,
        "description": "Rent share",
    },
    errors={402: "The sending wallet's balance is too low (`insufficient_funds`)"},
)
async def transfer(request: Request) -> JSONResponse:
    """Move money between two wallets of the tenant, atomically.

    One ledger transaction between the two wallets' accounts: both balances change or
    neither does. Both wallets must share a currency; a frozen sender is refused.
    """
    body = await parse(request, TransferRequest)
    found = await transfers.transfer(wallet_state(request), identity_of(request), body)
    return json_response(found.model_dump())


@documented(
    request=WithdrawRequest,
    response=WalletOperation,
    example={
        "wallet_id": "wal_1NfB3kQ8Zc2rXh4T",
        "amount": 2000,
        "destination": {"account_number": "0123456789", "bank_code": "058"},
    },
    errors={402: "The wallet's balance is too low (`insufficient_funds`)"},
)
async def withdraw(request: Request) -> JSONResponse:
    """Send money from a wallet to a bank account.

    The amount is held at once, a payout is sent, and the hold is posted when the payout is
    paid (or released if it fails): follow the operation.
    """
    body = await parse(request, WithdrawRequest)
    found = await withdrawals.withdraw(wallet_state(request), identity_of(request), body)
    return json_response(found.model_dump())


@documented(response=WalletOperation)
async def get_operation(request: Request) -> JSONResponse:
    """Retrieve a deposit, transfer or withdrawal (to follow a pending one).

    `status`: `pending`, `succeeded` or `failed`, with the ledger and payments references.
    """
    found = await operations.get_operation(
        wallet_state(request).pool, identity_of(request), request.path_params["operation_id"]
    )
    return json_response(found.model_dump())


routes = [
    Route("/wallet/deposit", deposit, methods=["POST"]),
    Route("/wallet/transfer", transfer, methods=["POST"]),
    Route("/wallet/withdraw", withdraw, methods=["POST"]),
    Route("/wallet/operations/{operation_id}", get_operation, methods=["GET"]),
]
