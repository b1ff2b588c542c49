"""Settlement matching as pure logic: how provider lines and Micro's objects pair, and what
each pair is judged; the period's words; settlement files read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.payments.providers.base import Settled, SettledStatus, attempt_reference
from services.payments.repository.reconciliations import AttemptSide, PayoutSide, RefundSide
from services.payments.schemas_settlement import ReconciliationRequest
from services.payments.service.settlement import (
    CsvInvalidError,
    MicroSide,
    Pair,
    _charge,
    _payout,
    _refund,
    judge,
    pair,
    period,
    read_csv,
    to_post,
)
from shared.errors import InvalidRequestError

START = datetime(2026, 12, 1, tzinfo=UTC)
END = START + timedelta(days=1)
NOON = START + timedelta(hours=12)


def intent(
    id: str, status: str = "succeeded", attempts: int = 1, *, created_at: datetime = NOON,
    hosted: bool = True,
) -> list[AttemptSide]:  # fmt: skip
    """An intent's attempts as `payment_attempts` keeps them (the earlier ones failed)."""
    return [_attempt(id, n, attempts, status, created_at, hosted) for n in range(1, attempts + 1)]


def _attempt(
    id: str, n: int, attempts: int, status: str, created_at: datetime, hosted: bool
) -> AttemptSide:
    reference = attempt_reference(id, n) if hosted else id
    earlier = "failed" if n < attempts else "pending"
    return AttemptSide(id, n, reference, earlier, created_at, 5000, "ngn", status, n == attempts)


def charge(
    reference: str, amount: int = 5000, status: SettledStatus = "succeeded", *,
    currency: str = "ngn", created: datetime = NOON,
) -> Settled:  # fmt: skip
    return Settled("charge", reference, "1", amount, currency, status, created)


def micro_of(
    *intents: list[AttemptSide], refunds: tuple[RefundSide, ...] = (),
    payouts: tuple[PayoutSide, ...] = (),
) -> MicroSide:  # fmt: skip
    side = MicroSide()
    for attempts in intents:
        for attempt in attempts:
            side.charges[attempt.provider_reference] = _charge(attempt, start=START, end=END)
    side.refunds = [_refund(r, start=START, end=END) for r in refunds]
    side.transfers = {p.id: _payout(p, start=START, end=END) for p in payouts}
    return side


def kinds(
    records: list[Settled], micro: MicroSide, posted: set[str] | None = None
) -> list[tuple[str, str, list[str]]]:
    pairs = pair(records, micro, start=START, end=END)
    posted = set(to_post(pairs)) if posted is None else posted
    return [(kind, _reference(p), fields) for kind, p, fields in judge(pairs, posted)]


def _reference(each: Pair) -> str:
    if each.micro is not None:
        return each.micro.reference
    assert each.provider is not None
    return each.provider.reference or ""


def test_agreeing_sides_match() -> None:
    assert kinds([charge("pi_a")], micro_of(intent("pi_a"))) == [("MATCHED", "pi_a", [])]


def test_each_difference_is_named() -> None:
    found = kinds(
        [charge("pi_a", amount=1), charge("pi_b", currency="usd"), charge("pi_c", status="failed")],
        micro_of(intent("pi_a"), intent("pi_b"), intent("pi_c")),
    )
    assert found == [
        ("MISMATCHED", "pi_a", ["amount"]),
        ("MISMATCHED", "pi_b", ["currency"]),
        ("MISMATCHED", "pi_c", ["status"]),
    ]


def test_a_settled_intent_without_its_posting_is_a_ledger_mismatch() -> None:
    assert kinds([charge("pi_a")], micro_of(intent("pi_a")), posted=set()) == [
        ("MISMATCHED", "pi_a", ["ledger"])
    ]
    # An authorization not yet captured owes no posting.
    held = kinds(
        [charge("pi_a")], micro_of(intent("pi_a", status="requires_capture")), posted=set()
    )
    assert held == [("MATCHED", "pi_a", [])]


def test_only_money_that_moved_is_reported_missing() -> None:
    micro = micro_of(intent("pi_paid"), intent("pi_waiting", status="requires_action"))
    found = kinds([charge("pi_stranger"), charge("pi_abandoned", status="pending")], micro)
    assert found == [
        ("MISSING_IN_MICRO", "pi_stranger", []),
        ("MISSING_AT_PROVIDER", "pi_paid", []),
    ]


def test_outside_the_period_is_not_missing_but_still_matches() -> None:
    early = START - timedelta(hours=3)
    micro = micro_of(intent("pi_old", created_at=early), intent("pi_edge"))
    found = kinds([charge("pi_before", created=early), charge("pi_edge", created=early)], micro)
    assert found == [("MATCHED", "pi_edge", [])]


def test_attempts_have_references_of_their_own() -> None:
    micro = micro_of(intent("pi_a", attempts=3))
    found = kinds(
        [charge("pi_a", status="failed"), charge("pi_a-2", status="failed"), charge("pi_a-3")],
        micro,
    )
    assert [f[0] for f in found] == ["MATCHED", "MATCHED", "MATCHED"]
    # The simulator is asked under the intent id, whatever the attempt.
    assert list(micro_of(intent("pi_b", attempts=2, hosted=False)).charges) == ["pi_b"]


def test_a_reference_listed_twice_is_money_taken_twice() -> None:
    found = kinds([charge("pi_a"), charge("pi_a")], micro_of(intent("pi_a")))
    assert found == [("MATCHED", "pi_a", []), ("MISSING_IN_MICRO", "pi_a", [])]


def test_refunds_match_by_the_providers_id_then_by_charge_and_amount() -> None:
    refunds = (
        RefundSide("re_1", "pi_a", 1000, "ngn", "succeeded", "PRF_9", NOON),
        RefundSide("re_2", "pi_a", 2000, "ngn", "succeeded", None, NOON),
        RefundSide("re_3", "pi_a", 500, "ngn", "succeeded", None, NOON),
    )
    micro = micro_of(intent("pi_a"), refunds=refunds)
    records = [
        charge("pi_a"),
        Settled("refund", None, "PRF_9", 900, "ngn", "succeeded", NOON),  # by id: amount differs
        Settled("refund", "pi_a", "PRF_10", 2000, "ngn", "succeeded", NOON),  # by charge + amount
    ]
    pairs = pair(records, micro, start=START, end=END)
    judged = judge(pairs, set(to_post(pairs)))
    assert [(k, p.micro.micro_id if p.micro else None, f) for k, p, f in judged] == [
        ("MATCHED", "pi_a", []),
        ("MISMATCHED", "re_1", ["amount"]),
        ("MATCHED", "re_2", []),
        ("MISSING_AT_PROVIDER", "re_3", []),
    ]


def test_a_wallets_payout_owes_payments_no_posting() -> None:
    payouts = (
        PayoutSide("po_1", 700, "ngn", "paid", "wal_1", NOON),
        PayoutSide("po_2", 700, "ngn", "paid", None, NOON),
    )
    micro = micro_of(payouts=payouts)
    records = [Settled("transfer", p.id, None, 700, "ngn", "succeeded", NOON) for p in payouts]
    assert to_post(pair(records, micro, start=START, end=END)) == ["po_2"]


def request(start: object, end: object) -> ReconciliationRequest:
    return ReconciliationRequest.model_validate({"provider": "paystack", "from": start, "to": end})


def test_a_date_as_the_end_includes_its_whole_day() -> None:
    assert period(request("2026-12-01", "2026-12-01")) == (START, END)
    assert period(request("2026-12-01T00:00:00Z", 1796169600)) == (START, END)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-12-02", "2026-12-01"),
        ("2026-01-01", "2026-06-01"),
        ("2026-02-30", "2026-03-01"),
        ("soon", "2026-03-01"),
    ],
)
def test_bad_periods_are_refused(start: str, end: str) -> None:
    with pytest.raises(InvalidRequestError):
        period(request(start, end))


def test_a_settlement_file_is_read_in_minor_units_and_our_words() -> None:
    text = "\ufeffType,Reference,Amount,Currency,Status,Extra\nCharge,pi_a,5000,NGN,Succeeded,x\n"
    assert read_csv(text) == [Settled("charge", "pi_a", None, 5000, "ngn", "succeeded", None)]
    with pytest.raises(CsvInvalidError, match="Line 2: amount"):
        read_csv("type,reference,amount,currency,status\ncharge,pi_a,50.00,ngn,succeeded\n")
