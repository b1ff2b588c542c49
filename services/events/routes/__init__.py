"""Events HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.events.routes.endpoints import routes as endpoint_routes
from services.events.routes.events import routes as event_routes

routes = [*event_routes, *endpoint_routes]
