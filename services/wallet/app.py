"""The wallet service: wallets on ledger accounts (DESIGN §1, §2).

The wallet keeps wallet records and the state of each money movement (an "operation") in its
own database; the money is in the ledger. Each wallet has a no-overdraft liability account
with the code `wallet.{wallet_id}`:

- deposit: a payment intent through payments with `wallet_id` (payments credits the code);
- transfer: one ledger transaction between two wallet accounts, reference = operation id;
- withdraw: a pending ledger transaction to `wallet.withdrawals.{currency}`, a payout through
  payments with `wallet_id` (which posts nothing itself), then the hold posted or voided;
- refund / reversal: a deposit refunded through payments, a paid payout sent back.

Lifespan jobs: the upstream HTTP clients, the recovery job (finishes what a request left
pending) and the event listener (payments' payout and intent news, to finish sooner).
"""

from __future__ import annotations

from starlette.applications import Starlette

from services.wallet.clients import upstream_clients
from services.wallet.routes import routes
from services.wallet.service.notifications import listener
from services.wallet.service.recovery import recovery
from services.wallet.settings import WalletSettings
from shared.app import create_service_app


def create_app(settings: WalletSettings | None = None) -> Starlette:
    return create_service_app(
        settings or WalletSettings(),
        routes,
        title="Micro Wallet",
        hooks=[upstream_clients, recovery, listener],
    )
