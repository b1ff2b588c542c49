"""The payments service: payment intents over providers (DESIGN §6)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.payments.routes import routes
from services.payments.service.accounts import provider_source
from services.payments.service.ledger_relay import ledger_relay
from services.payments.service.reconcile import reconciler
from services.payments.settings import PaymentsSettings
from shared.app import create_service_app


def create_app(settings: PaymentsSettings | None = None) -> Starlette:
    return create_service_app(
        settings or PaymentsSettings(),
        routes,
        title="Micro Payments",
        hooks=[provider_source, ledger_relay, reconciler],
    )
