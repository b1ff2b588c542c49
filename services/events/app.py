"""The events service: the durable event log and webhook deliveries (docs/architecture.md,
"The parts")."""

from __future__ import annotations

from aiohttp.abc import AbstractResolver
from starlette.applications import Starlette

from services.events.metrics import refresh_backlog
from services.events.routes import routes
from services.events.service import retention
from services.events.settings import EventsSettings
from services.events.state import events_lifespan
from shared.app import create_service_app


def create_app(
    settings: EventsSettings | None = None, *, resolver: AbstractResolver | None = None
) -> Starlette:
    """`resolver`: how endpoint hosts are looked up (the system's resolver unless a test
    passes one it controls)."""
    settings = settings or EventsSettings()
    return create_service_app(
        settings,
        routes,
        title="Micro Events",
        service_state=events_lifespan(settings, resolver),
        retention_jobs=retention.JOBS,
        metrics_refresh=[refresh_backlog],
    )
