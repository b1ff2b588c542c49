"""The simulator's authentication page: what a bank's 3-D Secure page is for real cards.
Public (through the gateway's /webhooks door); the intent's secret token is the key."""

from __future__ import annotations

import html
from typing import Literal

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from services.payments.service import steps
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.openapi import documented

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Micro test authentication</title></head>
<body>
  <h1>Authenticate a test payment</h1>
  <p>PaymentIntent <code>{intent}</code>. This page stands in for the card issuer's check.</p>
  <form method="post" action="{action}">
    <button name="outcome" value="approve">Complete authentication</button>
    <button name="outcome" value="fail">Fail authentication</button>
  </form>
</body></html>
"""


class _Token(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "fail"]


@documented(
    query=_Token,
    produces="text/html",
    operation_id="simulator_authenticate_page",
    summary="The simulator's 3-D Secure page, where a test customer approves or fails.",
    description="An HTML page with two buttons; `next_action.redirect_to_url` leads here.",
)
async def page(request: Request) -> HTMLResponse:
    intent_id = request.path_params["intent_id"]
    token = validate(_Token, dict(request.query_params)).token
    action = f"{request.url.path}?token={token}"
    return HTMLResponse(
        _PAGE.format(intent=html.escape(intent_id), action=html.escape(action, quote=True))
    )


@documented(
    request=_Answer,
    query=_Token,
    produces="text/html",
    operation_id="simulator_authenticate_answer",
    example={"outcome": "approve"},
    summary="The simulator's 3-D Secure answer: approve or fail the payment.",
    description="The page's form posts here; the PaymentIntent moves on accordingly.",
)
async def answer(request: Request) -> HTMLResponse:
    token = validate(_Token, dict(request.query_params)).token
    outcome = (await parse(request, _Answer)).outcome
    intent_id = request.path_params["intent_id"]
    intent = await steps.authenticate(
        payments_state(request), intent_id, token=token, approve=outcome == "approve"
    )
    status = html.escape(intent.status)
    return HTMLResponse(f"<!doctype html><p>Done: the payment is now <b>{status}</b>.</p>")


routes = [
    Route("/webhooks/simulator/authenticate/{intent_id}", page, methods=["GET"]),
    Route("/webhooks/simulator/authenticate/{intent_id}", answer, methods=["POST"]),
]
