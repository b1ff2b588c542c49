"""The seeds' calls as their users write them, against the whole stack through the gateway.

Seed 003 (the gateway/ledger README) and seed 000 (the wallet service README) are what people
copy from; each call here is theirs, with only the host and the secrets filled in.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.accounts import PASSWORD, create_key, key_headers, register, unique_email
from tests.e2e.stack import RunningStack

pytestmark = pytest.mark.e2e

SEED_003_TRANSACTION = {
    "reference_id": "pay_987",
    "description": "Payment for Service",
    "entries": [
        {"account_id": "acc_revenue", "amount": 100, "direction": "credit"},
        {"account_id": "acc_assets", "amount": -100, "direction": "debit"},
    ],
}


def test_seed_003_ledger_example_on_a_fresh_tenant_says_how_to_name_accounts(
    gw: httpx.Client,
) -> None:
    owner = register(gw)
    key = create_key(gw, owner)["secret"]
    response = gw.post("/ledger/transactions", json=SEED_003_TRANSACTION, headers=key_headers(key))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["param"] == "entries[0][account_id]"
    assert "acc_revenue" in error["message"]
    assert '"code": "acc_revenue"' in error["message"]
    assert "POST /ledger/accounts" in error["message"]
    # Doing what the message says makes the seed's call work as written.
    for code, kind in (("acc_revenue", "revenue"), ("acc_assets", "asset")):
        made = gw.post(
            "/ledger/accounts",
            json={"name": code, "type": kind, "currency": "usd", "code": code},
            headers=key_headers(key),
        )
        assert made.status_code == 201, made.text
    again = gw.post("/ledger/transactions", json=SEED_003_TRANSACTION, headers=key_headers(key))
    assert again.status_code == 201, again.text


def test_an_unknown_account_id_gets_no_code_hint(gw: httpx.Client) -> None:
    owner = register(gw)
    key = create_key(gw, owner)["secret"]
    response = gw.get("/ledger/accounts/acc_01jd0000000000000000000000", headers=key_headers(key))
    assert response.status_code == 404
    assert "code" not in response.json()["error"]["message"]


@pytest.mark.parametrize("field", ["tenant_id", "tenant"])
def test_seed_000_signup_names_the_tenant_either_way(gw: httpx.Client, field: str) -> None:
    owner = register(gw)
    email = unique_email("seed000")
    response = gw.post(
        "/api/auth/signup",
        json={"email": email, "password": PASSWORD, field: owner.tenant_id},
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert (user["email"], user["tenant_id"], user["role"]) == (email, owner.tenant_id, "USER")


def test_signup_with_two_different_tenants_is_refused_in_plain_words(gw: httpx.Client) -> None:
    owner, other = register(gw), register(gw)
    response = gw.post(
        "/auth/signup",
        json={
            "email": unique_email("both"),
            "password": PASSWORD,
            "tenant": owner.tenant_id,
            "tenant_id": other.tenant_id,
        },
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "tenant_id" in message
    assert "Value error" not in message


def test_signup_without_a_tenant_names_the_param(gw: httpx.Client) -> None:
    response = gw.post("/auth/signup", json={"email": unique_email("none"), "password": PASSWORD})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Missing required param: tenant."


@pytest.mark.parametrize("bearer", ["sk_your_key", "sk_", "sk_test_nope", "sk_live_" + "x" * 30])
def test_seed_003_placeholder_key_is_an_invalid_api_key(
    stack: RunningStack, gw: httpx.Client, bearer: str
) -> None:
    """Seed 003's `Authorization: Bearer sk_your_key`, and other keys that are not keys."""
    response = gw.post(
        "/payments/payment_intents",
        headers={"Authorization": f"Bearer {bearer}", "Idempotency-Key": "unique_req_123"},
        content=b'{"amount": 5000, "currency": "usd"}',
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("Invalid API key provided")
    assert bearer not in error["message"] or len(bearer) <= 3
