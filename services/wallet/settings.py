from __future__ import annotations

from pydantic import Field

from shared.settings import HTTP_PORTS, DatabaseSettings


class WalletSettings(DatabaseSettings):
    service = "wallet"

    # The ledger and payments services, called directly with an internal identity (never via
    # the gateway): balances come from the ledger, card money and bank payouts from payments.
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
    # Seconds a deposit request waits for the payment's ledger posting before answering
    # `pending` (the recovery job finishes it then).
    deposit_wait: float = 5.0
    # Follow payments' events (payouts paid or failed, intents finished) from the event
    # stream, in this consumer group, to finish operations at once instead of next round.
    follow_events: bool = True
    events_group: str = "wallet"
