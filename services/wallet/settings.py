from __future__ import annotations

from pydantic import Field, field_validator

from shared.settings import HTTP_PORTS, DatabaseSettings, check_upstream_urls


class WalletSettings(DatabaseSettings):
    service = "wallet"

    # The ledger and payments services, called directly with an internal identity (never via
    # the gateway): balances come from the ledger, card money and bank payouts from payments.
    # Each a base URL, or a comma-separated list of the service's replicas' (round-robin,
    # shared/balancer.py).
    ledger_url: str = f"http://127.0.0.1:{HTTP_PORTS['ledger']}"
    payments_url: str = f"http://127.0.0.1:{HTTP_PORTS['payments']}"
    # Seconds a driver holds an operation between two of its writes: longer than one step's
    # calls can take (internal_attempts x internal_timeout, plus deposit_wait). A driver that
    # died is taken over once it runs out; one that is merely slow loses only its own write
    # (the next driver repeats the step, which is idempotent).
    driver_lease: float = Field(default=60.0, gt=0)
    # Seconds between recovery rounds, and how long an operation must have been untouched
    # before a round takes it (so it does not race the request that is still driving it).
    recovery_interval: float = 5.0
    recovery_grace: float = 10.0
    # Past this many seconds, a withdrawal that asks for its payout again first looks for one
    # already made: payments keeps an Idempotency-Key's answer for a day, not forever.
    payout_lookup_after: float = 3600.0
    # A withdrawal whose payout failed because the provider could not be reached (payments'
    # `provider_unavailable`: no money moved) is asked for again under a new payout, after
    # payout_retry_base x 2^(tries - 1) seconds, at most payout_retry_max; once
    # `withdrawal_deadline` seconds have passed since the withdrawal was made, such a failure
    # fails it with the provider's reason and releases the hold.
    payout_retry_base: float = Field(default=30.0, gt=0)
    payout_retry_max: float = Field(default=3600.0, gt=0)
    withdrawal_deadline: float = Field(default=86_400.0, ge=0)
    # Seconds a deposit request waits for the payment's ledger posting before answering
    # `pending` (the recovery job finishes it then).
    deposit_wait: float = 5.0
    # Follow payments' events (payouts paid or failed, intents finished) from the event
    # stream, in this consumer group, to finish operations at once instead of next round.
    follow_events: bool = True
    events_group: str = "wallet"
    # Milliseconds a followed event may stay unacknowledged by the member that read it
    # before another member takes it over (that replica died handling it).
    events_claim_idle_ms: int = Field(default=60_000, gt=0)
    # Members of the group that hold nothing and were silent this long are removed (one
    # day): each start joins under a new name.
    events_forget_after_ms: int = Field(default=86_400_000, ge=0)

    @field_validator("ledger_url", "payments_url")
    @classmethod
    def _upstream_urls(cls, value: str) -> str:
        return check_upstream_urls(value)
