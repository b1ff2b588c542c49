"""Inbound provider webhooks (public through the gateway's /webhooks door; the provider's
signature is the credential), and the page a customer returns to from a hosted checkout."""

from __future__ import annotations

import html
from typing import Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from services.payments.service import steps
from services.payments.state import payments_state
from shared.body import read_body
from shared.openapi import documented
from shared.responses import json_response


class WebhookReceived(BaseModel):
    received: Literal[True] = True
    outcome: str = Field(
        examples=["applied"], description="What the notification did (applied, duplicate...)."
    )


@documented(
    response=WebhookReceived,
    operation_id="receive_provider_webhook",
    errors={
        400: "The body is not the provider's format",
        401: "The provider's signature is missing or does not match (`invalid_signature`)",
    },
)
async def receive(request: Request) -> JSONResponse:
    """A provider tells us about a payment or a transfer.

    Public: the provider's own signature on the body is verified, and a notification already
    seen is answered without effect. `/webhooks/{provider}/{tenant_id}` is the URL for a
    tenant's own provider account.
    """
    payments = payments_state(request)
    body = await read_body(request, payments.settings.max_body_bytes)
    outcome = await steps.receive_webhook(
        payments, provider=request.path_params["provider"],
        tenant_id=request.path_params.get("tenant_id"), body=body, headers=request.headers,
    )  # fmt: skip
    return json_response({"received": True, "outcome": outcome})


@documented(
    produces="text/html",
    summary="Where a hosted provider sends the customer back after paying.",
    description="Finishes the PaymentIntent with the provider's answer and shows its status.",
)
async def customer_return(request: Request) -> HTMLResponse:
    provider, intent_id = request.path_params["provider"], request.path_params["intent_id"]
    intent = await steps.customer_return(payments_state(request), provider, intent_id)
    status = html.escape(intent.status)
    return HTMLResponse(f"<!doctype html><p>Thank you. The payment is now <b>{status}</b>.</p>")


routes = [
    Route("/webhooks/{provider}", receive, methods=["POST"]),
    Route("/webhooks/{provider}/return/{intent_id}", customer_return, methods=["GET"]),
    Route("/webhooks/{provider}/{tenant_id}", receive, methods=["POST"]),
]
