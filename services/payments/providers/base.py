from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a provider said about one attempt to take money."""

    kind: Literal["authorized", "declined", "action_required"]
    decline_code: str | None = None
    message: str | None = None
    redirect_url: str | None = None


@dataclass(frozen=True, slots=True)
class TransferOutcome:
    """What a provider said about sending money to a bank account."""

    kind: Literal["paid", "failed", "pending"]
    failure_code: str | None = None
    failure_message: str | None = None


class Provider(Protocol):
    name: str

    async def authorize(
        self, *, intent_id: str, amount: int, currency: str, payment_method: str
    ) -> Outcome: ...

    async def transfer(
        self, *, payout_id: str, amount: int, currency: str, account_number: str, bank_code: str
    ) -> TransferOutcome: ...
