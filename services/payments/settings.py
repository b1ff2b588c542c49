from __future__ import annotations

from shared.settings import HTTP_PORTS, DatabaseSettings


class PaymentsSettings(DatabaseSettings):
    service = "payments"

    # The ledger service, called directly with an internal identity (never via the gateway).
    ledger_url: str = f"http://127.0.0.1:{HTTP_PORTS['ledger']}"
    # Seconds between outbox relay rounds (a commit also wakes it at once).
    relay_interval: float = 1.0
    ledger_timeout: float = 10.0
    # Where clients reach the gateway: redirect URLs handed to customers start with it.
    public_url: str = f"http://localhost:{HTTP_PORTS['gateway']}"
