"""`GET /ledger/balance` (and Stripe's `GET /v1/balance` behind it): the tenant's balance per
currency, read from the accounts payments posts to, as payments posts to them
(shared/ledger_contract.py). Available: posted and not held on its way out. Pending: held on
its way in. Wallets' money and the tenant's own accounts are not in it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from shared.ledger_contract import (
    Account,
    Posting,
    balance_code,
    clearing_code,
    payments_accounts,
    wallet_account,
    wallet_code,
)
from tests.support.asgi import identity_headers
from tests.support.ledger import (
    ELSEWHERE,
    TENANT,
    as_service,
    as_tenant,
    assert_error,
    create_account,
)


async def open_accounts(
    client: httpx.AsyncClient, *accounts: Account, headers: dict[str, str] | None = None
) -> None:
    for account in accounts:
        response = await client.post(
            "/ledger/accounts", json=account.body(), headers=headers or as_service()
        )
        assert response.status_code == 201, response.text


async def post(
    client: httpx.AsyncClient, posting: Posting, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/ledger/transactions", json=posting.body(), headers=headers or as_service()
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def payment(reference: str, amount: int, currency: str = "usd") -> Posting:
    """What a succeeded payment intent posts (services/payments/service/intents.py)."""
    return Posting(
        reference_id=reference,
        description=f"Payment {reference}",
        metadata={"payment_intent": reference},
        debit=clearing_code(currency),
        credit=balance_code(currency),
        amount=amount,
        currency=currency,
    )


def outgoing(reference: str, amount: int, currency: str = "usd", *, pending: bool) -> Posting:
    """What a refund or a paid payout posts: the balance debited."""
    return Posting(
        reference_id=reference,
        description=f"Out {reference}",
        metadata={},
        debit=balance_code(currency),
        credit=clearing_code(currency),
        amount=amount,
        currency=currency,
        pending=pending,
    )


async def get_balance(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get("/ledger/balance", headers=headers or as_tenant())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def amounts(balance: dict[str, Any], side: str) -> dict[str, int]:
    """currency -> amount, checking each entry's shape and its card part."""
    found = {}
    for entry in balance[side]:
        assert set(entry) == {"amount", "currency", "source_types"}
        assert entry["source_types"] == {"card": entry["amount"]}
        found[entry["currency"]] = entry["amount"]
    return found


class TestBalance:
    async def test_a_tenant_with_no_payments_has_an_empty_balance(
        self, client: httpx.AsyncClient
    ) -> None:
        assert await get_balance(client) == {
            "object": "balance",
            "available": [],
            "pending": [],
            "livemode": False,
        }

    async def test_payments_are_available_less_refunds_and_payouts(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_accounts(client, *payments_accounts("usd"))
        await post(client, payment("pi_1", 5000))
        await post(client, payment("pi_2", 2500))
        await post(client, outgoing("re_1", 1200, pending=False))
        balance = await get_balance(client)
        assert balance["object"] == "balance"
        assert balance["livemode"] is False
        assert amounts(balance, "available") == {"usd": 6300}
        assert amounts(balance, "pending") == {"usd": 0}

    async def test_one_entry_per_currency_in_both_lists(self, client: httpx.AsyncClient) -> None:
        for currency in ("usd", "eur", "ngn"):
            await open_accounts(client, *payments_accounts(currency))
        await post(client, payment("pi_usd", 100, "usd"))
        await post(client, payment("pi_eur", 200, "eur"))
        balance = await get_balance(client)
        assert [entry["currency"] for entry in balance["available"]] == ["eur", "ngn", "usd"]
        assert [entry["currency"] for entry in balance["pending"]] == ["eur", "ngn", "usd"]
        assert amounts(balance, "available") == {"eur": 200, "ngn": 0, "usd": 100}

    async def test_a_hold_on_its_way_out_leaves_available_at_once(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_accounts(client, *payments_accounts("usd"))
        await post(client, payment("pi_1", 5000))
        hold = await post(client, outgoing("po_1", 2000, pending=True))
        assert amounts(await get_balance(client), "available") == {"usd": 3000}
        voided = await client.post(f"/ledger/transactions/{hold['id']}/void", headers=as_service())
        assert voided.status_code == 200, voided.text
        assert amounts(await get_balance(client), "available") == {"usd": 5000}

    async def test_a_hold_on_its_way_in_is_pending_until_posted(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_accounts(client, *payments_accounts("usd"))
        hold = await post(client, replace(payment("pi_1", 700), pending=True))
        balance = await get_balance(client)
        assert amounts(balance, "available") == {"usd": 0}
        assert amounts(balance, "pending") == {"usd": 700}
        posted = await client.post(
            f"/ledger/transactions/{hold['id']}/post", json={}, headers=as_service()
        )
        assert posted.status_code == 200, posted.text
        balance = await get_balance(client)
        assert amounts(balance, "available") == {"usd": 700}
        assert amounts(balance, "pending") == {"usd": 0}

    async def test_a_negative_balance_is_shown_as_it_is(self, client: httpx.AsyncClient) -> None:
        # A refund relayed before its payment (or more paid out than came in) is owed back:
        # Stripe shows a negative available balance too.
        await open_accounts(client, *payments_accounts("usd"))
        await post(client, outgoing("re_1", 300, pending=False))
        assert amounts(await get_balance(client), "available") == {"usd": -300}

    async def test_wallets_and_the_tenants_own_accounts_are_not_in_it(
        self, client: httpx.AsyncClient
    ) -> None:
        await open_accounts(
            client,
            *payments_accounts("usd"),
            wallet_account("wal_1", currency="usd", owner="usr_1"),
        )
        # A payment into a wallet credits the wallet's account, not the tenant's balance.
        into_wallet = payment("pi_w", 900)
        await post(client, replace(into_wallet, credit=wallet_code("wal_1")))
        # Accounts whose code only looks like a balance: another currency's code, a longer one.
        await create_account(client, as_service(), code="payments.balance.eur", currency="usd")
        await create_account(client, as_service(), code="payments.balance.usd.extra")
        await create_account(client, as_tenant(), code="balance.usd", type="liability")
        balance = await get_balance(client)
        assert amounts(balance, "available") == {"usd": 0}
        assert amounts(balance, "pending") == {"usd": 0}

    @pytest.mark.parametrize(("tenant_id", "livemode"), ELSEWHERE)
    async def test_another_tenant_or_mode_sees_only_its_own(
        self, client: httpx.AsyncClient, tenant_id: str, livemode: bool
    ) -> None:
        await open_accounts(client, *payments_accounts("usd"))
        await post(client, payment("pi_1", 5000))
        elsewhere = as_tenant(tenant_id, livemode=livemode)
        assert await get_balance(client, elsewhere) == {
            "object": "balance",
            "available": [],
            "pending": [],
            "livemode": livemode,
        }
        await open_accounts(
            client, *payments_accounts("usd"), headers=as_service(tenant_id, livemode=livemode)
        )
        await post(client, payment("pi_1", 40), as_service(tenant_id, livemode=livemode))
        assert amounts(await get_balance(client, elsewhere), "available") == {"usd": 40}
        assert amounts(await get_balance(client), "available") == {"usd": 5000}

    async def test_a_tenant_admins_session_reads_it(self, client: httpx.AsyncClient) -> None:
        await open_accounts(client, *payments_accounts("usd"))
        await post(client, payment("pi_1", 5000))
        admin = identity_headers(
            tenant_id=TENANT, principal="usr_1", principal_type="user", role="TENANT_ADMIN"
        )
        assert amounts(await get_balance(client, admin), "available") == {"usd": 5000}

    async def test_query_parameters_change_nothing(self, client: httpx.AsyncClient) -> None:
        # Stripe's retrieve takes no parameters, and ignores a stray one on this read.
        await open_accounts(client, *payments_accounts("usd"))
        response = await client.get("/ledger/balance?currency=eur", headers=as_tenant())
        assert response.status_code == 200
        assert amounts(response.json(), "available") == {"usd": 0}

    async def test_without_an_identity_it_is_refused(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ledger/balance")
        assert_error(response, 401, "identity_missing", None)

    async def test_only_get(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/ledger/balance", json={}, headers=as_tenant())
        assert_error(response, 405, "method_not_allowed", None)
