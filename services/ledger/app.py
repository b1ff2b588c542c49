"""The ledger service: accounts and double-entry transactions (docs/architecture.md, "The
parts")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from services.ledger.metrics import refresh_verify
from services.ledger.routes import routes
from services.ledger.service.coalescer import running_coalescer
from services.ledger.service.sweeper import running_sweeper
from services.ledger.service.verify_job import running_verifier
from services.ledger.settings import LedgerSettings
from services.ledger.state import LedgerState
from shared.app import create_service_app
from shared.state import AppState


def create_app(settings: LedgerSettings | None = None) -> Starlette:
    ledger_settings = settings or LedgerSettings()

    @asynccontextmanager
    async def open_state(state: AppState) -> AsyncIterator[LedgerState]:
        # The coalescer's workers first and the sweeper second; they stop in reverse.
        async with (
            running_coalescer(state.db, ledger_settings) as coalescer,
            running_sweeper(state.db, ledger_settings),
            running_verifier(state.db, ledger_settings),
        ):
            yield LedgerState(settings=ledger_settings, pool=state.db, coalescer=coalescer)

    return create_service_app(
        ledger_settings,
        routes,
        title="Micro Ledger",
        service_state=open_state,
        metrics_refresh=[refresh_verify],
    )
