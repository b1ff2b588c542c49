from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.events.schemas import (
    CreateEndpointRequest,
    DeletedEndpoint,
    DeliveryAttempt,
    RollSecretRequest,
    UpdateEndpointRequest,
    WebhookEndpoint,
)
from services.events.service import endpoints, events
from services.events.service.access import scope_of
from services.events.state import events_state
from shared.body import parse
from shared.idempotency import creation_key
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state

# The secret is in this answer: no cache (nor the idempotency store) may keep it.
NO_STORE = {"Cache-Control": "no-store"}


def _id(request: Request) -> str:
    return str(request.path_params["endpoint_id"])


@documented(
    request=CreateEndpointRequest,
    response=WebhookEndpoint,
    example={
        "url": "https://acme.example/webhooks/micro",
        "enabled_events": ["payment_intent.succeeded", "payout.*"],
        "description": "Order fulfilment",
        "metadata": {"team": "orders"},
    },
    links={
        "roll_secret": Link(
            "roll_secret",
            "Replace this endpoint's signing secret",
            parameters={"endpoint_id": "$response.body#/id"},
        ),
        "update": Link(
            "update_endpoint",
            "Change this endpoint",
            parameters={"endpoint_id": "$response.body#/id"},
        ),
    },
)
async def create_endpoint(request: Request) -> JSONResponse:
    """Create a webhook endpoint; its signing secret is in this answer only.

    Micro POSTs each selected event to `url`, signed with the `whsec_` secret, retrying with
    backoff until a 2xx. `signature` picks how: `standard` (Standard Webhooks:
    `webhook-id`, `webhook-timestamp`, `webhook-signature`), the default on this path, or
    `stripe` (`Stripe-Signature: t=...,v1=...`, what Stripe's SDKs verify), the default on
    `/v1/webhook_endpoints`. `enabled_events` takes types, `family.*` or `*`.
    """
    body = await parse(request, CreateEndpointRequest)
    identity = identity_of(request)
    scope = scope_of(identity)
    own = events_state(request)
    endpoint = await endpoints.create_endpoint(
        app_state(request).db,
        scope,
        body,
        policy=own.url_policy,
        max_endpoints=own.settings.max_endpoints,
        cipher=own.cipher,
        dialect=identity.dialect,
        stripe_version=request.headers.get("stripe-version"),
        idempotency_key=creation_key(identity),
    )
    return json_response(endpoint.model_dump(), headers=NO_STORE)


@documented(response=WebhookEndpoint, listing=True)
async def list_endpoints(request: Request) -> JSONResponse:
    """List webhook endpoints, newest first (never with their secrets).

    In the credential's mode; secrets are never listed.
    """
    params = list_params(request)
    scope = scope_of(identity_of(request))
    found, has_more = await endpoints.list_endpoints(app_state(request).db, scope, params=params)
    return list_response(request, found, has_more=has_more, exclude={"secret"})


@documented(response=WebhookEndpoint)
async def get_endpoint(request: Request) -> JSONResponse:
    """Retrieve a webhook endpoint.

    Without its secret.
    """
    scope = scope_of(identity_of(request))
    endpoint = await endpoints.get_endpoint(app_state(request).db, scope, _id(request))
    return json_response(endpoint.model_dump(exclude={"secret"}))


@documented(
    request=UpdateEndpointRequest,
    response=WebhookEndpoint,
    body_required=False,
    example={"enabled_events": ["*"], "disabled": False, "signature": "stripe"},
)
async def update_endpoint(request: Request) -> JSONResponse:
    """Change a webhook endpoint's url, enabled_events, description, signature, metadata,
    or disable it.

    Only the fields sent change; `disabled: true` stops deliveries until enabled again.
    `metadata` is merged key by key as Stripe does ("" removes a key, or all of them).
    """
    body = await parse(request, UpdateEndpointRequest)
    scope = scope_of(identity_of(request))
    endpoint = await endpoints.update_endpoint(
        app_state(request).db,
        scope,
        _id(request),
        body,
        policy=events_state(request).url_policy,
    )
    return json_response(endpoint.model_dump(exclude={"secret"}))


@documented(response=DeletedEndpoint)
async def delete_endpoint(request: Request) -> JSONResponse:
    """Delete a webhook endpoint; what it was still owed is dropped, its attempts are kept.

    Deliveries still owed to it are dropped; its past attempts stay readable.
    """
    scope = scope_of(identity_of(request))
    deleted = await endpoints.delete_endpoint(app_state(request).db, scope, _id(request))
    return json_response(deleted.model_dump())


@documented(
    request=RollSecretRequest,
    response=WebhookEndpoint,
    example={"expires_in": 3600},
)
async def roll_secret(request: Request) -> JSONResponse:
    """Replace the endpoint's signing secret; the new one is in this answer only.

    With `expires_in` (seconds, up to 86400) the old one keeps signing beside it until then,
    so the receiver can switch without missing a delivery; without it the old one stops now.
    """
    body = await parse(request, RollSecretRequest)
    scope = scope_of(identity_of(request))
    endpoint = await endpoints.roll_secret(
        app_state(request).db,
        scope,
        _id(request),
        expires_in=body.expires_in,
        cipher=events_state(request).cipher,
    )
    return json_response(endpoint.model_dump(), headers=NO_STORE)


@documented(response=DeliveryAttempt, listing=True)
async def list_deliveries(request: Request) -> JSONResponse:
    """Every delivery attempt to a webhook endpoint, of every event, newest first.

    Each attempt's event, status code, duration and the start of the answer: what a
    receiver was sent and what it said.
    """
    params = list_params(request)
    scope = scope_of(identity_of(request))
    attempts, has_more = await events.list_endpoint_attempts(
        app_state(request).db, scope, _id(request), params=params
    )
    return list_response(request, attempts, has_more=has_more)


_BASE = "/webhook_endpoints"
routes = [
    Route(_BASE, create_endpoint, methods=["POST"]),
    Route(_BASE, list_endpoints, methods=["GET"]),
    Route(_BASE + "/{endpoint_id}", get_endpoint, methods=["GET"]),
    # Stripe updates with POST; PUT and PATCH are what REST clients reach for.
    Route(_BASE + "/{endpoint_id}", update_endpoint, methods=["POST", "PUT", "PATCH"]),
    Route(_BASE + "/{endpoint_id}", delete_endpoint, methods=["DELETE"]),
    Route(_BASE + "/{endpoint_id}/roll_secret", roll_secret, methods=["POST"]),
    Route(_BASE + "/{endpoint_id}/deliveries", list_deliveries, methods=["GET"]),
]
