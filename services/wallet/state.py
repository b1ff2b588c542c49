"""What the wallet opens once per process, reached through `wallet_state`: its settings, the
pool, and the ledger and payments as the wallet calls them.

Movements are sagas across services, so unlike a plain request they run several short
database transactions, none open during a remote call: see `service/operations.driving`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from services.wallet.clients import Ledger, Payments
from services.wallet.settings import WalletSettings
from shared.db import Pool
from shared.state import AppState, service_state


@dataclass(frozen=True, slots=True)
class WalletState:
    settings: WalletSettings
    pool: Pool
    ledger: Ledger
    payments: Payments


def wallet_state(conn: HTTPConnection | AppState) -> WalletState:
    return service_state(conn, WalletState)
