"""The ledger service: accounts and double-entry transactions (DESIGN §8)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.ledger.routes import routes
from services.ledger.service.coalescer import coalescer
from services.ledger.service.sweeper import sweeper
from services.ledger.settings import LedgerSettings
from shared.app import create_service_app


def create_app(settings: LedgerSettings | None = None) -> Starlette:
    return create_service_app(
        settings or LedgerSettings(), routes, title="Micro Ledger", hooks=[coalescer, sweeper]
    )
