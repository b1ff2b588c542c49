from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.routes.expansion import listed, query_expand
from services.payments.schemas import (
    ExpandQuery,
    Refund,
    RefundFilters,
    RefundRequest,
    UpdateRefundRequest,
)
from services.payments.service import expand, refunds, steps
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import ListParams, list_params
from shared.responses import json_response


class RefundListParams(ListParams, RefundFilters, ExpandQuery):
    """The list's query: paging, filters and `expand[]` (the route reads them separately)."""


@documented(
    request=RefundRequest,
    response=Refund,
    example={"payment_intent": "pi_1NfB3kQ8Zc2rXh4T", "amount": 1000},
)
async def create_refund(request: Request) -> JSONResponse:
    """Refund a succeeded PaymentIntent, in full or in part.

    `amount` defaults to what is left to refund; several partial refunds may follow each
    other up to the amount received (a pending refund's amount counts). A payment through
    Paystack or Flutterwave is refunded through that provider: the refund is `pending` until
    the provider confirms it, then `succeeded`, or `failed` with its `failure_reason` (its
    amount free to refund again).
    """
    body = await parse(request, RefundRequest)
    fields = expand.check(body.expand, expand.REFUND)
    refund = await steps.create_refund(payments_state(request), identity_of(request), body)
    return await _shown(request, refund, fields)


@documented(response=Refund, listing=True, query=RefundListParams)
async def list_refunds(request: Request) -> JSONResponse:
    """List refunds, newest first (filter: payment_intent).

    Filter: `payment_intent`.
    """
    params = list_params(request)
    filters = validate(RefundFilters, dict(request.query_params))
    fields = expand.check(query_expand(request), expand.REFUND, listing=True)
    pool, identity = payments_state(request).pool, identity_of(request)
    found, has_more = await refunds.list_refunds(
        pool, identity, params=params, intent_id=filters.payment_intent
    )
    return listed(request, await expand.refunds(pool, identity, found, fields), has_more=has_more)


@documented(response=Refund, query=ExpandQuery)
async def get_refund(request: Request) -> JSONResponse:
    """Retrieve a refund.

    With its status (`pending`, `succeeded`, `failed`).
    """
    fields = expand.check(query_expand(request), expand.REFUND)
    refund = await refunds.get_refund(
        payments_state(request).pool, identity_of(request), request.path_params["refund_id"]
    )
    return await _shown(request, refund, fields)


@documented(
    request=UpdateRefundRequest,
    response=Refund,
    body_required=False,
    example={"metadata": {"ticket": "4711"}},
)
async def update_refund(request: Request) -> JSONResponse:
    """Update a refund's metadata.

    Only `metadata` changes (its money never does): the keys sent are set, a key sent empty
    is removed.
    """
    body = await parse(request, UpdateRefundRequest)
    fields = expand.check(body.expand, expand.REFUND)
    refund = await steps.update_refund(
        payments_state(request), identity_of(request), request.path_params["refund_id"], body
    )
    return await _shown(request, refund, fields)


async def _shown(request: Request, refund: Refund, fields: list[str]) -> JSONResponse:
    if not fields:
        return json_response(refund.model_dump())
    body = await expand.refund(payments_state(request).pool, identity_of(request), refund, fields)
    return json_response(body)


routes = [
    Route("/payments/refunds", create_refund, methods=["POST"]),
    Route("/payments/refunds", list_refunds, methods=["GET"]),
    Route("/payments/refunds/{refund_id}", get_refund, methods=["GET"]),
    Route("/payments/refunds/{refund_id}", update_refund, methods=["POST"]),
]
