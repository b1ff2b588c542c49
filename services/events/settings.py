from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator

from shared import secrets
from shared.settings import DatabaseSettings

# Seconds before each attempt: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def _consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class EventsSettings(DatabaseSettings):
    service = "events"

    # The consumer group on the global stream; every replica joins it under its own name.
    consumer_group: str = "events"
    consumer_name: str = Field(default_factory=_consumer_name)
    consumer_batch: int = 200
    # Milliseconds one XREADGROUP waits for new entries.
    consumer_block_ms: int = 1000
    # Entries another consumer has held unacknowledged this long are taken over: it died.
    claim_idle_ms: int = 60_000
    # Members of the group holding nothing and silent this long are removed (one day).
    forget_consumers_after_ms: int = 86_400_000

    # Seconds an endpoint has to answer one delivery.
    delivery_timeout: float = 15.0
    # A claimed attempt is leased for `delivery_timeout` plus this many seconds: a replica
    # that dies mid-attempt leaves it to another replica once that has passed.
    delivery_lease_margin: float = Field(default=60.0, ge=0)
    # Multiplies every delay of RETRY_SCHEDULE (tests compress days into milliseconds).
    retry_scale: float = 1.0
    # Attempts run at once by one replica, and at most this many of them to one endpoint
    # (a slow endpoint must not hold every slot while other tenants wait).
    delivery_concurrency: int = 64
    endpoint_concurrency: int = 16
    # Finished attempts recorded in one transaction at most (service/delivery.py Recorder).
    delivery_record_batch: int = Field(default=256, ge=1)
    # Seconds between looks for due retries when nothing wakes the worker.
    delivery_poll_interval: float = 1.0
    # An endpoint failing without a single success this long is disabled (5 days).
    disable_after_seconds: float = 5 * 86400
    # Live-mode endpoints only reach global unicast addresses outside the IANA special-purpose
    # ranges (service/urls.py), checked at save and at every connection. True turns that
    # check off for live mode entirely (any address, loopback and cloud metadata included):
    # only for a deployment whose live receivers all sit on its own private network and whose
    # tenants are all trusted. Test mode never checks (developers receive on localhost).
    allow_private_live_urls: bool = False
    # Retention: the event log keeps events this many days (Stripe: 30), except those a
    # delivery still waits on; delivery attempts are kept this many days after they finish.
    event_log_retention_days: float = Field(default=30.0, gt=0)
    delivery_attempt_retention_days: float = Field(default=30.0, gt=0)
    # Endpoints per tenant and mode, as Stripe limits them.
    max_endpoints: int = 16
    # Encrypts webhook endpoint secrets at rest (MICRO_EVENTS_WEBHOOK_SECRETS_KEY): Fernet
    # keys, comma-separated, the first encrypting. Required, no default (validate_default).
    webhook_secrets_key: str = Field(default="", validate_default=True)

    @field_validator("webhook_secrets_key", mode="before")
    @classmethod
    def _webhook_secrets_key(cls, value: object) -> str:
        return secrets.check(secrets.WEBHOOK_SECRETS, value)
