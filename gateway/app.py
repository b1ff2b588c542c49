"""The gateway: the one public port (docs/architecture.md, "Three paths"), and its internal
metrics listener."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from gateway import docs
from gateway.dashboard.routes import routes as dashboard_routes
from gateway.handler import PROXIED_METHODS, ProxiedFirst, proxy
from gateway.health import health, outboxes
from gateway.relay.routes import routes as relay_routes
from gateway.settings import GatewaySettings
from gateway.state import gateway_lifespan
from gateway.v1 import StripeHeadersMiddleware
from shared.app import create_service_app
from shared.handlers import CATCH_ALL
from shared.metrics import metrics_endpoint


def create_app(settings: GatewaySettings | None = None) -> Starlette:
    settings = settings or GatewaySettings()
    app = create_service_app(
        settings,
        [],
        title="Micro Gateway",
        require_identity=False,
        service_state=gateway_lifespan(settings),
        health=health,
        openapi=docs.openapi,
        metrics=False,
        middleware=[Middleware(ProxiedFirst)],
        extra_routes=[
            Route("/api/health", health, methods=["GET"]),
            Route("/system/outboxes", outboxes, methods=["GET"]),
            *docs.routes,
            *relay_routes,
            *dashboard_routes,
            Route(CATCH_ALL, proxy, methods=sorted(PROXIED_METHODS), include_in_schema=False),
        ],
    )
    # Outermost, so it sees the request id on every answer, the last-resort ones included.
    app.add_middleware(StripeHeadersMiddleware)
    return app


def create_metrics_app() -> Starlette:
    """What `micro serve gateway` serves on MICRO_GATEWAY_METRICS_HOST:PORT, beside the app.

    The process's counters are global (prometheus_client's registry), so this app needs no
    state of its own and no lifespan."""
    return Starlette(routes=[Route("/metrics", metrics_endpoint, methods=["GET"])])
