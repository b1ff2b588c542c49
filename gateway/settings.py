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
    # Seconds for one upstream call; a dead service answers 502/504 within this, never hangs.
    upstream_timeout: float = 30.0
    upstream_connect_timeout: float = 2.0
    upstream_max_connections: int = 500
    # Requests per window per API key or user, unless auth says otherwise for a key/tenant.
    rate_limit: int = 100
    rate_limit_window_seconds: int = 60
    # Requests per window per signed-in user.
    session_rate_limit: int = 100
    # Per client IP on the doors that take passwords (login, admin, refresh; register, signup).
    login_rate_limit: int = 20
    register_rate_limit: int = 10
    # Seconds an API key's answer from auth is reused in this process (revocations are
    # enforced on every request regardless, through Redis).
    key_cache_seconds: float = 60.0
    # Trust X-Forwarded-For from these peers (a load balancer in front of the gateway).
    trusted_proxies: list[str] = []
    redis_timeout: float = 0.25

    def upstreams(self) -> dict[str, str]:
        return {
            "auth": self.auth_url,
            "payments": self.payments_url,
            "ledger": self.ledger_url,
            "wallet": self.wallet_url,
            "events": self.events_url,
        }
