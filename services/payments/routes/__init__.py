"""Payments HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.payments.routes.customers import routes as customer_routes
from services.payments.routes.intents import routes as intent_routes
from services.payments.routes.ledger_outbox import routes as ledger_outbox_routes
from services.payments.routes.payouts import routes as payout_routes
from services.payments.routes.providers import routes as provider_routes
from services.payments.routes.reconciliations import routes as reconciliation_routes
from services.payments.routes.refunds import routes as refund_routes
from services.payments.routes.routing import routes as routing_routes
from services.payments.routes.simulator import routes as simulator_routes
from services.payments.routes.webhooks import routes as webhook_routes

routes = [
    *intent_routes,
    *refund_routes,
    *customer_routes,
    *payout_routes,
    *provider_routes,
    *routing_routes,
    *reconciliation_routes,
    *ledger_outbox_routes,
    *simulator_routes,
    *webhook_routes,
]
