from __future__ import annotations

from shared.settings import HTTP_PORTS, ServiceSettings


def _local(service: str) -> str:
    return f"http://127.0.0.1:{HTTP_PORTS[service]}"


class GatewaySettings(ServiceSettings):
    service = "gateway"

    auth_url: str = _local("auth")
    payments_url: str = _local("payments")
    ledger_url: str = _local("ledger")
    wallet_url: str = _local("wallet")
    events_url: str = _local("events")
    # Seconds for one upstream call; a dead service answers 502/503 within this, never hangs.
    upstream_timeout: float = 10.0
    upstream_connect_timeout: float = 2.0

    def upstreams(self) -> dict[str, str]:
        return {
            "auth": self.auth_url,
            "payments": self.payments_url,
            "ledger": self.ledger_url,
            "wallet": self.wallet_url,
            "events": self.events_url,
        }
