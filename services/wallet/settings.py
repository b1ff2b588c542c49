from __future__ import annotations

from shared.settings import DatabaseSettings


class WalletSettings(DatabaseSettings):
    service = "wallet"
