"""The gateway: the one public port (DESIGN §5), and its internal metrics listener."""

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
from shared.metrics import metrics_endpoint

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
        metrics=False,
        extra_routes=[
            Route("/api/health", health, methods=["GET"]),
            *docs.routes,
            *relay.routes,
            Route(CATCH_ALL, proxy, methods=_METHODS, include_in_schema=False),
        ],
    )


def create_metrics_app() -> Starlette:
    """What `micro serve gateway` serves on MICRO_GATEWAY_METRICS_HOST:PORT, beside the app.

    The process's counters are global (prometheus_client's registry), so this app needs no
    state of its own and no lifespan."""
    return Starlette(routes=[Route("/metrics", metrics_endpoint, methods=["GET"])])
