from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.schemas import Payout, PayoutFilters, PayoutRequest
from services.payments.service import payouts, steps
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import ListParams, list_params, list_response
from shared.responses import json_response


class PayoutListParams(ListParams, PayoutFilters):
    """The list's query: paging and filters (the route reads them separately)."""


@documented(
    request=PayoutRequest,
    response=Payout,
    errors={402: "The balance does not cover the payout (`insufficient_funds`)"},
)
async def create_payout(request: Request) -> JSONResponse:
    """Send money from the tenant's balance (or a wallet) to a bank account.

    The amount leaves the tenant's balance (or `wallet_id`'s) at once and is paid to the
    destination bank account by the provider; `status` goes from `pending` to `paid` or
    `failed` (and the money comes back).
    """
    body = await parse(request, PayoutRequest)
    payout = await steps.create_payout(payments_state(request), identity_of(request), body)
    return json_response(payout.model_dump())


@documented(response=Payout, listing=True, query=PayoutListParams)
async def list_payouts(request: Request) -> JSONResponse:
    """List payouts, newest first (filters: wallet_id, status).

    Filters: `wallet_id`, `status`.
    """
    params = list_params(request)
    filters = validate(PayoutFilters, dict(request.query_params))
    found, has_more = await payouts.list_payouts(
        payments_state(request).pool,
        identity_of(request),
        params=params,
        wallet_id=filters.wallet_id,
        status=filters.status,
    )
    return list_response(request, found, has_more=has_more)


@documented(response=Payout)
async def get_payout(request: Request) -> JSONResponse:
    """Retrieve a payout.

    Follow a pending payout until `paid` or `failed`.
    """
    payout = await payouts.get_payout(
        payments_state(request).pool, identity_of(request), request.path_params["payout_id"]
    )
    return json_response(payout.model_dump())


routes = [
    Route("/payments/payouts", create_payout, methods=["POST"]),
    Route("/payments/payouts", list_payouts, methods=["GET"]),
    Route("/payments/payouts/{payout_id}", get_payout, methods=["GET"]),
]
