"""The gateway: the one public port (DESIGN §5)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from gateway import docs, relay
from gateway.context import gateway_context
from gateway.handler import proxy
from gateway.health import health
from gateway.settings import GatewaySettings
from shared.app import create_service_app
from shared.handlers import CATCH_ALL

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    return create_service_app(
        settings or GatewaySettings(),
        [],
        title="Micro Gateway",
        require_identity=False,
        hooks=[gateway_context, relay.relay_context],
        health=health,
        openapi=docs.openapi,
        extra_routes=[
            Route("/api/health", health, methods=["GET"]),
            *docs.routes,
            *relay.routes,
            Route(CATCH_ALL, proxy, methods=_METHODS, include_in_schema=False),
        ],
    )
