"""After a change commits, the postings it owes: a request that delivers its posting itself
does not wake the background relay first (which raced it for the very row, and a request
that lost waited, polling, for the relay's post); what it could not deliver wakes it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from services.payments.service.steps import hand_over

if TYPE_CHECKING:
    from services.payments.service.ledger_relay import LedgerRelay


class Recording:
    """The relay's two doors a hand-over uses, recorded in order."""

    def __init__(self, *, delivers: bool) -> None:
        self.delivers = delivers
        self.calls: list[str] = []
        self.settings = SimpleNamespace(ledger_wait=0.1)

    def wake(self) -> None:
        self.calls.append("wake")

    async def deliver(self, reference_id: str, *, wait: float) -> bool:
        self.calls.append(f"deliver {reference_id}")
        return self.delivers


async def test_a_delivered_posting_does_not_wake_the_relay() -> None:
    relay = Recording(delivers=True)
    await hand_over(cast("LedgerRelay", relay), ("pi_1",), deliver=True)
    assert relay.calls == ["deliver pi_1"]


async def test_a_posting_the_request_could_not_deliver_wakes_the_relay_after() -> None:
    relay = Recording(delivers=False)
    await hand_over(cast("LedgerRelay", relay), ("pi_1",), deliver=True)
    assert relay.calls == ["deliver pi_1", "wake"]


async def test_without_delivery_the_relay_is_woken() -> None:
    relay = Recording(delivers=True)
    await hand_over(cast("LedgerRelay", relay), ("re_1",))
    assert relay.calls == ["wake"]
