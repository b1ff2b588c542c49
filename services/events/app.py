"""The events service: the durable event log and webhook deliveries (DESIGN §9)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.events.routes import routes
from services.events.service.workers import event_workers
from services.events.settings import EventsSettings
from shared.app import create_service_app


def create_app(settings: EventsSettings | None = None) -> Starlette:
    return create_service_app(
        settings or EventsSettings(), routes, title="Micro Events", hooks=[event_workers]
    )
