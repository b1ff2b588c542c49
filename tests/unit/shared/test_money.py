"""Money: integer minor units of a lowercase ISO-4217 currency, never a float."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shared.money import (
    CURRENCIES,
    MAX_AMOUNT,
    Amount,
    Currency,
    UnknownCurrencyError,
    minor_unit_exponent,
    normalize_currency,
    to_major_string,
)


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


@pytest.mark.parametrize(
    ("amount", "currency", "major"),
    [(0, "usd", "0.00"), (1, "usd", "0.01"), (100, "usd", "1.00"), (MAX_AMOUNT, "usd",
     "9999999999.99"), (1, "kwd", "0.001"), (-1, "kwd", "-0.001"), (0, "jpy", "0"),
     (-5, "jpy", "-5"), (1_000, "bhd", "1.000")],
)  # fmt: skip
def test_major_strings_are_exact(amount: int, currency: str, major: str) -> None:
    assert to_major_string(amount, currency) == major


@pytest.mark.parametrize(("given", "code"), [("USD", "usd"), (" eur ", "eur"), ("Jpy", "jpy")])
def test_currency_codes_are_read_in_any_case(given: str, code: str) -> None:
    assert normalize_currency(given) == code


@pytest.mark.parametrize("code", ["", "xyz", "us", "usdd", "dollars", "u sd"])
def test_unknown_currencies_are_refused(code: str) -> None:
    with pytest.raises(UnknownCurrencyError, match="ISO-4217"):
        normalize_currency(code)
    with pytest.raises(UnknownCurrencyError):
        minor_unit_exponent(code)


def test_the_table_knows_zero_two_and_three_decimal_currencies() -> None:
    assert set(CURRENCIES.values()) == {0, 2, 3}
    assert all(code == code.lower() and len(code) == 3 for code in CURRENCIES)
    assert (CURRENCIES["krw"], CURRENCIES["ngn"], CURRENCIES["omr"]) == (0, 2, 3)


class Charge(BaseModel):
    amount: Amount


@pytest.mark.parametrize(
    ("text", "amount"), [("1", 1), (" 42 ", 42), (str(MAX_AMOUNT), MAX_AMOUNT)]
)
def test_form_text_of_digits_is_an_amount(text: str, amount: int) -> None:
    assert Charge.model_validate({"amount": text}).amount == amount


@pytest.mark.parametrize("value", ["1.0", "1e3", "", "ten", "-", True, False, 2.0])
def test_form_values_that_are_not_whole_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        Charge.model_validate({"amount": value})


def test_json_amounts_must_be_numbers() -> None:
    assert Charge.model_validate_json('{"amount": 100}', strict=True).amount == 100
    for body in ('{"amount": "100"}', '{"amount": 100.0}', '{"amount": true}'):
        with pytest.raises(ValidationError):
            Charge.model_validate_json(body, strict=True)


def test_the_document_lists_every_currency() -> None:
    schema = Price.model_json_schema()
    assert schema["properties"]["currency"]["enum"] == sorted(CURRENCIES)
