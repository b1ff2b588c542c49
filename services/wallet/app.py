"""The wallet service: wallets on ledger accounts (docs/architecture.md, "The parts").

The wallet keeps wallet records and the state of each money movement (an "operation") in its
own database; the money is in the ledger. Each wallet has a no-overdraft liability account
with the code `wallet.{wallet_id}`:

- deposit: a payment intent through payments with `wallet_id` (payments credits the code);
- transfer: one ledger transaction between two wallet accounts, reference = operation id;
- withdraw: a pending ledger transaction to `wallet.withdrawals.{currency}`, a payout through
  payments with `wallet_id` (which posts nothing itself), then the hold posted or voided;
- refund / reversal: a deposit refunded through payments, a paid payout sent back.

Its lifespan builds the one `WalletState` and starts, in this order: the upstream HTTP
clients, the recovery job (finishes what a request left pending) and the event listener
(payments' payout and intent news, to finish sooner); they stop in the reverse order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from services.wallet.clients import Ledger, Payments
from services.wallet.metrics import refresh_ledger_backlog
from services.wallet.routes import routes
from services.wallet.service.notifications import listener
from services.wallet.service.recovery import recovery
from services.wallet.settings import WalletSettings
from services.wallet.state import WalletState
from shared.app import create_service_app
from shared.internal_client import open_internal_client
from shared.state import AppState


def create_app(settings: WalletSettings | None = None) -> Starlette:
    wallet_settings = settings or WalletSettings()

    @asynccontextmanager
    async def wallet_lifespan(app: AppState) -> AsyncIterator[WalletState]:
        async with open_internal_client(wallet_settings) as client:
            state = WalletState(
                settings=wallet_settings,
                pool=app.db,
                ledger=Ledger(client.upstream("ledger", wallet_settings.ledger_url)),
                payments=Payments(client.upstream("payments", wallet_settings.payments_url)),
            )
            async with recovery(state), listener(state, app.redis):
                yield state

    return create_service_app(
        wallet_settings,
        routes,
        title="Micro Wallet",
        service_state=wallet_lifespan,
        metrics_refresh=[refresh_ledger_backlog],
    )
