"""What a money movement needs: the pool, the upstream clients and the settings.

Movements are sagas across services, so unlike a plain request they run several short
database transactions, none open during a remote call: see `operations.driving`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.wallet.clients import Ledger, Payments, clients_of
from services.wallet.settings import WalletSettings
from shared.db import Pool
from shared.state import AppState


@dataclass(frozen=True, slots=True)
class Runtime:
    pool: Pool
    ledger: Ledger
    payments: Payments
    settings: WalletSettings


def runtime_of(state: AppState) -> Runtime:
    settings = state.settings
    assert isinstance(settings, WalletSettings)
    clients = clients_of(state)
    return Runtime(state.db, clients.ledger, clients.payments, settings)
