"""shared/ledger_contract: account codes, the accounts behind them, the scope a call acts
in, and opening an account once (a taken code means it is there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from services.ledger.schemas.accounts import AccountCreateRequest
from shared import internal_client, scoped
from shared.internal_client import Answer, CallPolicy, InternalClient, Refused, Upstream
from shared.ledger_contract import (
    Account,
    Scope,
    balance_code,
    clearing_code,
    open_account,
    payments_accounts,
    wallet_account,
    wallet_code,
    withdrawals_account,
    withdrawals_code,
)

SCOPE = Scope("ten_1", livemode=False)


def test_the_codes_the_ledger_knows_the_accounts_by() -> None:
    assert clearing_code("usd") == "payments.clearing.usd"
    assert balance_code("usd") == "payments.balance.usd"
    assert wallet_code("wal_1") == "wallet.wal_1"
    assert withdrawals_code("ngn") == "wallet.withdrawals.ngn"


def test_payments_opens_clearing_then_the_tenant_balance_in_a_currency() -> None:
    clearing, balance = payments_accounts("eur")
    assert clearing == Account("payments.clearing.eur", "Payments clearing (eur)", "asset", "eur")
    assert balance == Account("payments.balance.eur", "Tenant balance (eur)", "liability", "eur")
    assert clearing.body() == {
        "name": "Payments clearing (eur)", "type": "asset", "currency": "eur",
        "code": "payments.clearing.eur",
    }  # fmt: skip


def test_a_wallet_account_never_goes_below_zero_and_names_its_owner() -> None:
    assert wallet_account("wal_1", currency="usd", owner="usr_1").body() == {
        "name": "Wallet wal_1",
        "type": "liability",
        "currency": "usd",
        "no_overdraft": True,
        "code": "wallet.wal_1",
        "metadata": {"wallet": "wal_1", "owner": "usr_1"},
    }


@pytest.mark.parametrize(
    "account",
    [
        *payments_accounts("usd"),
        wallet_account("wal_1", currency="usd", owner="usr_1"),
        withdrawals_account("jpy"),
    ],
    ids=lambda account: account.code,
)
def test_the_ledger_takes_every_account_body(account: Account) -> None:
    taken = AccountCreateRequest.model_validate(account.body())
    assert (taken.code, taken.currency) == (account.code, account.currency)
    assert taken.type == account.type


def test_there_is_one_scope_type_and_it_keys_a_cache() -> None:
    assert Scope is internal_client.Scope is scoped.Scope
    assert Scope("ten_1", False) == SCOPE
    assert len({SCOPE, Scope("ten_1", False), Scope("ten_1", True)}) == 2


class FakeLedger(Upstream):
    """The ledger's account creation as `open_account` sees it: an answer or a refusal."""

    def __init__(self, *, refuse: str | None = None) -> None:
        policy = CallPolicy(timeout=1, connect_timeout=1, attempts=1, backoff=0, backoff_max=0)
        client = InternalClient(None, principal="test", signing_key="k", policy=policy)  # type: ignore[arg-type]
        super().__init__(client, name="ledger", base_url="http://ledger.invalid")
        self.refuse = refuse
        self.calls: list[tuple[str, str, Scope | None, Mapping[str, Any] | None]] = []

    async def call(
        self,
        method: str,
        path: str,
        scope: Scope | None,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        policy: CallPolicy | None = None,
    ) -> Answer:
        self.calls.append((method, path, scope, body))
        if self.refuse is not None:
            status = 409 if self.refuse == "code_taken" else 400
            raise Refused("ledger", status, {"error": {"code": self.refuse, "message": "no"}})
        return Answer(201, {"id": "acc_1", **(body or {})})


async def test_opening_an_account_creates_it_by_code() -> None:
    ledger = FakeLedger()
    account = withdrawals_account("usd")
    created = await open_account(ledger, SCOPE, account)
    assert created is not None
    assert created["code"] == "wallet.withdrawals.usd"
    assert ledger.calls == [("POST", "/ledger/accounts", SCOPE, account.body())]


async def test_a_taken_code_means_the_account_is_there() -> None:
    ledger = FakeLedger(refuse="code_taken")
    assert await open_account(ledger, SCOPE, withdrawals_account("usd")) is None
    assert len(ledger.calls) == 1


async def test_any_other_refusal_is_the_callers_to_handle() -> None:
    ledger = FakeLedger(refuse="parameter_invalid")
    with pytest.raises(Refused) as refused:
        await open_account(ledger, SCOPE, withdrawals_account("usd"))
    assert refused.value.reason_code == "parameter_invalid"
