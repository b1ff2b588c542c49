from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.schemas import Refund, RefundFilters, RefundRequest
from services.payments.service import refunds, steps
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import ListParams, list_params, list_response
from shared.responses import json_response


class RefundListParams(ListParams, RefundFilters):
    """The list's query: paging and filters (the route reads them separately)."""


@documented(
    request=RefundRequest,
    response=Refund,
    example={"payment_intent": "pi_1NfB3kQ8Zc2rXh4T", "amount": 1000},
)
async def create_refund(request: Request) -> JSONResponse:
    """Refund a succeeded PaymentIntent, in full or in part.

    `amount` defaults to what is left to refund; several partial refunds may follow each
    other up to the amount received.
    """
    body = await parse(request, RefundRequest)
    refund = await steps.create_refund(payments_state(request), identity_of(request), body)
    return json_response(refund.model_dump())


@documented(response=Refund, listing=True, query=RefundListParams)
async def list_refunds(request: Request) -> JSONResponse:
    """List refunds, newest first (filter: payment_intent).

    Filter: `payment_intent`.
    """
    params = list_params(request)
    filters = validate(RefundFilters, dict(request.query_params))
    found, has_more = await refunds.list_refunds(
        payments_state(request).pool,
        identity_of(request),
        params=params,
        intent_id=filters.payment_intent,
    )
    return list_response(request, found, has_more=has_more)


@documented(response=Refund)
async def get_refund(request: Request) -> JSONResponse:
    """Retrieve a refund.

    With its status (`pending`, `succeeded`, `failed`).
    """
    refund = await refunds.get_refund(
        payments_state(request).pool, identity_of(request), request.path_params["refund_id"]
    )
    return json_response(refund.model_dump())


routes = [
    Route("/payments/refunds", create_refund, methods=["POST"]),
    Route("/payments/refunds", list_refunds, methods=["GET"]),
    Route("/payments/refunds/{refund_id}", get_refund, methods=["GET"]),
]
