from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.events.schemas import (
    CreateEndpointRequest,
    DeletedEndpoint,
    RollSecretRequest,
    UpdateEndpointRequest,
    WebhookEndpoint,
)
from services.events.service import endpoints
from services.events.service.access import scope_of
from services.events.service.workers import cipher_of, url_policy_of
from services.events.settings import EventsSettings
from shared.body import parse
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state

# The secret is in this answer: no cache (nor the idempotency store) may keep it.
NO_STORE = {"Cache-Control": "no-store"}


def _settings(request: Request) -> EventsSettings:
    settings = app_state(request).settings
    assert isinstance(settings, EventsSettings)
    return settings


def _id(request: Request) -> str:
    return str(request.path_params["endpoint_id"])


@documented(
    request=CreateEndpointRequest,
    response=WebhookEndpoint,
    example={
        "url": "https://acme.example/webhooks/micro",
        "enabled_events": ["payment_intent.succeeded", "payout.*"],
        "description": "Order fulfilment",
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

    Micro POSTs each selected event to `url`, signed as Standard Webhooks describes
    (`webhook-id`, `webhook-timestamp`, `webhook-signature` with the `whsec_` secret),
    retrying with backoff until a 2xx. `enabled_events` takes types, `family.*` or `*`.
    """
    body = await parse(request, CreateEndpointRequest)
    scope = scope_of(identity_of(request))
    state = app_state(request)
    # Checked before the transaction opens: the check may resolve the host name.
    url = await endpoints.check_url(body.url, livemode=scope.livemode, policy=url_policy_of(state))
    async with transaction(state.db) as conn:
        endpoint = await endpoints.create_endpoint(
            conn,
            scope,
            body,
            url=url,
            max_endpoints=_settings(request).max_endpoints,
            cipher=cipher_of(state),
        )
    return json_response(endpoint.model_dump(), headers=NO_STORE)


@documented(response=WebhookEndpoint, listing=True)
async def list_endpoints(request: Request) -> JSONResponse:
    """List webhook endpoints, newest first (never with their secrets).

    In the credential's mode; secrets are never listed.
    """
    params = list_params(request)
    scope = scope_of(identity_of(request))
    async with transaction(app_state(request).db) as conn:
        found, has_more = await endpoints.list_endpoints(conn, scope, params=params)
    return list_response(request, found, has_more=has_more, exclude={"secret"})


@documented(response=WebhookEndpoint)
async def get_endpoint(request: Request) -> JSONResponse:
    """Retrieve a webhook endpoint.

    Without its secret.
    """
    scope = scope_of(identity_of(request))
    async with transaction(app_state(request).db) as conn:
        endpoint = await endpoints.get_endpoint(conn, scope, _id(request))
    return json_response(endpoint.model_dump(exclude={"secret"}))


@documented(
    request=UpdateEndpointRequest,
    response=WebhookEndpoint,
    body_required=False,
    example={"enabled_events": ["*"], "disabled": False},
)
async def update_endpoint(request: Request) -> JSONResponse:
    """Change a webhook endpoint's url, enabled_events, description, or disable it.

    Only the fields sent change; `disabled: true` stops deliveries until enabled again.
    """
    body = await parse(request, UpdateEndpointRequest)
    scope = scope_of(identity_of(request))
    state = app_state(request)
    url = None
    if body.url is not None:
        url = await endpoints.check_url(
            body.url, livemode=scope.livemode, policy=url_policy_of(state)
        )
    async with transaction(state.db) as conn:
        endpoint = await endpoints.update_endpoint(conn, scope, _id(request), body, url=url)
    return json_response(endpoint.model_dump(exclude={"secret"}))


@documented(response=DeletedEndpoint)
async def delete_endpoint(request: Request) -> JSONResponse:
    """Delete a webhook endpoint; what it was still owed is dropped, its attempts are kept.

    Deliveries still owed to it are dropped; its past attempts stay readable.
    """
    scope = scope_of(identity_of(request))
    async with transaction(app_state(request).db) as conn:
        deleted = await endpoints.delete_endpoint(conn, scope, _id(request))
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
    state = app_state(request)
    async with transaction(state.db) as conn:
        endpoint = await endpoints.roll_secret(
            conn, scope, _id(request), expires_in=body.expires_in, cipher=cipher_of(state)
        )
    return json_response(endpoint.model_dump(), headers=NO_STORE)


_BASE = "/webhook_endpoints"
routes = [
    Route(_BASE, create_endpoint, methods=["POST"]),
    Route(_BASE, list_endpoints, methods=["GET"]),
    Route(_BASE + "/{endpoint_id}", get_endpoint, methods=["GET"]),
    # Stripe updates with POST; PUT and PATCH are what REST clients reach for.
    Route(_BASE + "/{endpoint_id}", update_endpoint, methods=["POST", "PUT", "PATCH"]),
    Route(_BASE + "/{endpoint_id}", delete_endpoint, methods=["DELETE"]),
    Route(_BASE + "/{endpoint_id}/roll_secret", roll_secret, methods=["POST"]),
]
