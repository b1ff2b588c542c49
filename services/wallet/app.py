"""The wallet service: wallets on ledger accounts (DESIGN §1, §2)."""

from __future__ import annotations

from starlette.applications import Starlette

from services.wallet.routes import routes
from services.wallet.settings import WalletSettings
from shared.app import create_service_app


def create_app(settings: WalletSettings | None = None) -> Starlette:
    return create_service_app(settings or WalletSettings(), routes, title="Micro Wallet")
