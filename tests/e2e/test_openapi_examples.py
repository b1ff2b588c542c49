"""The document's request examples work as written, against the whole stack."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator

from tests.e2e.accounts import register

pytestmark = pytest.mark.e2e


def _example(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    body = spec["paths"][path][method]["requestBody"]
    example: dict[str, Any] = body["content"]["application/json"]["example"]
    return example


def _fits(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """The answer matches the schema the document gives for that status."""
    response = spec["paths"][path][method]["responses"][str(status)]
    schema = {**response["content"]["application/json"]["schema"], "components": spec["components"]}
    errors = list(OAS31Validator(schema).iter_errors(body))
    assert not errors, (method, path, errors[0].message)


class TestSeedExamples:
    def test_the_seed_ledger_example_after_creating_its_accounts(self, gw: httpx.Client) -> None:
        spec = gw.get("/openapi.json").json()
        owner = register(gw)
        key = gw.post("/auth/api_keys", json=_example(spec, "post", "/auth/api_keys"),
                      headers=owner.headers)  # fmt: skip
        assert key.status_code == 201, key.text
        _fits(spec, "post", "/auth/api_keys", 201, key.json())
        auth = {"Authorization": f"Bearer {key.json()['secret']}"}

        revenue = gw.post("/ledger/accounts", json=_example(spec, "post", "/ledger/accounts"),
                          headers=auth)  # fmt: skip
        assert revenue.status_code == 201, revenue.text
        _fits(spec, "post", "/ledger/accounts", 201, revenue.json())
        assets = gw.post(
            "/ledger/accounts",
            json={"name": "Assets", "type": "asset", "currency": "usd", "code": "acc_assets"},
            headers=auth,
        )
        assert assets.status_code == 201, assets.text

        posted = gw.post(
            "/ledger/transactions", json=_example(spec, "post", "/ledger/transactions"),
            headers=auth,
        )  # fmt: skip
        assert posted.status_code == 201, posted.text
        _fits(spec, "post", "/ledger/transactions", 201, posted.json())

    def test_the_seed_payment_example(self, gw: httpx.Client) -> None:
        spec = gw.get("/openapi.json").json()
        owner = register(gw)
        key = gw.post("/auth/api_keys", json={"environment": "test"}, headers=owner.headers)
        auth = {"Authorization": f"Bearer {key.json()['secret']}", "Idempotency-Key": "seed-1"}
        path = "/payments/payment_intents"
        intent = gw.post(path, json=_example(spec, "post", path), headers=auth)
        assert intent.status_code == 200, intent.text
        _fits(spec, "post", path, 200, intent.json())
        confirm = f"{path}/{{intent_id}}/confirm"
        confirmed = gw.post(
            f"{path}/{intent.json()['id']}/confirm",
            json=_example(spec, "post", confirm),
            headers={"Authorization": auth["Authorization"]},
        )
        assert confirmed.status_code == 200, confirmed.text
        _fits(spec, "post", confirm, 200, confirmed.json())
        assert confirmed.json()["status"] == "succeeded"

    def test_the_wallet_example(self, gw: httpx.Client) -> None:
        spec = gw.get("/openapi.json").json()
        owner = register(gw)
        created = gw.post("/wallet", json=_example(spec, "post", "/wallet"), headers=owner.headers)
        assert created.status_code == 201, created.text
        _fits(spec, "post", "/wallet", 201, created.json())
        balance = gw.get(f"/wallet/{created.json()['id']}/balance", headers=owner.headers)
        assert balance.status_code == 200, balance.text
        _fits(spec, "get", "/wallet/{wallet_id}/balance", 200, balance.json())
