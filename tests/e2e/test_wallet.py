"""The seed's wallet calls through the gateway, for a signed-in USER and for an API key."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.e2e.accounts import (
    Account,
    create_key,
    key_headers,
    platform_admin,
    register,
    signup_user,
)
from tests.e2e.stack import RunningStack

pytestmark = pytest.mark.e2e

BANK = {"account_number": "0123456789", "bank_code": "058", "account_name": "Ada Obi"}


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_user_moves_its_own_money_through_the_seed_aliases(gw: httpx.Client) -> None:
    owner = register(gw)
    ada, bob = signup_user(gw, owner), signup_user(gw, owner)
    mine = ok(gw.post("/api/wallet", json={"currency": "usd"}, headers=ada.headers), 201)
    theirs = ok(gw.post("/api/wallet", json={"currency": "usd"}, headers=bob.headers), 201)
    assert mine["owner"] == ada.user_id

    deposit = ok(gw.post("/api/wallet/deposit", json={"wallet_id": mine["id"], "amount": 5000},
                         headers={**ada.headers, "Idempotency-Key": "ada-dep-1"}))  # fmt: skip
    assert deposit["status"] == "succeeded"
    sent = ok(
        gw.post(
            "/api/wallet/transfer",
            json={"from_wallet_id": mine["id"], "to_wallet_id": theirs["id"], "amount": 1500,
                  "description": "lunch"},
            headers=ada.headers,
        )
    )  # fmt: skip
    assert sent["status"] == "succeeded"
    out = ok(gw.post("/api/wallet/withdraw",
                     json={"wallet_id": mine["id"], "amount": 1000, "destination": BANK},
                     headers=ada.headers))  # fmt: skip
    assert out["status"] == "succeeded"

    assert ok(gw.get(f"/api/wallet/{mine['id']}/balance", headers=ada.headers))["available"] == 2500
    lines = ok(gw.get(f"/api/wallet/{mine['id']}/transactions", headers=ada.headers))["data"]
    assert [(line["type"], line["net"], line["balance_after"]) for line in lines] == [
        ("withdrawal", -1000, 2500), ("transfer_out", -1500, 3500), ("deposit", 5000, 5000),
    ]  # fmt: skip
    assert (
        ok(gw.get(f"/api/wallet/{theirs['id']}/balance", headers=bob.headers))["available"] == 1500
    )

    # Bob cannot see or spend Ada's wallet: to him it does not exist.
    for path in (f"/api/wallet/{mine['id']}", f"/api/wallet/{mine['id']}/balance",
                 f"/api/wallet/{mine['id']}/transactions"):  # fmt: skip
        assert gw.get(path, headers=bob.headers).status_code == 404
    steal = gw.post("/api/wallet/transfer", headers=bob.headers,
                    json={"from_wallet_id": mine["id"], "to_wallet_id": theirs["id"],
                          "amount": 1})  # fmt: skip
    assert steal.status_code == 404
    assert [w["id"] for w in ok(gw.get("/api/wallet", headers=bob.headers))["data"]] == [
        theirs["id"]
    ]
    # A user does not freeze wallets; its tenant's admin does.
    assert gw.post(f"/api/wallet/{mine['id']}/freeze", headers=ada.headers).status_code == 403
    assert (
        ok(gw.post(f"/api/wallet/{mine['id']}/freeze", headers=owner.headers))["status"] == "frozen"
    )
    frozen = gw.post("/api/wallet/transfer", headers=ada.headers,
                     json={"from_wallet_id": mine["id"], "to_wallet_id": theirs["id"],
                           "amount": 1})  # fmt: skip
    assert (frozen.status_code, frozen.json()["error"]["code"]) == (400, "wallet_frozen")


def test_an_api_key_runs_the_tenants_wallets(stack: RunningStack, gw: httpx.Client) -> None:
    owner = register(gw)
    secret = create_key(gw, owner)["secret"]
    headers = key_headers(secret)
    user = signup_user(gw, owner)
    users_wallet = ok(gw.post("/api/wallet", json={"currency": "ngn"}, headers=user.headers), 201)
    shop = ok(gw.post("/wallet", json={"owner": "cus_shop", "currency": "ngn"}, headers=headers),
              201)  # fmt: skip
    ok(gw.post("/wallet/deposit", json={"wallet_id": shop["id"], "amount": 20000},
               headers=headers))  # fmt: skip
    # The seed's call shape, as curl sends it (JSON under a form content type).
    curl = shutil.which("curl")
    body = json.dumps({"from_wallet_id": shop["id"], "to_wallet_id": users_wallet["id"],
                       "amount": 7000, "description": "refund"})  # fmt: skip
    if curl is not None:
        run = subprocess.run(
            [curl, "-s", "-X", "POST", f"{stack.gateway}/api/wallet/transfer",
             "-H", f"Authorization: Bearer {secret}", "-H", "Idempotency-Key: seed-transfer-1",
             "-d", body],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        sent = json.loads(run.stdout)
    else:
        sent = ok(gw.post("/api/wallet/transfer", content=body,
                          headers={**headers, "Idempotency-Key": "seed-transfer-1"}))  # fmt: skip
    assert sent["status"] == "succeeded", sent
    replay = gw.post("/api/wallet/transfer", content=body,
                     headers={**headers, "Idempotency-Key": "seed-transfer-1"})  # fmt: skip
    assert (replay.json()["id"], replay.headers.get("Idempotent-Replayed")) == (sent["id"], "true")
    # The key sees the user's wallet too, and the money in it.
    assert (
        ok(gw.get(f"/api/wallet/{users_wallet['id']}/balance", headers=headers))["available"]
        == 7000
    )
    assert (
        ok(gw.get(f"/api/wallet/{users_wallet['id']}/balance", headers=user.headers))["available"]
        == 7000
    )
    flat = ok(gw.post("/api/wallet/withdraw", headers=headers,
                      json={"wallet_id": shop["id"], "amount": 3000, **BANK}))  # fmt: skip
    assert flat["status"] == "succeeded"
    assert ok(gw.get(f"/api/wallet/{shop['id']}/balance", headers=headers))["available"] == 10000
    broke = gw.post("/api/wallet/transfer", headers=headers,
                    json={"from_wallet_id": shop["id"], "to_wallet_id": users_wallet["id"],
                          "amount": 10001})  # fmt: skip
    assert (broke.status_code, broke.json()["error"]["code"]) == (402, "insufficient_funds")
    # A live key is refused until the tenant's live mode is on, then sees none of the
    # test-mode wallets.
    live = key_headers(create_key(gw, owner, environment="live")["secret"])
    assert gw.get(f"/api/wallet/{shop['id']}", headers=live).status_code == 403
    enabled = gw.post(
        f"/auth/tenants/{owner.tenant_id}/live_mode",
        json={"enabled": True},
        headers=platform_admin(gw).headers,
    )
    assert enabled.status_code == 200, enabled.text
    # The gateway cached "off" a moment ago; auth's announcement evicts it within a second.
    began = time.monotonic()
    while (seen := gw.get(f"/api/wallet/{shop['id']}", headers=live).status_code) == 403:
        assert time.monotonic() - began < 1.0
        time.sleep(0.02)
    assert seen == 404
    # Another tenant's key neither.
    stranger = key_headers(create_key(gw, register(gw))["secret"])
    assert gw.get(f"/api/wallet/{shop['id']}/balance", headers=stranger).status_code == 404

    admin: Account = platform_admin(gw)
    assert ok(gw.get(f"/api/wallet/{shop['id']}/transactions", headers=admin.headers))["data"]
    moved = gw.post("/api/wallet/transfer", headers=admin.headers,
                    json={"from_wallet_id": shop["id"], "to_wallet_id": users_wallet["id"],
                          "amount": 1})  # fmt: skip
    assert moved.status_code == 403
    report = ok(gw.get("/ledger/verify", headers=admin.headers))
    assert report["ok"], report["discrepancies"]


def test_no_credential_is_401(gw: httpx.Client) -> None:
    assert gw.get("/api/wallet").status_code == 401
    assert gw.post("/api/wallet/transfer", json={}).status_code == 401
