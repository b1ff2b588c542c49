"""The relay's two routes: `POST /cli/sessions` and WebSocket `/cli/listen`."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.relay.listen import listen
from gateway.relay.sessions import create_session

routes: list[BaseRoute] = [
    Route("/cli/sessions", create_session, methods=["POST"]),
    WebSocketRoute("/cli/listen", listen),
]
