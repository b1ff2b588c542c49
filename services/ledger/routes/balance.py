from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger.schemas.balance import TenantBalance, TrialBalance
from services.ledger.service import balance as balance_service
from services.ledger.state import ledger_state
from shared.identity import identity_of
from shared.openapi import documented
from shared.responses import json_response


@documented(
    response=TenantBalance,
    operation_id="ledger_balance",
    response_example={
        "object": "balance",
        "available": [{"amount": 5000, "currency": "usd", "source_types": {"card": 5000}}],
        "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
        "livemode": False,
    },
)
async def balance(request: Request) -> JSONResponse:
    """The tenant's balance per currency: available and pending, as Stripe's balance object.

    Read from the ledger: per currency, what payments owes the tenant (its account
    `payments.balance.<currency>`). `available` is posted and not held for a movement on its
    way out (what a payout can take now); `pending` is held on its way in. Wallets' money
    is their owners' and is not in it.
    """
    found = await balance_service.tenant_balance(ledger_state(request), identity_of(request))
    return json_response(found.model_dump())


@documented(
    response=TrialBalance,
    operation_id="ledger_trial_balance",
    response_example={
        "object": "ledger.trial_balance",
        "currencies": [
            {
                "currency": "usd",
                "accounts": 3,
                "debits": 12500,
                "credits": 12500,
                "difference": 0,
                "debit_balances": 7500,
                "credit_balances": 7500,
                "balanced": True,
            }
        ],
        "balanced": True,
        "livemode": False,
    },
)
async def trial_balance(request: Request) -> JSONResponse:
    """The trial balance: per currency, the posted debits and credits of all your accounts.

    Summed over every ledger account of the tenant in the credential's mode (wallets' and
    payments' accounts included). Every transaction balances, so per currency `debits`
    equals `credits` (`difference` is 0, `balanced` is true), and the accounts' net debit
    balances equal their net credit balances. Pending holds are not in it until posted.
    """
    found = await balance_service.trial_balance(ledger_state(request), identity_of(request))
    return json_response(found.model_dump())


routes = [
    Route("/ledger/balance", balance, methods=["GET"]),
    Route("/ledger/trial_balance", trial_balance, methods=["GET"]),
]
