"""Wallet HTTP routes: parse, call the service, render."""

from __future__ import annotations

from services.wallet.routes.movements import routes as movement_routes
from services.wallet.routes.wallets import routes as wallet_routes

# Movements first: `/wallet/transfer` must not be read as the wallet id "transfer".
routes = [*movement_routes, *wallet_routes]
