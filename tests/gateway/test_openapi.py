"""The merged OpenAPI document is the whole public API and nothing else.

Compared with the gateway's routing table and every service's routes: a route that is
served but not documented, or documented but not reachable, fails here.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.routing import Mount, Route, WebSocketRoute

from gateway import docs
from gateway.app import create_app
from gateway.routing import _ALIASES, Access, canonical, resolve
from gateway.settings import GatewaySettings
from shared import v1
from shared.openapi import build_spec
from shared.settings import SERVICES
from tests.support.secrets import TEST_SECRET_FIELDS

_PARAM = re.compile(r"\{(\w+)(:\w+)?\}")
_METHODS = {"get", "post", "put", "patch", "delete"}


def _service_routes(service: str) -> list[Route]:
    routes = importlib.import_module(f"services.{service}.routes").routes
    return [route for route in routes if isinstance(route, Route)]


def _service_specs() -> list[dict[str, Any] | None]:
    """Each service's document, as its app serves it (shared/app.py builds it so)."""
    return [build_spec(service, _service_routes(service), service=service) for service in SERVICES]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return docs.merge(_service_specs())


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _template(path: str) -> str:
    return _PARAM.sub(r"{\1}", path)


def _is_alias(path: str) -> bool:
    return path.startswith("/api/")


def _is_stripe(path: str) -> bool:
    return v1.is_v1(path)


def _native(path: str) -> str:
    """The path the gateway forwards a documented path to."""
    return v1.native_path(path) or path if _is_stripe(path) else canonical(path)


_SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.SESSION: [{"sessionToken": []}],
    Access.API: [{"apiKey": []}, {"sessionToken": []}],
}


class TestDocumentIsValid:
    def test_validates_against_openapi_3_1(self, spec: dict[str, Any]) -> None:
        validate(spec)  # raises on the first problem
        assert spec["openapi"] == "3.1.0"

    def test_operation_ids_are_unique_and_links_lead_to_them(self, spec: dict[str, Any]) -> None:
        ids = [operation["operationId"] for _, _, operation in _operations(spec)]
        assert len(ids) == len(set(ids))
        by_id = {operation["operationId"]: operation for _, _, operation in _operations(spec)}
        links = 0
        for _, _, operation in _operations(spec):
            for response in operation["responses"].values():
                for link in response.get("links", {}).values():
                    target = by_id[link["operationId"]]
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= names, link
                    if "requestBody" in link:
                        schema = target["requestBody"]["content"]["application/json"]["schema"]
                        model = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
                        assert set(link["requestBody"]) <= set(model["properties"]), link
                    links += 1
        assert links >= 10


class TestDocumentMatchesRoutes:
    def test_every_service_route_is_documented(self, spec: dict[str, Any]) -> None:
        for service in SERVICES:
            for route in _service_routes(service):
                path = _template(route.path)
                if path.startswith("/internal/"):
                    assert path not in spec["paths"], path
                    continue
                for method in (route.methods or set()) - {"HEAD"}:
                    assert method.lower() in spec["paths"].get(path, {}), (method, path)

    def test_every_documented_path_is_reachable(self, spec: dict[str, Any]) -> None:
        served = {
            (_template(route.path), method.lower())
            for service in SERVICES
            for route in _service_routes(service)
            for method in (route.methods or set()) - {"HEAD"}
        }
        own = {_template(route.path) for route in docs.gateway_routes()} | {"/cli/listen"}
        for path, method, _ in _operations(spec):
            real = _native(path)
            if real in own or path == "/api/health":
                continue
            assert resolve(real) is not None, path  # the gateway forwards it
            assert (real, method) in served, (method, path)

    def test_every_gateway_route_is_documented_or_excused(self, spec: dict[str, Any]) -> None:
        for route in create_app(GatewaySettings.model_validate(TEST_SECRET_FIELDS)).routes:
            assert isinstance(route, Route | WebSocketRoute | Mount)
            if route.path in docs.UNDOCUMENTED:
                continue
            assert route.path in spec["paths"], route.path
            if isinstance(route, Route):
                for method in (route.methods or set()) - {"HEAD"}:
                    assert method.lower() in spec["paths"][route.path]

    def test_internal_routes_stay_out(self, spec: dict[str, Any]) -> None:
        assert not [path for path in spec["paths"] if "/internal" in path]

    def test_every_seed_alias_is_documented_beside_its_path(self, spec: dict[str, Any]) -> None:
        aliases = [path for path in spec["paths"] if _is_alias(path)]
        for pattern, _ in _ALIASES:
            assert any(pattern.match(path) for path in aliases), pattern.pattern
        for alias in aliases:
            if alias == "/api/health":
                continue
            real = canonical(alias)
            assert real != alias, alias
            for method, operation in spec["paths"][alias].items():
                assert method in spec["paths"][real], (method, alias)
                assert operation["tags"] == ["aliases"]
        for path in spec["paths"]:
            for prefix, alias in docs.ALIAS_PREFIXES:
                if path == prefix or path.startswith(prefix + "/"):
                    assert alias + path[len(prefix) :] in spec["paths"], path


class TestEveryOperation:
    def test_tagged_with_the_service_that_serves_it(self, spec: dict[str, Any]) -> None:
        tags = {tag["name"] for tag in spec["tags"]}
        for path, _, operation in _operations(spec):
            assert len(operation["tags"]) == 1, path
            assert operation["tags"][0] in tags, path
            if _is_alias(path) or _is_stripe(path):
                continue
            target = resolve(path)
            expected = target.rule.service if target else "gateway"
            assert operation["tags"] == [expected], path

    def test_has_a_real_summary_and_description(self, spec: dict[str, Any]) -> None:
        for path, method, operation in _operations(spec):
            summary = operation["summary"]
            assert " " in summary, (method, path, summary)
            # A whole sentence: a docstring's first line cut mid-sentence would show here.
            assert _is_alias(path) or summary.endswith("."), (method, path, summary)
            assert operation["description"], (method, path)

    def test_has_examples(self, spec: dict[str, Any]) -> None:
        for path, method, operation in _operations(spec):
            for media in operation.get("requestBody", {}).get("content", {}).values():
                assert "example" in media, (method, path)
            for status, response in operation["responses"].items():
                for kind, media in response.get("content", {}).items():
                    if kind == "application/json":
                        assert "example" in media, (method, path, status)
            success = [s for s in operation["responses"] if s.startswith(("1", "2"))]
            assert success, (method, path)

    def test_security_follows_the_routing_table(self, spec: dict[str, Any]) -> None:
        schemes = set(spec["components"]["securitySchemes"])
        assert {"apiKey", "sessionToken"} <= schemes
        for path, method, operation in _operations(spec):
            target = resolve(canonical(path))
            if target is None or path.startswith("/cli/"):
                continue
            assert operation["security"] == _SECURITY[target.rule.access], (method, path)

    def test_public_doors_need_nothing(self, spec: dict[str, Any]) -> None:
        for path in ("/auth/register", "/auth/signup", "/auth/login", "/auth/admin"):
            operation = spec["paths"][path]["post"]
            assert operation["security"] == []
            assert "429" in operation["responses"]
        assert spec["paths"]["/health"]["get"]["security"] == []

    def test_headers_where_they_apply(self, spec: dict[str, Any]) -> None:
        for path, method, operation in _operations(spec):
            names = {p["name"] for p in operation.get("parameters", [])}
            credentialed = operation["security"] != []
            assert ("Micro-Mode" in names) == (credentialed and path != "/cli/listen"), path
            mutating = method in {"post", "put", "patch", "delete"}
            gateway_own = path.startswith("/cli/")
            expected = mutating and credentialed and not gateway_own
            assert ("Idempotency-Key" in names) == expected, (method, path)

    def test_statuses_it_answers(self, spec: dict[str, Any]) -> None:
        for path, method, operation in _operations(spec):
            responses = operation["responses"]
            if operation["security"] and path != "/cli/listen":
                assert {"401", "403", "429"} <= set(responses), (method, path)
            if resolve(canonical(path)) is not None:
                assert {"502", "503"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    if "$ref" in response:
                        assert response["$ref"].startswith("#/components/responses/")
                    else:
                        schema = response["content"]["application/json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/Error"}
        for name, response in spec["components"]["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, name

    def test_declared_refusals(self, spec: dict[str, Any]) -> None:
        paths = spec["paths"]
        assert "402" in paths["/payments/payment_intents/{intent_id}/confirm"]["post"]["responses"]
        assert "402" in paths["/wallet/transfer"]["post"]["responses"]
        assert "409" in paths["/auth/register"]["post"]["responses"]

    def test_lists_have_list_schemas(self, spec: dict[str, Any]) -> None:
        lists = 0
        for path, method, operation in _operations(spec):
            if method != "get" or _is_alias(path) or _is_stripe(path):
                continue
            names = {p["name"] for p in operation.get("parameters", [])}
            if "starting_after" not in names:
                continue
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            model = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
            assert model["properties"]["object"] == {"const": "list"}, path
            assert model["properties"]["data"]["type"] == "array", path
            lists += 1
        assert lists >= 15

    def test_the_websocket_protocol_is_described(self, spec: dict[str, Any]) -> None:
        listen = spec["paths"]["/cli/listen"]["get"]
        for word in ('"ready"', '"event"', '"ping"', '"ack"', '"pong"', "4401", "4008"):
            assert word in listen["description"], word
        assert "101" in listen["responses"]

    def test_seed_bodies_are_the_examples(self, spec: dict[str, Any]) -> None:
        def example(path: str) -> Any:
            body = spec["paths"][path]["post"]["requestBody"]
            return body["content"]["application/json"]["example"]

        assert example("/auth/register") == {
            "email": "dev@example.com",
            "password": "securepassword",
        }
        assert example("/payments/payment_intents") == {"amount": 5000, "currency": "usd"}
        assert example("/auth/api_keys") == {"environment": "test", "name": "checkout server"}
        entries = example("/ledger/transactions")["entries"]
        assert entries[0] == {"account_id": "acc_revenue", "amount": 100, "direction": "credit"}


class TestExamplesFitTheirSchemas:
    def test_every_example_validates(self, spec: dict[str, Any]) -> None:
        checked = 0
        for path, method, operation in _operations(spec):
            media = [
                *operation.get("requestBody", {}).get("content", {}).values(),
                *(
                    content
                    for response in operation["responses"].values()
                    for content in response.get("content", {}).values()
                ),
            ]
            for item in media:
                if "schema" not in item or "example" not in item:
                    continue
                schema = {**item["schema"], "components": spec["components"]}
                errors = list(OAS31Validator(schema).iter_errors(item["example"]))
                assert not errors, (method, path, errors[0].message)
                checked += 1
        for name, response in spec["components"]["responses"].items():
            item = response["content"]["application/json"]
            schema = {**item["schema"], "components": spec["components"]}
            assert not list(OAS31Validator(schema).iter_errors(item["example"])), name
        assert checked > 200


class TestRateLimits:
    def test_limited_operations_document_their_headers(self, spec: dict[str, Any]) -> None:
        limited = 0
        for path, method, operation in _operations(spec):
            responses = operation["responses"]
            if "429" not in responses:
                continue
            assert "Retry-After" in responses["429"]["headers"], (method, path)
            for status, response in responses.items():
                if status.startswith("2"):
                    assert "X-RateLimit-Remaining" in response["headers"], (method, path)
            limited += 1
        assert limited > 100
        for name in ("RateLimit", "X-RateLimit-Limit", "Retry-After"):
            assert name in spec["components"]["headers"]
        # Unlimited public routes promise no rate-limit headers.
        assert "headers" not in spec["paths"]["/health"]["get"]["responses"]["200"]


class TestStripePaths:
    """Stripe's `/v1` paths are the native operations under Stripe's names: proven here
    operation by operation, so schemathesis need not spend its budget on them twice
    (tests/e2e/schemathesis_exclusions.py STRIPE_ALIASES)."""

    def test_every_native_operation_under_a_stripe_prefix_has_its_v1_path(
        self, spec: dict[str, Any]
    ) -> None:
        expected = {
            (v1.public_path(path, "stripe"), method)
            for path, method, _ in _operations(spec)
            if any(path == native or path.startswith(native + "/") for _, native in v1.PATHS)
        }
        documented = {(path, method) for path, method, _ in _operations(spec) if _is_stripe(path)}
        assert documented == expected
        assert {path for path, _ in documented} >= {
            "/v1/payment_intents/{intent_id}/confirm",
            "/v1/refunds/{refund_id}",
            "/v1/payouts",
            "/v1/balance",
            "/v1/events/{event_id}",
            "/v1/webhook_endpoints/{endpoint_id}",
        }

    def test_each_is_the_native_operation_plus_what_stripe_clients_are_owed(
        self, spec: dict[str, Any]
    ) -> None:
        for path, method, alias in _operations(spec):
            if not _is_stripe(path):
                continue
            native_path = _native(path)
            native = spec["paths"][native_path][method]
            assert alias["tags"] == [docs.STRIPE_TAG]
            assert alias["operationId"] == native["operationId"] + "_v1"
            assert f"(Stripe's path for {method.upper()} {native_path})." in alias["summary"]
            assert alias["description"].endswith(native["description"])
            assert alias["parameters"] == [*native.get("parameters", []), docs.STRIPE_VERSION]
            assert alias["security"] == native["security"]
            assert alias.get("requestBody") == native.get("requestBody")
            assert alias["responses"].keys() == native["responses"].keys()
            for status, response in alias["responses"].items():
                theirs = dict(native["responses"][status])
                theirs.pop("links", None)
                if status.startswith("2"):
                    headers = dict(response["headers"])
                    assert headers.pop("Request-Id") == {"$ref": "#/components/headers/Request-Id"}
                    assert headers == theirs.get("headers", {}), (method, path, status)
                    response = {**response, "headers": headers}
                    if not headers:
                        del response["headers"]
                assert response == theirs, (method, path, status)

    def test_the_gateway_serves_each_by_the_native_route(self, spec: dict[str, Any]) -> None:
        for path, _, _ in _operations(spec):
            if not _is_stripe(path):
                continue
            target, native = resolve(path), resolve(_native(path))
            assert target is not None, path
            assert native is not None, path
            assert (target.rule, target.path, target.dialect) == (
                native.rule,
                native.path,
                "stripe",
            )

    def test_operations_added_later_get_their_v1_path_too(self) -> None:
        # Not a fixed list: whatever a service documents under a prefix of shared.v1.PATHS.
        operation = {"operationId": "x", "summary": "Do it.", "description": "D.", "responses": {}}
        paths = {
            "/payments/customers/{customer_id}": {"delete": operation},
            "/payments/payment_methods/{method_id}/attach": {"post": operation},
            "/payments/providers": {"get": operation},
            "/ledger/accounts": {"get": operation},
        }
        assert set(docs.stripe_paths(paths)) == {
            "/v1/customers/{customer_id}",
            "/v1/payment_methods/{method_id}/attach",
        }

    def test_the_tag_says_what_differs(self, spec: dict[str, Any]) -> None:
        [tag] = [tag for tag in spec["tags"] if tag["name"] == docs.STRIPE_TAG]
        for word in ("`url`", "Stripe-Signature", "Request-Id", "Stripe-Version", "404"):
            assert word in tag["description"], word
