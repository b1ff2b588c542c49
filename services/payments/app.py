"""The payments service: payment intents, refunds and payouts over providers
(docs/architecture.md, "The parts")."""

from __future__ import annotations

import functools

from starlette.applications import Starlette

from services.payments.metrics import refresh_ledger_outbox
from services.payments.routes import routes
from services.payments.settings import PaymentsSettings
from services.payments.state import open_payments_state
from shared.app import create_service_app


def create_app(settings: PaymentsSettings | None = None) -> Starlette:
    settings = settings or PaymentsSettings()
    return create_service_app(
        settings,
        routes,
        title="Micro Payments",
        service_state=functools.partial(open_payments_state, settings),
        metrics_refresh=[refresh_ledger_outbox],
    )
