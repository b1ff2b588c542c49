from __future__ import annotations

from shared.settings import DatabaseSettings


class LedgerSettings(DatabaseSettings):
    service = "ledger"
