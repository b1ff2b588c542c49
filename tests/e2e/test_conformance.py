"""What schemathesis found (issue 12 pt 3), each fixed and held through the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.accounts import create_key, key_headers, register
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def key(gw: httpx.Client) -> dict[str, str]:
    return key_headers(create_key(gw, register(gw))["secret"])


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def allowed(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


class TestAllow:
    @pytest.mark.parametrize(
        ("path", "methods"),
        [
            ("/wallet", {"GET", "POST"}),
            ("/ledger/accounts", {"GET", "POST"}),
            ("/payments/refunds", {"GET", "POST"}),
            ("/webhook_endpoints/we_nothing", {"GET", "POST", "PUT", "PATCH", "DELETE"}),
        ],
    )
    def test_options_and_405_list_every_method_of_the_path(
        self, gw: httpx.Client, key: dict[str, str], path: str, methods: set[str]
    ) -> None:
        response = gw.options(path, headers=key)
        assert response.status_code == 405, response.text
        assert error(response)["code"] == "method_not_allowed"
        assert allowed(response) >= methods

    def test_a_literal_path_is_not_taken_for_an_id(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        # `/wallet/withdraw` also fits `/wallet/{wallet_id}` (GET); the resource is POST only.
        response = gw.options("/wallet/withdraw", headers=key)
        assert response.status_code == 405
        assert allowed(response) == {"POST"}

    def test_a_405_lists_every_method(self, gw: httpx.Client, key: dict[str, str]) -> None:
        response = gw.delete("/wallet", headers=key)
        assert response.status_code == 405
        assert allowed(response) >= {"GET", "POST"}

    def test_the_gateways_own_routes_answer_405_not_404(self, gw: httpx.Client) -> None:
        response = gw.put("/health")
        assert response.status_code == 405
        assert "GET" in allowed(response)
        assert gw.put("/no/such/route").status_code in (401, 404)

    def test_a_reused_idempotency_key_on_an_unrouted_method_is_still_405(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        # A request no route takes began nothing; it is not a reuse of the key.
        headers = {**key, "Idempotency-Key": "allow-405"}
        assert gw.post("/wallet", json={"currency": "usd"}, headers=headers).status_code == 201
        response = gw.patch("/wallet", json={"currency": "usd"}, headers=headers)
        assert response.status_code == 405
        assert error(response)["code"] == "method_not_allowed"


class TestStrictJson:
    def test_a_string_amount_in_json_is_a_400(self, gw: httpx.Client, key: dict[str, str]) -> None:
        response = gw.post(
            "/payments/payment_intents", json={"amount": "100", "currency": "usd"}, headers=key
        )
        assert response.status_code == 400
        assert (error(response)["param"], error(response)["code"]) == (
            "amount",
            "parameter_invalid",
        )

    def test_a_whole_number_written_with_a_fraction_is_an_amount(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        # JSON Schema's integer, which the document states: schemathesis sends 100.0 as one.
        response = gw.post(
            "/payments/payment_intents", json={"amount": 100.0, "currency": "usd"}, headers=key
        )
        assert response.status_code == 200, response.text
        assert response.json()["amount"] == 100

    @pytest.mark.parametrize("amount", [100.5, True, "1e2"])
    def test_fractions_and_bools_are_not_amounts(
        self, gw: httpx.Client, key: dict[str, str], amount: object
    ) -> None:
        response = gw.post(
            "/payments/payment_intents", json={"amount": amount, "currency": "usd"}, headers=key
        )
        assert response.status_code == 400
        assert error(response)["param"] == "amount"

    def test_a_string_where_json_wants_a_list_is_a_400(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        response = gw.post(
            "/webhook_endpoints",
            json={"url": "https://example.com/hooks", "enabled_events": "*"},
            headers=key,
        )
        assert response.status_code == 400
        assert error(response)["param"] == "enabled_events"

    def test_a_form_amount_is_text_and_is_read(self, gw: httpx.Client, key: dict[str, str]) -> None:
        response = gw.post(
            "/payments/payment_intents", content="amount=100&currency=usd", headers={**key, **FORM}
        )
        assert response.status_code == 200, response.text
        assert response.json()["amount"] == 100


class TestForms:
    def test_a_wallet_from_currency_alone(self, gw: httpx.Client, key: dict[str, str]) -> None:
        response = gw.post("/wallet", content="currency=usd", headers={**key, **FORM})
        assert response.status_code == 201, response.text
        assert response.json()["owner"].startswith("ten_")

    @pytest.mark.parametrize(
        "body", ["enabled_events=*", "enabled_events=*&enabled_events=wallet.created"]
    )
    def test_a_list_from_one_value_or_a_repeated_key(
        self, gw: httpx.Client, key: dict[str, str], body: str
    ) -> None:
        created = gw.post(
            "/webhook_endpoints",
            json={"url": "https://example.com/hooks", "enabled_events": ["wallet.created"]},
            headers=key,
        )
        assert created.status_code == 200, created.text
        endpoint = created.json()["id"]
        response = gw.post(f"/webhook_endpoints/{endpoint}", content=body, headers={**key, **FORM})
        assert response.status_code == 200, response.text
        assert response.json()["enabled_events"][0] == "*"

    @pytest.mark.parametrize(("text", "status"), [("true", 200), ("false", 200), ("0", 400)])
    def test_a_form_boolean_is_true_or_false(
        self, gw: httpx.Client, key: dict[str, str], text: str, status: int
    ) -> None:
        response = gw.post(
            "/payments/payment_intents",
            content=f"amount=100&currency=usd&confirm={text}&payment_method=pm_card_visa",
            headers={**key, **FORM},
        )
        assert response.status_code == status, response.text
        if status == 400:
            assert error(response)["param"] == "confirm"

    def test_capture_of_zero_is_refused_and_the_document_says_so(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        intent = gw.post(
            "/payments/payment_intents",
            json={"amount": 500, "currency": "usd", "capture_method": "manual"},
            headers=key,
        ).json()
        response = gw.post(
            f"/payments/payment_intents/{intent['id']}/capture",
            content="amount_to_capture=0",
            headers={**key, **FORM},
        )
        assert response.status_code == 400
        assert error(response)["param"] == "amount_to_capture"
        schemas = gw.get("/openapi.json").json()["components"]["schemas"]
        amount = schemas["CaptureIntentRequest"]["properties"]["amount_to_capture"]["anyOf"][0]
        assert (amount["type"], amount["exclusiveMinimum"]) == ("integer", 0)


class TestEvents:
    def test_deliveries_are_a_list_as_documented(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        gw.post("/wallet", json={"currency": "usd"}, headers=key)
        events = eventually(
            lambda: gw.get("/events", headers=key).json()["data"], what="an event logged"
        )
        response = gw.get(f"/events/{events[0]['id']}/deliveries", headers=key)
        assert response.status_code == 200
        assert response.json()["object"] == "list"
        assert isinstance(response.json()["data"], list)
        spec = gw.get("/openapi.json").json()
        documented = spec["paths"]["/events/{event_id}/deliveries"]["get"]["responses"]["200"]
        schema = documented["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert schema["properties"]["data"]["type"] == "array"

    def test_resend_takes_no_body(self, gw: httpx.Client, key: dict[str, str]) -> None:
        gw.post("/wallet", json={"currency": "usd"}, headers=key)
        events = eventually(
            lambda: gw.get("/events", headers=key).json()["data"], what="an event logged"
        )
        response = gw.post(f"/events/{events[0]['id']}/resend", headers=key)
        assert response.status_code == 200, response.text

    def test_an_event_type_without_a_dot_is_refused(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        response = gw.get("/events", params={"type": "anonymous"}, headers=key)
        assert response.status_code == 400
        assert error(response)["param"] == "type"


class TestMode:
    @pytest.mark.parametrize("mode", ["AAA", "true", ""])
    def test_a_mode_other_than_test_or_live_is_a_400(
        self, gw: httpx.Client, key: dict[str, str], mode: str
    ) -> None:
        response = gw.get("/wallet", headers={**key, "Micro-Mode": mode})
        assert response.status_code == 400
        assert error(response)["param"] == "Micro-Mode"

    def test_test_and_live_are_read_in_any_case(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        assert gw.get("/wallet", headers={**key, "Micro-Mode": "Test"}).status_code == 200


class TestIdempotency:
    def test_the_same_json_in_another_key_order_replays(
        self, gw: httpx.Client, key: dict[str, str]
    ) -> None:
        headers = {**key, **JSON, "Idempotency-Key": "conformance-order"}
        first = gw.post(
            "/payments/payment_intents", content='{"amount": 700, "currency": "usd"}',
            headers=headers,
        )  # fmt: skip
        again = gw.post(
            "/payments/payment_intents", content='{"currency":"usd","amount":700}',
            headers=headers,
        )  # fmt: skip
        other = gw.post(
            "/payments/payment_intents", content='{"currency":"usd","amount":701}',
            headers=headers,
        )  # fmt: skip
        assert first.status_code == again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert other.status_code == 400
        assert (error(other)["type"], error(other)["code"]) == (
            "idempotency_error",
            "idempotency_key_reused",
        )
