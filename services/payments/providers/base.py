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


class Provider(Protocol):
    name: str

    async def authorize(
        self, *, intent_id: str, amount: int, currency: str, payment_method: str
    ) -> Outcome: ...
