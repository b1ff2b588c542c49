from __future__ import annotations

from shared.settings import DatabaseSettings


class LedgerSettings(DatabaseSettings):
    service = "ledger"

    # Seconds between sweeps that make lapsed holds final (available balances ignore them
    # the moment they lapse; the sweep only tidies the running totals).
    sweep_interval: float = 5.0
    # Seconds between periodic `ledger verify` runs (one run per interval across replicas;
    # 0 turns it off). It reads every account and entry in one snapshot.
    verify_interval: float = 300.0
    max_batch_size: int = 1000
    # Times a transaction is retried after a deadlock or serialization failure.
    max_retries: int = 5
    # Concurrent database transactions that combined single postings run in.
    coalescer_workers: int = 2
    # `ledger.transaction.*` events, one per transaction written or settled. Off by default:
    # measured on the 2-core dev machine they halved batch throughput (every posting becomes
    # an outbox row, two stream entries and an event-log row), and payments and wallets
    # already announce the business events behind their postings.
    transaction_events: bool = False
