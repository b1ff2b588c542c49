"""The wallet's request bodies, parsed as the routes parse JSON: what each movement accepts."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet.schemas import (
    CreateWalletRequest,
    DepositRequest,
    TransferRequest,
    WithdrawRequest,
)
from shared.body import validate
from shared.errors import InvalidRequestError

BANK = {"account_number": "0123456789", "bank_code": "058"}


def refused(model: type[Any], body: dict[str, Any]) -> tuple[str | None, str]:
    with pytest.raises(InvalidRequestError) as caught:
        validate(model, body, typed=True)
    return caught.value.param, caught.value.code


class TestDeposit:
    def test_the_simulator_pays_with_its_test_card_by_default(self) -> None:
        found = validate(DepositRequest, {"wallet_id": "wal_1", "amount": 100}, typed=True)
        assert (found.provider, found.payment_method) == ("simulator", "pm_card_visa")

    def test_a_hosted_provider_leaves_the_method_to_the_customer(self) -> None:
        body = {"wallet_id": "wal_1", "amount": 100, "provider": "paystack"}
        assert validate(DepositRequest, body, typed=True).payment_method is None

    @pytest.mark.parametrize("amount", [0, -1, 100_000_000, 12.5, "100", True])
    def test_an_amount_outside_what_payments_takes_is_refused(self, amount: Any) -> None:
        body = {"wallet_id": "wal_1", "amount": amount}
        assert refused(DepositRequest, body)[0] == "amount"

    def test_the_largest_card_amount_is_eight_digits(self) -> None:
        body = {"wallet_id": "wal_1", "amount": 99_999_999}
        assert validate(DepositRequest, body, typed=True).amount == 99_999_999

    @pytest.mark.parametrize(
        ("fields", "param"),
        [
            ({"payment_method": "visa"}, "payment_method"),
            ({"provider": "Nope!"}, "provider"),
            ({"wallet_id": ""}, "wallet_id"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_bad_fields_name_themselves(self, fields: dict[str, Any], param: str) -> None:
        body = {"wallet_id": "wal_1", "amount": 100, **fields}
        assert refused(DepositRequest, body)[0] == param


class TestTransfer:
    def test_one_wallet_on_both_sides_is_refused(self) -> None:
        body = {"from_wallet_id": "wal_1", "to_wallet_id": "wal_1", "amount": 5}
        assert refused(TransferRequest, body)[0] == "to_wallet_id"

    def test_a_transfer_may_move_more_than_a_card_payment(self) -> None:
        body = {"from_wallet_id": "wal_1", "to_wallet_id": "wal_2", "amount": 100_000_000}
        assert validate(TransferRequest, body, typed=True).amount == 100_000_000

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({}, "from_wallet_id"),
            ({"from_wallet_id": "wal_a"}, "to_wallet_id"),
            ({"from_wallet_id": "wal_a", "to_wallet_id": "wal_b"}, "amount"),
        ],
    )
    def test_a_missing_field_is_named(self, body: dict[str, Any], param: str) -> None:
        assert refused(TransferRequest, body) == (param, "parameter_missing")


class TestWithdraw:
    def test_bank_details_nested(self) -> None:
        body = {"wallet_id": "wal_1", "amount": 100, "destination": BANK}
        found = validate(WithdrawRequest, body, typed=True)
        assert found.destination.model_dump(exclude_none=True) == BANK

    def test_bank_details_flat_as_seed_clients_send_them(self) -> None:
        body = {"wallet_id": "wal_1", "amount": 100, **BANK, "account_name": "Ada Obi"}
        found = validate(WithdrawRequest, body, typed=True)
        assert found.destination.model_dump() == {**BANK, "account_name": "Ada Obi"}

    @pytest.mark.parametrize(
        ("destination", "param", "code"),
        [
            ({**BANK, "account_number": "123"}, "account_number", "parameter_invalid"),
            ({**BANK, "account_number": "012345678a"}, "account_number", "parameter_invalid"),
            ({**BANK, "bank_code": "5"}, "bank_code", "parameter_invalid"),
            ({"account_number": "0123456789"}, "bank_code", "parameter_missing"),
        ],
    )
    def test_a_bad_destination_names_the_bank_field(
        self, destination: dict[str, Any], param: str, code: str
    ) -> None:
        body = {"wallet_id": "wal_1", "amount": 100, "destination": destination}
        assert refused(WithdrawRequest, body) == (f"destination[{param}]", code)

    def test_no_destination_at_all_is_refused(self) -> None:
        assert refused(WithdrawRequest, {"wallet_id": "wal_1", "amount": 100}) == (
            "destination",
            "parameter_missing",
        )


class TestCreateWallet:
    def test_the_currency_is_kept_in_lower_case_and_the_owner_is_optional(self) -> None:
        found = validate(CreateWalletRequest, {"currency": "NGN"}, typed=True)
        assert (found.owner, found.currency, found.metadata) == (None, "ngn", {})

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"owner": "x"}, "currency"),
            ({"owner": "x", "currency": "zzz"}, "currency"),
            ({"owner": "", "currency": "usd"}, "owner"),
            ({"owner": "x" * 201, "currency": "usd"}, "owner"),
            ({"currency": "usd", "metadata": "no"}, "metadata"),
        ],
    )
    def test_bad_input_names_its_field(self, body: dict[str, Any], param: str) -> None:
        assert refused(CreateWalletRequest, body)[0] == param
