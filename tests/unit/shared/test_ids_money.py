"""Identifiers and money, the two primitives every service shares."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shared.ids import id_timestamp_ms, is_id, new_id
from shared.money import MAX_AMOUNT, Amount, Currency, minor_unit_exponent, to_major_string


def test_ids_are_prefixed_unique_and_time_sortable() -> None:
    earlier = [new_id("pi", at_ms=1_700_000_000_000 + n) for n in range(200)]
    assert all(is_id(i, "pi") for i in earlier)
    assert sorted(earlier) == earlier
    assert len({new_id("pi") for _ in range(10_000)}) == 10_000
    assert id_timestamp_ms(new_id("evt", at_ms=1_712_345_678_901)) == 1_712_345_678_901


def test_ids_sort_the_same_under_any_collation() -> None:
    # Lowercase letters and digits only: "C" and natural-language collations agree.
    value = new_id("acc")
    assert value == value.lower()


@pytest.mark.parametrize("bad", ["pi_", "pi_xyz", "acc_" + "0" * 26, "pi_" + "U" * 26, 42, None])
def test_is_id_rejects_foreign_or_malformed(bad: object) -> None:
    assert not is_id(bad, "pi")


def test_bad_prefix_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id("Bad-Prefix")


@pytest.mark.parametrize(
    ("currency", "exponent", "amount", "major"),
    [("usd", 2, 5000, "50.00"), ("JPY", 0, 5000, "5000"), ("kwd", 3, 1234, "1.234"),
     ("ngn", 2, 5, "0.05"), ("usd", 2, -250, "-2.50")],
)  # fmt: skip
def test_minor_units(currency: str, exponent: int, amount: int, major: str) -> None:
    assert minor_unit_exponent(currency) == exponent
    assert to_major_string(amount, currency) == major


class Price(BaseModel):
    amount: Amount
    currency: Currency


def test_amount_and_currency_validation() -> None:
    assert Price(amount=1, currency=" USD ").currency == "usd"
    assert Price(amount=MAX_AMOUNT, currency="usd").amount == MAX_AMOUNT
    for amount in (0, -1, MAX_AMOUNT + 1, 1.5, "1e3"):
        with pytest.raises(ValidationError):
            Price.model_validate({"amount": amount, "currency": "usd"})
    for currency in ("xyz", "us", "dollars", ""):
        with pytest.raises(ValidationError):
            Price(amount=1, currency=currency)
