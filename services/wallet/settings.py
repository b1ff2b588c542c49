from __future__ import annotations

from shared.settings import HTTP_PORTS, DatabaseSettings


class WalletSettings(DatabaseSettings):
    service = "wallet"

    # The ledger and payments services, called directly with an internal identity (never via
    # the gateway): balances come from the ledger, card money and bank payouts from payments.
    ledger_url: str = f"http://127.0.0.1:{HTTP_PORTS['ledger']}"
    payments_url: str = f"http://127.0.0.1:{HTTP_PORTS['payments']}"
    # Seconds one call to the ledger or payments may take before the step is left for the
    # recovery job (every step is idempotent, so a late answer never doubles anything).
    upstream_timeout: float = 10.0
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
