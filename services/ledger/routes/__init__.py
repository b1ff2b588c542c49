"""Ledger HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.ledger.routes.accounts import routes as account_routes
from services.ledger.routes.balance import routes as balance_routes
from services.ledger.routes.transactions import routes as transaction_routes

routes = [*account_routes, *balance_routes, *transaction_routes]
