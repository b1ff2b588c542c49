"""The shared HTTP conventions every app inherits: bodies, errors, request ids, metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger.settings import LedgerSettings
from shared.app import create_service_app
from shared.body import decode_body, parse_model
from shared.errors import InvalidRequestError
from shared.logging import JsonFormatter
from shared.money import Amount, Currency
from shared.responses import json_response
from tests.support.asgi import serve_in_process
from tests.support.secrets import TEST_IDENTITY_KEY


class Charge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount
    currency: Currency
    metadata: dict[str, str] = {}
    expand: list[str] = []


async def create_charge(request: Request) -> JSONResponse:
    charge = await parse_model(request, Charge, limit=1024)
    return json_response(charge.model_dump())


async def explode(request: Request) -> JSONResponse:
    raise RuntimeError("secret internals: password=hunter2")


@pytest.fixture
async def client(redis_url: str, create_db: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = LedgerSettings(
        redis_url=redis_url,
        database_url=await create_db("ledger"),
        identity_keys=[TEST_IDENTITY_KEY],
    )
    app = create_service_app(
        settings,
        [
            Route("/charges", create_charge, methods=["POST"]),
            Route("/explode", explode, methods=["GET"]),
        ],
        title="conventions",
        require_identity=False,
    )
    async with serve_in_process(app) as http:
        yield http


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"type", "code", "message", "param", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    return error


class TestBodies:
    async def test_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/charges", json={"amount": 5000, "currency": "USD"})
        assert response.status_code == 200
        assert response.json()["currency"] == "usd"

    async def test_form_with_bracket_nesting(self, client: httpx.AsyncClient) -> None:
        body = "amount=5000&currency=usd&metadata[order]=7&expand[]=a&expand[]=b"
        response = await client.post(
            "/charges",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert response.json() == {
            "amount": 5000,
            "currency": "usd",
            "metadata": {"order": "7"},
            "expand": ["a", "b"],
        }

    async def test_json_under_form_content_type_as_curl_sends_it(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/charges",
            content=b'{"amount": 5000, "currency": "usd"}',
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert response.json()["amount"] == 5000

    async def test_malformed_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/charges", content=b'{"amount": 50', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        error = error_of(response)
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_json")

    async def test_json_that_is_not_an_object(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/charges", json=[1, 2])
        assert response.status_code == 400
        assert error_of(response)["code"] == "invalid_json"

    async def test_oversized_body(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/charges", json={"amount": 1, "currency": "usd", "x": "y" * 5000}
        )
        assert response.status_code == 413
        assert error_of(response)["code"] == "payload_too_large"

    async def test_oversized_body_without_content_length(self, client: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"a" * 500

        response = await client.post("/charges", content=chunks())
        assert response.status_code == 413

    async def test_unsupported_media_type(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/charges", content=b"<xml/>", headers={"Content-Type": "application/xml"}
        )
        assert response.status_code == 415
        assert error_of(response)["code"] == "unsupported_media_type"

    @pytest.mark.parametrize(
        ("body", "code", "param"),
        [
            ({"currency": "usd"}, "parameter_missing", "amount"),
            ({"amount": "lots", "currency": "usd"}, "parameter_invalid", "amount"),
            ({"amount": -5, "currency": "usd"}, "parameter_invalid", "amount"),
            ({"amount": 0, "currency": "usd"}, "parameter_invalid", "amount"),
            ({"amount": 10**20, "currency": "usd"}, "parameter_invalid", "amount"),
            ({"amount": 1.5, "currency": "usd"}, "parameter_invalid", "amount"),
            ({"amount": 5, "currency": "zzz"}, "parameter_invalid", "currency"),
            ({"amount": 5, "currency": "usd", "metadata": {"a": {"b": 1}}}, "parameter_invalid",
             "metadata[a]"),
            ({"amount": 5, "currency": "usd", "surprise": 1}, "parameter_unknown", "surprise"),
        ],
    )  # fmt: skip
    async def test_bad_parameters_name_the_field(
        self, client: httpx.AsyncClient, body: dict[str, Any], code: str, param: str
    ) -> None:
        response = await client.post("/charges", json=body)
        assert response.status_code == 400
        error = error_of(response)
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error",
            code,
            param,
        )


class TestErrors:
    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/nowhere")
        assert response.status_code == 404
        error = error_of(response)
        assert (error["type"], error["code"]) == ("invalid_request_error", "route_not_found")

    async def test_wrong_method(self, client: httpx.AsyncClient) -> None:
        response = await client.delete("/charges")
        assert response.status_code == 405
        assert error_of(response)["code"] == "method_not_allowed"
        assert "POST" in response.headers["allow"]

    async def test_unhandled_exception_is_500_without_internals(
        self, client: httpx.AsyncClient
    ) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter("ledger"))
        logger = logging.getLogger("micro.request")
        logger.addHandler(handler)
        try:
            response = await client.get("/explode", headers={"X-Request-Id": "trace-123"})
        finally:
            logger.removeHandler(handler)
        assert response.status_code == 500
        error = error_of(response)
        assert (error["type"], error["code"]) == ("api_error", "internal_error")
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        failure = next(line for line in lines if line["level"] == "error")
        assert failure["request_id"] == "trace-123"
        assert "RuntimeError: secret internals" in failure["exception"]


class TestRequestIds:
    async def test_incoming_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-Id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"

    async def test_missing_id_is_generated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.headers["x-request-id"].startswith("req_")

    async def test_unsafe_id_is_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-Id": "x\ty" + "z" * 300})
        assert response.headers["x-request-id"].startswith("req_")


class TestMetrics:
    async def test_requests_are_counted_by_route_template(self, client: httpx.AsyncClient) -> None:
        await client.post("/charges", json={"amount": 1, "currency": "usd"})
        await client.get("/nowhere/at/all")
        text = (await client.get("/metrics")).text
        assert (
            'micro_http_requests_total{method="POST",route="/charges",service="ledger",status="200"}'
            in text
        )
        assert 'route="<unmatched>"' in text
        assert "/nowhere/at/all" not in text
        assert "micro_http_request_duration_seconds_bucket" in text


class TestOpenApi:
    async def test_spec_lists_routes(self, client: httpx.AsyncClient) -> None:
        spec = (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert "post" in spec["paths"]["/charges"]
        assert "/health" not in spec["paths"]


def test_decode_form_builds_lists_and_nested_objects() -> None:
    decoded = decode_body(
        b"items[0][price]=p1&items[1][price]=p2&metadata[a]=1", "application/x-www-form-urlencoded"
    )
    assert decoded == {"items": [{"price": "p1"}, {"price": "p2"}], "metadata": {"a": "1"}}


@pytest.mark.parametrize("raw", [b"a[=1", b"[x]=1", b"a=1&a[b]=2", b"a[b]=1&a=2", b"a[b]c=1"])
def test_decode_form_refuses_malformed_keys(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        decode_body(raw, "application/x-www-form-urlencoded")
