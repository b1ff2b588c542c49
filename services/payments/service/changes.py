"""What a change made, and what it owes the ledger: one shape for every change of payments.

An intent's success, a refund, a payout paid or reversed, a webhook or a reconciliation round
that settled one of those: each writes its ledger posting into the outbox in the change's own
transaction and says so in `owes` (the postings' references). Once the transaction commits,
`service/steps.py` wakes the relay for them (and an intent's success waits, bounded, for the
ledger to take its posting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.errors import MicroError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    value: T
    # The references of the postings the change wrote to the ledger outbox.
    owes: tuple[str, ...] = ()
    # Committed, then raised: a decline changes the intent and is still an error to answer.
    error: MicroError | None = None
