"""Payments HTTP routes: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments import service
from services.payments.schemas import PaymentIntent
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_body, list_params
from shared.responses import json_response
from shared.state import app_state


async def list_payment_intents(request: Request) -> JSONResponse:
    """List the caller's payment intents, newest first."""
    params = list_params(request)
    async with transaction(app_state(request).db) as conn:
        intents, has_more = await service.list_payment_intents(
            conn, identity_of(request), params=params
        )
    return json_response(
        list_body([i.model_dump() for i in intents], has_more=has_more, url=request.url.path)
    )


@documented(response=PaymentIntent, tags=["payments"])
async def get_payment_intent(request: Request) -> JSONResponse:
    """Retrieve a payment intent."""
    async with transaction(app_state(request).db) as conn:
        intent = await service.get_payment_intent(
            conn, identity_of(request), request.path_params["intent_id"]
        )
    return json_response(intent.model_dump())


routes = [
    Route("/payments/payment_intents", list_payment_intents, methods=["GET"]),
    Route("/payments/payment_intents/{intent_id}", get_payment_intent, methods=["GET"]),
]
