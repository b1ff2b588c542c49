"""The events service: the durable event log and webhook deliveries (DESIGN §9)."""

from __future__ import annotations

from aiohttp.abc import AbstractResolver
from starlette.applications import Starlette

from services.events.routes import routes
from services.events.service import retention
from services.events.service.workers import event_workers
from services.events.settings import EventsSettings
from shared.app import create_service_app


def create_app(
    settings: EventsSettings | None = None, *, resolver: AbstractResolver | None = None
) -> Starlette:
    """`resolver`: how endpoint hosts are looked up (the system's resolver unless a test
    passes one it controls)."""
    return create_service_app(
        settings or EventsSettings(),
        routes,
        title="Micro Events",
        hooks=[event_workers(resolver)],
        retention_jobs=retention.JOBS,
    )
