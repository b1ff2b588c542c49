"""Events HTTP routes: parse, call the service, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.events import service
from services.events.schemas import Event
from shared.db import transaction
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response
from shared.state import app_state


async def list_events(request: Request) -> JSONResponse:
    """List the caller's events, newest first."""
    params = list_params(request)
    async with transaction(app_state(request).db) as conn:
        events, has_more = await service.list_events(conn, identity_of(request), params=params)
    return list_response(request, events, has_more=has_more)


@documented(response=Event, tags=["events"])
async def get_event(request: Request) -> JSONResponse:
    """Retrieve an event."""
    async with transaction(app_state(request).db) as conn:
        event = await service.get_event(conn, identity_of(request), request.path_params["event_id"])
    return json_response(event.model_dump())


routes = [
    Route("/events", list_events, methods=["GET"]),
    Route("/events/{event_id}", get_event, methods=["GET"]),
]
