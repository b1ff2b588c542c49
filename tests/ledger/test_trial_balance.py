"""`GET /ledger/trial_balance`: per currency, the posted debits and credits of every account of
the caller's tenant and mode, summed in the database; equal in a double-entry ledger."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.ledger import (
    ELSEWHERE,
    as_tenant,
    fund_wallet,
    hold,
    open_books,
    transfer,
)


async def trial_balance(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get("/ledger/trial_balance", headers=headers or as_tenant())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def line(report: dict[str, Any], currency: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        row for row in report["currencies"] if row["currency"] == currency
    ]
    assert len(found) == 1, report
    return found[0]


async def test_a_fresh_tenant_has_no_lines_and_balances(client: httpx.AsyncClient) -> None:
    report = await trial_balance(client)
    assert report == {
        "object": "ledger.trial_balance",
        "currencies": [],
        "balanced": True,
        "livemode": False,
    }


async def test_sums_posted_debits_and_credits_per_currency(client: httpx.AsyncClient) -> None:
    await open_books(client)
    await fund_wallet(client, 5000)  # cash debit 5000, wallet credit 5000
    await transfer(
        client, as_tenant(), debit="cash", credit="sales", amount=1200, reference_id="sale"
    )
    await transfer(
        client, as_tenant(), debit="wallet", credit="merchant", amount=700, reference_id="pay"
    )
    await transfer(
        client, as_tenant(), debit="cash_eur", credit="sales_eur", amount=900, reference_id="eur"
    )

    report = await trial_balance(client)

    assert [row["currency"] for row in report["currencies"]] == ["eur", "usd"]
    assert line(report, "usd") == {
        "currency": "usd",
        "accounts": 4,
        "debits": 5000 + 1200 + 700,
        "credits": 5000 + 1200 + 700,
        "difference": 0,
        # cash is 6200 on the debit side; wallet 4300, sales 1200, merchant 700 on the credit.
        "debit_balances": 6200,
        "credit_balances": 4300 + 1200 + 700,
        "balanced": True,
    }
    assert line(report, "eur") == {
        "currency": "eur",
        "accounts": 2,
        "debits": 900,
        "credits": 900,
        "difference": 0,
        "debit_balances": 900,
        "credit_balances": 900,
        "balanced": True,
    }
    assert report["balanced"] is True


async def test_pending_holds_are_not_counted_until_posted(client: httpx.AsyncClient) -> None:
    await open_books(client)
    await fund_wallet(client, 3000)
    await hold(client, 1000)

    usd = line(await trial_balance(client), "usd")

    assert (usd["debits"], usd["credits"], usd["balanced"]) == (3000, 3000, True)


@pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
async def test_another_tenant_or_mode_sees_none_of_it(
    client: httpx.AsyncClient, tenant_id: str, livemode: bool
) -> None:
    await open_books(client)
    await fund_wallet(client, 2500)

    report = await trial_balance(client, as_tenant(tenant_id, livemode=livemode))

    assert report["currencies"] == []
    assert report["livemode"] is livemode
