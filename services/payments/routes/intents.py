"""PaymentIntents: parse, call the service (`service/steps.py` for changes), render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.routes.expansion import listed, query_expand
from services.payments.schemas import (
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    ExpandQuery,
    IntentFilters,
    PaymentIntent,
    PaymentVolume,
    UpdateIntentRequest,
    VolumeQuery,
)
from services.payments.service import expand, intents, steps
from services.payments.state import payments_state
from shared.body import decode_form, parse, validate
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import ListParams, list_params
from shared.responses import json_response

# What can be done next with the intent an operation answers (OpenAPI links).
INTENT_LINKS = {
    "confirm": Link(
        "confirm_intent",
        "Confirm this PaymentIntent",
        parameters={"intent_id": "$response.body#/id"},
    ),
    "capture": Link(
        "capture_intent",
        "Capture it once it requires capture",
        parameters={"intent_id": "$response.body#/id"},
    ),
    "cancel": Link(
        "cancel_intent",
        "Cancel it while unfinished",
        parameters={"intent_id": "$response.body#/id"},
    ),
    "refund": Link(
        "create_refund",
        "Refund it once it succeeded",
        body={"payment_intent": "$response.body#/id"},
    ),
}


@documented(
    request=CreateIntentRequest,
    response=PaymentIntent,
    example={"amount": 5000, "currency": "usd"},
    errors={402: "Confirmed at once (`confirm: true`) and the card was declined"},
    links=INTENT_LINKS,
)
async def create_intent(request: Request) -> JSONResponse:
    """Create a PaymentIntent (and confirm it at once with `confirm: true`).

    A PaymentIntent follows a payment from creation to `succeeded`: confirm it (or pass
    `confirm: true`), and with `capture_method: manual` capture it later. Test cards:
    `pm_card_visa` succeeds; `pm_card_chargeDeclined` and friends decline (402).
    """
    body = await parse(request, CreateIntentRequest)
    fields = expand.check(body.expand, expand.INTENT)
    intent = await steps.create_intent(payments_state(request), identity_of(request), body)
    return await _shown(request, intent, fields)


class IntentListParams(ListParams, IntentFilters, ExpandQuery):
    """The list's query: paging, filters and `expand[]=data.<field>`."""


@documented(response=PaymentIntent, listing=True, query=IntentListParams)
async def list_intents(request: Request) -> JSONResponse:
    """List PaymentIntents, newest first (filters: status, provider, created).

    In the credential's mode. Filters: `status`, `provider`, and `created` (`created=T` or
    `created[gt|gte|lt|lte]=T`, unix seconds).
    """
    params = list_params(request)
    filters = validate(IntentFilters, decode_form(request.url.query.encode()))
    fields = expand.check(query_expand(request), expand.INTENT, listing=True)
    found, has_more = await intents.list_intents(
        payments_state(request).pool, identity_of(request), params=params, filters=filters
    )
    data = await expand.intents(payments_state(request).pool, identity_of(request), found, fields)
    return listed(request, data, has_more=has_more)


@documented(response=PaymentVolume, query=VolumeQuery)
async def intent_volume(request: Request) -> JSONResponse:
    """Payment volume: succeeded PaymentIntents per day and currency (count and amount).

    The last `days` UTC days (default 7, at most 90), today included, by the day each
    intent was created, in the credential's mode; days without a succeeded payment are left
    out. `amount` sums `amount_received`.
    """
    query = validate(VolumeQuery, dict(request.query_params))
    found = await intents.volume(
        payments_state(request).pool, identity_of(request), days=query.days
    )
    return json_response(found.model_dump())


@documented(response=PaymentIntent, query=ExpandQuery, links=INTENT_LINKS)
async def get_intent(request: Request) -> JSONResponse:
    """Retrieve a PaymentIntent.

    Its `status` tells the next step: `requires_confirmation`, `requires_action` (follow
    `next_action`), `requires_capture`, `succeeded` or `canceled`.
    """
    fields = expand.check(query_expand(request), expand.INTENT)
    intent = await intents.get_intent(
        payments_state(request).pool, identity_of(request), _id(request)
    )
    return await _shown(request, intent, fields)


@documented(
    request=UpdateIntentRequest,
    response=PaymentIntent,
    body_required=False,
    example={"description": "Order #6735", "metadata": {"order_id": "6735"}},
)
async def update_intent(request: Request) -> JSONResponse:
    """Update a PaymentIntent before it is confirmed.

    Only before it is confirmed; only the fields sent change.
    """
    body = await parse(request, UpdateIntentRequest)
    fields = expand.check(body.expand, expand.INTENT)
    intent = await steps.update_intent(
        payments_state(request), identity_of(request), _id(request), body
    )
    return await _shown(request, intent, fields)


@documented(
    request=ConfirmIntentRequest,
    response=PaymentIntent,
    body_required=False,
    example={"payment_method": "pm_card_visa"},
    errors={402: "The card was declined (`card_declined`, with `decline_code`)"},
    links=INTENT_LINKS,
)
async def confirm_intent(request: Request) -> JSONResponse:
    """Confirm: the provider is asked to take the money.

    With a payment method the provider charges it; a card that needs authentication answers
    `requires_action` with a `next_action` URL. A decline answers 402 and leaves the intent
    confirmable again with another method.
    """
    body = await parse(request, ConfirmIntentRequest)
    fields = expand.check(body.expand, expand.INTENT)
    intent = await steps.confirm_intent(
        payments_state(request), identity_of(request), _id(request), body
    )
    return await _shown(request, intent, fields)


@documented(
    request=CancelIntentRequest,
    response=PaymentIntent,
    body_required=False,
    example={"cancellation_reason": "requested_by_customer"},
)
async def cancel_intent(request: Request) -> JSONResponse:
    """Cancel an unfinished PaymentIntent.

    Any status before `succeeded`; held money (manual capture) is released.
    """
    body = await parse(request, CancelIntentRequest)
    fields = expand.check(body.expand, expand.INTENT)
    intent = await steps.cancel_intent(
        payments_state(request), identity_of(request), _id(request), body
    )
    return await _shown(request, intent, fields)


@documented(
    request=CaptureIntentRequest,
    response=PaymentIntent,
    body_required=False,
    example={"amount_to_capture": 5000},
    links=INTENT_LINKS,
)
async def capture_intent(request: Request) -> JSONResponse:
    """Capture a PaymentIntent in requires_capture, in full or in part.

    `amount_to_capture` defaults to the whole `amount_capturable`; the rest is released.
    """
    body = await parse(request, CaptureIntentRequest)
    fields = expand.check(body.expand, expand.INTENT)
    intent = await steps.capture_intent(
        payments_state(request), identity_of(request), _id(request), body
    )
    return await _shown(request, intent, fields)


async def _shown(request: Request, intent: PaymentIntent, fields: list[str]) -> JSONResponse:
    if not fields:
        return json_response(intent.model_dump())
    body = await expand.intent(payments_state(request).pool, identity_of(request), intent, fields)
    return json_response(body)


def _id(request: Request) -> str:
    return str(request.path_params["intent_id"])


_BASE = "/payments/payment_intents"
routes = [
    Route(_BASE, create_intent, methods=["POST"]),
    Route(_BASE, list_intents, methods=["GET"]),
    Route(_BASE + "/volume", intent_volume, methods=["GET"]),
    Route(_BASE + "/{intent_id}", get_intent, methods=["GET"]),
    Route(_BASE + "/{intent_id}", update_intent, methods=["POST"]),
    Route(_BASE + "/{intent_id}/confirm", confirm_intent, methods=["POST"]),
    Route(_BASE + "/{intent_id}/cancel", cancel_intent, methods=["POST"]),
    Route(_BASE + "/{intent_id}/capture", capture_intent, methods=["POST"]),
]
