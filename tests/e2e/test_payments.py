"""Payments through the gateway, and the money landing in the ledger exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import create_key, key_headers, register
from tests.e2e.stack import RunningStack
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e


def balance(gw: httpx.Client, secret: str, code: str, headers: dict[str, str] | None = None) -> Any:
    response = gw.get(f"/ledger/accounts/{code}", headers=headers or key_headers(secret))
    if response.status_code == 404:
        return None
    body: dict[str, Any] = response.json()["balance"]
    return body


def wait_for_balance(gw: httpx.Client, secret: str, code: str, expected: int) -> None:
    def reached() -> bool:
        found = balance(gw, secret, code)
        return found is not None and found["posted"] == expected

    eventually(reached, what=lambda: f"{code} at {expected}: {balance(gw, secret, code)}")


def test_the_seed_documents_payment_call(stack: RunningStack, gw: httpx.Client) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    owner = register(gw)
    secret = create_key(gw, owner)["secret"]
    call = [
        curl, "-s", "-X", "POST", f"{stack.gateway}/payments/payment_intents",
        "-H", f"Authorization: Bearer {secret}",
        "-H", "Idempotency-Key: unique_req_123",
        "-d", '{"amount": 5000, "currency": "usd"}',
    ]  # fmt: skip
    first = json.loads(subprocess.run(call, capture_output=True, text=True, check=True).stdout)
    again = json.loads(subprocess.run(call, capture_output=True, text=True, check=True).stdout)
    assert first["object"] == "payment_intent"
    assert (first["amount"], first["currency"]) == (5000, "usd")
    assert again["id"] == first["id"]


def test_a_confirmed_payment_lands_in_the_ledger_once(gw: httpx.Client) -> None:
    owner = register(gw)
    secret = create_key(gw, owner)["secret"]
    headers = key_headers(secret)
    intent = gw.post(
        "/payments/payment_intents",
        json={"amount": 5000, "currency": "usd"},
        headers={**headers, "Idempotency-Key": "checkout-1"},
    ).json()
    confirmed = gw.post(
        f"/payments/payment_intents/{intent['id']}/confirm",
        json={"payment_method": "pm_card_visa"},
        headers=headers,
    )
    assert confirmed.json()["status"] == "succeeded"
    wait_for_balance(gw, secret, "payments.balance.usd", 5000)
    wait_for_balance(gw, secret, "payments.clearing.usd", 5000)
    again = gw.post(
        f"/payments/payment_intents/{intent['id']}/confirm",
        json={"payment_method": "pm_card_visa"},
        headers=headers,
    )
    assert again.status_code == 400
    time.sleep(1.5)  # a relay round: nothing more may arrive
    assert balance(gw, secret, "payments.balance.usd") == {
        "posted": 5000,
        "pending_debits": 0,
        "pending_credits": 0,
        "available": 5000,
    }
    postings = gw.get(f"/ledger/transactions?reference_id={intent['id']}", headers=headers).json()[
        "data"
    ]
    assert len(postings) == 1


def test_a_decline_through_the_gateway_is_402(gw: httpx.Client) -> None:
    owner = register(gw)
    secret = create_key(gw, owner)["secret"]
    response = gw.post(
        "/payments/payment_intents",
        json={
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_chargeDeclined",
            "confirm": True,
        },
        headers=key_headers(secret),
    )
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "card_error"


def test_a_wallet_deposit_is_in_the_balance_when_confirm_answers(gw: httpx.Client) -> None:
    owner = register(gw)
    headers = key_headers(create_key(gw, owner)["secret"])
    wallet = gw.post("/wallet", json={"owner": "cus_e2e", "currency": "usd"}, headers=headers)
    assert wallet.status_code == 201, wallet.text
    wallet_id = wallet.json()["id"]
    # Only the wallet service opens a wallet's ledger account: a key cannot make its own.
    forged = gw.post(
        "/ledger/accounts",
        json={"name": "Wallet", "type": "liability", "currency": "usd",
              "code": "wallet.wal_e2e", "no_overdraft": True},
        headers=headers,
    )  # fmt: skip
    assert forged.status_code == 403, forged.text
    assert forged.json()["error"]["code"] == "account_reserved"
    deposit = gw.post(
        "/payments/payment_intents",
        json={"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa",
              "confirm": True, "wallet_id": wallet_id},
        headers=headers,
    )  # fmt: skip
    assert deposit.json()["status"] == "succeeded", deposit.text
    # Read at once, no polling: the confirm waited for the ledger to take the posting.
    assert balance(gw, "", f"wallet.{wallet_id}", headers)["posted"] == 1500
    missing = gw.post(
        "/payments/payment_intents",
        json={"amount": 1500, "currency": "usd", "wallet_id": "wal_nope"},
        headers=headers,
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "wallet_id"


def test_provider_webhooks_through_the_gateway(gw: httpx.Client) -> None:
    owner = register(gw)
    headers = key_headers(create_key(gw, owner)["secret"])
    secret = "sk_test_e2e_tenant_paystack_key"
    stored = gw.put("/payments/providers/paystack", json={"secret_key": secret}, headers=headers)
    assert stored.status_code == 200, stored.text
    assert secret not in stored.text
    door = f"/webhooks/paystack/{owner.tenant_id}"
    assert stored.json()["webhook_url"].endswith(door)
    body = json.dumps(
        {"event": "charge.success", "data": {"id": 1, "reference": "pi_unknown", "amount": 100,
                                             "currency": "NGN", "status": "success"}}
    ).encode()  # fmt: skip
    signature = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
    # Public door: no Authorization; the provider's signature is the credential.
    good = gw.post(door, content=body, headers={"x-paystack-signature": signature})
    assert good.status_code == 200, good.text
    assert good.json()["outcome"] == "unknown_reference"
    bad = gw.post(door, content=body, headers={"x-paystack-signature": "0" * 128})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_signature"
    # The seed's alias reaches the platform's door (no platform key here: refused).
    alias = gw.post(
        "/api/webhook/paystack", content=body, headers={"x-paystack-signature": signature}
    )
    assert alias.status_code == 401
