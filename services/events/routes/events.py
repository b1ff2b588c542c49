from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.events.schemas import (
    DeliveryAttempt,
    Event,
    EventListParams,
    EventsBacklog,
    ResendRequest,
)
from services.events.service import backlog as backlog_service
from services.events.service import events
from services.events.service.access import scope_of
from services.events.state import events_state
from shared.body import decode_form, parse, validate
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state
from shared.v1 import public_path


def _raw(payload: str) -> Response:
    """An event exactly as it was emitted: the bytes a webhook signature is made over."""
    return Response(payload, media_type="application/json")


def _list_of_raw(request: Request, payloads: list[str], *, has_more: bool) -> Response:
    """The list envelope around stored texts spliced in unparsed: they are JSON already,
    and stay byte for byte what was emitted. Its `url` is the path the client asked for
    (`/v1/events` for Stripe's clients, whose pagination GETs it)."""
    url = public_path(request.url.path, identity_of(request).dialect)
    body = (
        f'{{"object":"list","data":[{",".join(payloads)}],'
        f'"has_more":{json.dumps(has_more)},"url":{json.dumps(url)}}}'
    )
    return Response(body, media_type="application/json")


@documented(response=Event, listing=True, query=EventListParams)
async def list_events(request: Request) -> Response:
    """List events, newest first. Filters: `type` (or `family.*`), or `types[]` (any of up
    to 20), `created` (`created=T` or `created[gt|gte|lt|lte]=T`, unix seconds) and
    `object_id` (the events about one object, e.g. a PaymentIntent); platform admins may
    pass `tenant_id`."""
    params = validate(EventListParams, decode_form(request.url.query.encode()))
    scope = scope_of(identity_of(request), tenant_id=params.tenant_id)
    payloads, has_more = await events.list_events(app_state(request).db, scope, params=params)
    return _list_of_raw(request, payloads, has_more=has_more)


@documented(
    response=EventsBacklog,
    operation_id="events_backlog",
    errors={403: "Not a platform admin (`role_required`)"},
    response_example={
        "object": "events.backlog",
        "deliveries": {
            "pending": 12,
            "due": 3,
            "oldest_due_seconds": 4.2,
            "failing_endpoints": 1,
            "disabled_endpoints": 0,
        },
        "lag": {"window_seconds": 600, "events": 240, "p50_ms": 850.0, "max_ms": 1900.0},
        "outbox": {"pending": 0, "oldest_seconds": None},
    },
)
async def events_backlog(request: Request) -> JSONResponse:
    """Whether events are flowing, across every tenant and both modes (platform admins).

    `deliveries`: how many wait (`pending`), how many are due now and how long the oldest
    due one has waited, and the endpoints failing or disabled. `lag`: over the events stored
    in the last `window_seconds`, the median and largest time from their source's commit to
    the log. `outbox`: what the events service's own outbox has not published yet.
    """
    found = await backlog_service.backlog(app_state(request).db, identity_of(request))
    return json_response(found.model_dump())


@documented(response=Event)
async def get_event(request: Request) -> Response:
    """Retrieve an event.

    The event exactly as it was emitted (the bytes its signatures cover).
    """
    scope = scope_of(identity_of(request), tenant_id=request.query_params.get("tenant_id"))
    payload = await events.get_event(app_state(request).db, scope, request.path_params["event_id"])
    return _raw(payload)


@documented(
    request=ResendRequest,
    response=Event,
    body_required=False,
    example={"webhook_endpoint": "we_1NfB3kQ8Zc2rXh4T"},
)
async def resend_event(request: Request) -> Response:
    """Send an event again: new deliveries to the endpoints that select it (or to
    `webhook_endpoint` only) and, unless `live` is false, to `micro listen` sessions."""
    body = await parse(request, ResendRequest)
    scope = scope_of(identity_of(request))
    state = app_state(request)
    own = events_state(state)
    payload = await events.resend(
        state.db,
        scope,
        request.path_params["event_id"],
        body,
        redis=state.redis,
        retention_seconds=own.settings.event_retention_days * 86400,
        on_deliveries=own.deliverer.wake,
    )
    return _raw(payload)


@documented(response=DeliveryAttempt, listing=True)
async def list_deliveries(request: Request) -> JSONResponse:
    """Every delivery attempt of an event to webhook endpoints, newest first.

    Each attempt's status code, duration and the start of the answer, for debugging a
    receiver.
    """
    params = list_params(request)
    scope = scope_of(identity_of(request))
    attempts, has_more = await events.list_attempts(
        app_state(request).db, scope, request.path_params["event_id"], params=params
    )
    return list_response(request, attempts, has_more=has_more)


routes = [
    Route("/events", list_events, methods=["GET"]),
    # Before `/events/{event_id}`, which would take "backlog" for an id.
    Route("/events/backlog", events_backlog, methods=["GET"]),
    Route("/events/{event_id}", get_event, methods=["GET"]),
    Route("/events/{event_id}/resend", resend_event, methods=["POST"]),
    Route("/events/{event_id}/deliveries", list_deliveries, methods=["GET"]),
]
