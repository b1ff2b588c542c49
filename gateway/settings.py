from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from shared import secrets
from shared.settings import HTTP_PORTS, ServiceSettings, check_upstream_urls

# The internal listener that serves /metrics (never the public port).
METRICS_PORT = 9080


def _local(service: str) -> str:
    return f"http://127.0.0.1:{HTTP_PORTS[service]}"


class GatewaySettings(ServiceSettings):
    service = "gateway"

    # Each service behind the gateway: its base URL, or a comma-separated list of its
    # replicas' (MICRO_GATEWAY_PAYMENTS_URL=http://10.0.0.5:8002,http://10.0.0.6:8002).
    # Requests go round-robin; a replica that refuses connections is tried last for
    # `replica_down_seconds`; a request goes on to the next replica only when that is safe
    # (nothing sent yet, or an idempotent method or Idempotency-Key): gateway/proxy.py.
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
    # /metrics is served here only, for Prometheus on the internal network: route labels
    # and auth-failure counters are not for the public port.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = METRICS_PORT

    # -- the CLI relay (`POST /cli/sessions`, WebSocket `/cli/listen`) ---------------------
    # Seconds a `websocket_token` from /cli/sessions may be used to open a connection.
    cli_token_seconds: int = 600
    # The per-listener buffer: events sent but not yet acknowledged, by count and by bytes.
    # When it is full the relay stops reading the stream (events wait in Redis, not here).
    relay_window_events: int = 1000
    relay_window_bytes: int = 8 * 1024 * 1024
    # A listener that acknowledges nothing for this long while its buffer is full, or whose
    # socket takes no data for this long, is closed (4008); it resumes from its last ack.
    relay_slow_seconds: float = 10.0
    # Application-level ping; a listener silent for three intervals is closed.
    relay_ping_seconds: float = 15.0
    # Stream entries read per XRANGE, and the safety-net re-read of every stream (a missed
    # pub/sub notification can delay an event by at most this long, never lose it).
    relay_batch: int = 500
    relay_poll_seconds: float = 5.0
    relay_redis_timeout: float = 5.0
    # Required, no default (validate_default): MICRO_GATEWAY_RELAY_TOKEN_KEY signs the
    # websocket tokens, MICRO_GATEWAY_LISTEN_SIGNING_KEY derives each tenant's secret.
    relay_token_key: str = Field(default="", validate_default=True)
    listen_signing_key: str = Field(default="", validate_default=True)

    @field_validator("auth_url", "payments_url", "ledger_url", "wallet_url", "events_url")
    @classmethod
    def _upstream_urls(cls, value: str) -> str:
        return check_upstream_urls(value)

    @field_validator("relay_token_key", mode="before")
    @classmethod
    def _relay_token_key(cls, value: object) -> str:
        return secrets.check(secrets.RELAY_TOKEN, value)

    @field_validator("listen_signing_key", mode="before")
    @classmethod
    def _listen_signing_key(cls, value: object) -> str:
        return secrets.check(secrets.LISTEN_SIGNING, value)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        secrets.check_distinct(
            {
                secrets.IDENTITY: self.identity_keys,
                secrets.RELAY_TOKEN: [self.relay_token_key],
                secrets.LISTEN_SIGNING: [self.listen_signing_key],
            }
        )
        if self.metrics_port == self.port:
            raise ValueError("the metrics port must not be the public port")
        return self

    def upstreams(self) -> dict[str, str]:
        return {
            "auth": self.auth_url,
            "payments": self.payments_url,
            "ledger": self.ledger_url,
            "wallet": self.wallet_url,
            "events": self.events_url,
        }
