from __future__ import annotations

from shared.settings import DatabaseSettings


class PaymentsSettings(DatabaseSettings):
    service = "payments"
