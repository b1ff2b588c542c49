"""OpenAPI 3.1 documents built from the routes themselves.

Endpoints declare what they take, answer and refuse with `@documented`; the document is built
from the route table, so a route cannot be served without appearing in `/openapi.json`.

A service documents what it decides itself: bodies, query parameters, answers, examples,
`Idempotency-Key`, and the refusals that follow from them (400 for a bad body or query, 404
for an unknown id in the path, 413 for a body over the limit, 409 for a key still in use).
The gateway adds what the edge decides (credentials, `Micro-Mode`, rate limits, upstream
failures) when it merges the services' documents (`gateway/docs.py`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.routing import BaseRoute, Route

from shared.pagination import ListParams

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_VERSION = "3.1.0"
_CONVERTER = re.compile(r"\{(\w+)(:\w+)?\}")
_ATTR = "__micro_openapi__"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The method whose operation keeps the plain id when one route answers several.
_PRIMARY = ("POST", "GET", "DELETE", "PATCH", "PUT")
BODY_MEDIA = ("application/json", "application/x-www-form-urlencoded")
ERROR_REF = "#/components/schemas/Error"

# What each refusal means when an operation does not say more.
STATUS_TEXT: dict[int, str] = {
    400: "Invalid request: a missing, unknown or malformed parameter (`param` names it)",
    401: "No credential, or one that is unknown, expired or revoked",
    402: "The request was valid but the money did not move (declined card, no funds)",
    403: "The credential may not do this (role, mode or tenant)",
    404: "No such object for this tenant and mode",
    409: "Conflict: the `Idempotency-Key` is still in use by a running request, "
    "or the object's state forbids this",
    410: "Gone",
    413: "The request body is over the size limit",
    429: "Too many requests: see `Retry-After` and the `RateLimit-*` headers",
    502: "A service behind the gateway failed to answer",
    503: "A service behind the gateway, or one it needs, is unavailable; retry later",
}
_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "card_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    410: "authentication_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    503: "api_error",
}
_ERROR_CODE = {
    400: "parameter_invalid",
    401: "invalid_api_key",
    402: "card_declined",
    403: "role_required",
    404: "resource_missing",
    409: "idempotency_key_in_use",
    410: "api_key_unusable",
    413: "payload_too_large",
    429: "rate_limited",
    502: "upstream_error",
    503: "service_unavailable",
}


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: the next call a client makes with what this answer returned.

    `parameters` and `body` map names to runtime expressions (`$response.body#/id`).
    """

    operation_id: str
    description: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] | None = None

    def render(self) -> dict[str, Any]:
        link: dict[str, Any] = {"operationId": self.operation_id, "description": self.description}
        if self.parameters:
            link["parameters"] = dict(self.parameters)
        if self.body is not None:
            link["requestBody"] = dict(self.body)
        return link


@dataclass(frozen=True, slots=True)
class Doc:
    """What `@documented` records on an endpoint."""

    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    # The answer is a page of `response` objects in the list envelope.
    listing: bool = False
    query: type[BaseModel] | None = None
    # None: required when the model has required fields (an empty body is `{}`).
    body_required: bool | None = None
    errors: Mapping[int, str] = field(default_factory=dict)
    example: Mapping[str, Any] | None = None
    response_example: Mapping[str, Any] | None = None
    links: Mapping[str, Link] = field(default_factory=dict)
    operation_id: str | None = None
    summary: str | None = None
    description: str | None = None
    # Answers something other than JSON (an HTML page, a redirect): media type and text.
    produces: str | None = None
    idempotent: bool = True
    # The success status of a replay that returns the original object (the ledger's same
    # `reference_id` with the same body answers 200, where the first answer was 201).
    replay_status: int | None = None


def documented(
    *,
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    tags: Sequence[str] = (),
    listing: bool = False,
    query: type[BaseModel] | None = None,
    body_required: bool | None = None,
    errors: Mapping[int, str] | None = None,
    example: Mapping[str, Any] | None = None,
    response_example: Mapping[str, Any] | None = None,
    links: Mapping[str, Link] | None = None,
    operation_id: str | None = None,
    summary: str | None = None,
    description: str | None = None,
    produces: str | None = None,
    idempotent: bool = True,
    replay_status: int | None = None,
) -> Callable[[F], F]:
    """Record an endpoint's contract. Summary and description default to its docstring.

    `errors`: statuses this operation answers beyond the ones its shape implies, with what
    they mean here (402 for a declined card, 409 for a taken email...).
    """
    if listing and query is None:
        query = ListParams
    doc = Doc(
        request=request,
        response=response,
        status=status,
        tags=tuple(tags),
        listing=listing,
        query=query,
        body_required=body_required,
        errors=dict(errors or {}),
        example=example,
        response_example=response_example,
        links=dict(links or {}),
        operation_id=operation_id,
        summary=summary,
        description=description,
        produces=produces,
        idempotent=idempotent,
        replay_status=replay_status,
    )

    def mark(endpoint: F) -> F:
        setattr(endpoint, _ATTR, doc)
        return endpoint

    return mark


def doc_of(endpoint: Callable[..., Any]) -> Doc | None:
    found = getattr(endpoint, _ATTR, None)
    return found if isinstance(found, Doc) else None


def build_spec(
    title: str, routes: Sequence[BaseRoute], *, service: str, version: str = "0.1.0"
) -> dict[str, Any]:
    """The document of one app's `routes`; each operation is tagged with its service."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    taken: set[str] = set()
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        path = _CONVERTER.sub(r"{\1}", route.path)
        methods = sorted((route.methods or set()) - {"HEAD"}, key=_PRIMARY.index)
        doc = doc_of(route.endpoint) or Doc()
        for index, method in enumerate(methods):
            operation = _operation(route, doc, method, schemas)
            operation["tags"] = list(doc.tags) or [service]
            if index:
                operation["operationId"] += f"_{method.lower()}"
            if operation["operationId"] in taken:  # one endpoint on two paths
                names = "_".join(name for name, _ in _CONVERTER.findall(route.path))
                operation["operationId"] += f"_by_{names}"
            taken.add(operation["operationId"])
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "responses": error_responses()},
    }


def _operation(route: Route, doc: Doc, method: str, schemas: dict[str, Any]) -> dict[str, Any]:
    summary, description = _texts(route, doc)
    names = [name for name, _ in _CONVERTER.findall(route.path)]
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": f"The {name.replace('_', ' ')}.",
            "schema": {"type": "string"},
            "example": _id_example(name),
        }
        for name in names
    ]
    if doc.query is not None:
        parameters.extend(query_parameters(doc.query, schemas))
    statuses = dict(doc.errors)
    if doc.request is not None or doc.query is not None:
        statuses.setdefault(400, STATUS_TEXT[400])
    if doc.request is not None:
        statuses.setdefault(413, STATUS_TEXT[413])
    if names:
        statuses.setdefault(404, STATUS_TEXT[404])
    if method in _MUTATING and doc.idempotent:
        parameters.append(IDEMPOTENCY_KEY)
        statuses.setdefault(409, STATUS_TEXT[409])
    operation: dict[str, Any] = {
        "operationId": doc.operation_id or route.name,
        "summary": summary,
        "description": description,
        "tags": list(doc.tags),
        "parameters": parameters,
        "responses": {
            str(doc.status): _success(doc, schemas),
            **(
                {
                    str(doc.replay_status): {
                        **_success(doc, schemas),
                        "description": "A replay: the object the first request made",
                    }
                }
                if doc.replay_status is not None
                else {}
            ),
            **{str(code): error_response(code, text) for code, text in sorted(statuses.items())},
        },
    }
    if doc.request is not None:
        schema = _ref(doc.request, schemas)
        example = doc.example or example_of(schemas[doc.request.__name__], schemas)
        required = doc.body_required
        if required is None:
            required = bool(schemas[doc.request.__name__].get("required"))
        operation["requestBody"] = {
            "required": required,
            "content": {
                media: {"schema": schema, "example": dict(example)} for media in BODY_MEDIA
            },
        }
    return operation


def _texts(route: Route, doc: Doc) -> tuple[str, str]:
    """Summary: the docstring's first paragraph; description: the paragraphs after it."""
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines())
        for block in inspect.cleandoc(route.endpoint.__doc__ or "").split("\n\n")
        if block.strip()
    ]
    summary = doc.summary or (paragraphs[0] if paragraphs else route.name.replace("_", " "))
    rest = "\n\n".join(paragraphs[1:])
    return summary, doc.description or rest or summary


def _success(doc: Doc, schemas: dict[str, Any]) -> dict[str, Any]:
    if doc.produces is not None:
        return {"description": doc.description or "Success", "content": {doc.produces: {}}}
    answer: dict[str, Any] = {"description": "Success"}
    if doc.response is None:
        return answer
    item = _ref(doc.response, schemas)
    example = dict(doc.response_example or example_of(schemas[doc.response.__name__], schemas))
    if doc.listing:
        name = f"{doc.response.__name__}List"
        schemas[name] = list_schema(item)
        item = {"$ref": f"#/components/schemas/{name}"}
        example = {"object": "list", "data": [example], "has_more": False, "url": "/..."}
    answer["content"] = {"application/json": {"schema": item, "example": example}}
    if doc.links:
        answer["links"] = {name: link.render() for name, link in doc.links.items()}
    return answer


RESPONSE_NAMES = {
    400: "InvalidRequest",
    401: "Unauthenticated",
    402: "RequestFailed",
    403: "PermissionDenied",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    413: "PayloadTooLarge",
    429: "RateLimited",
    502: "BadGateway",
    503: "Unavailable",
}


def error_response(status: int, description: str) -> dict[str, Any]:
    """A refusal: a reference to the shared one, or inline when this operation says more."""
    if description == STATUS_TEXT.get(status):
        return {"$ref": f"#/components/responses/{RESPONSE_NAMES[status]}"}
    return _error_body(status, description)


def error_responses() -> dict[str, Any]:
    """`components.responses`: every refusal in the shared error shape, with an example."""
    return {RESPONSE_NAMES[code]: _error_body(code, text) for code, text in STATUS_TEXT.items()}


def _error_body(status: int, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": ERROR_REF},
                "example": {
                    "error": {
                        "type": _ERROR_TYPE.get(status, "api_error"),
                        "code": _ERROR_CODE.get(status, "error"),
                        "message": description.split(":")[0] + ".",
                        "param": None,
                        "request_id": "req_8f14e45fceea167a",
                    }
                },
            }
        },
    }


def list_schema(item: dict[str, Any]) -> dict[str, Any]:
    """The list envelope (`shared.pagination.list_body`) around `item`."""
    return {
        "type": "object",
        "required": ["object", "data", "has_more", "url"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": item},
            "has_more": {
                "type": "boolean",
                "description": "More objects follow: pass the last id as `starting_after`.",
            },
            "url": {"type": "string", "description": "The path this list was read from."},
        },
    }


def query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        title = prop.pop("title", name)
        description = prop.pop("description", None) or _QUERY_TEXT.get(name, title)
        found.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": prop,
            }
        )
    return found


_QUERY_TEXT = {
    "limit": "How many objects to return, 1 to 100 (default 10).",
    "starting_after": "An object id: the page of objects older than it.",
    "ending_before": "An object id: the page of objects newer than it.",
}

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (up to 255 characters). The first answer for a key is kept for 24 "
        "hours and replayed, with `Idempotent-Replayed: true`, to a retry with the same "
        "parameters; the same key with other parameters is an `idempotency_error`, and 409 "
        "while the first request still runs."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "example": "3f2c9a1e-7b4d-4c8e-9a51-d2b6e0f1c7a8",
}


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


# -- examples ----------------------------------------------------------------------------------

# A well-formed id body (26 characters of shared/ids.py's alphabet), the same in every example.
_ID_BODY = "01jgxk3m8q5t2n7v4r9w6y0zbc"
# Id prefixes by the name a field or path parameter gives the object (`wallet_id` -> wal_).
_PREFIXES = {
    "intent": "pi",
    "payment_intent": "pi",
    "refund": "re",
    "payout": "po",
    "wallet": "wal",
    "from_wallet": "wal",
    "to_wallet": "wal",
    "account": "acc",
    "transaction": "txn",
    "entry": "ent",
    "event": "evt",
    "endpoint": "we",
    "webhook_endpoint": "we",
    "delivery": "whdel",
    "attempt": "whatt",
    "operation": "wop",
    "key": "key",
    "user": "usr",
    "tenant": "ten",
    "session": "clis",
    "reversal": "txn",
    "reversed_by": "txn",
    "pending": "txn",
}
# Id prefixes by an object's `object` value, for its own `id`.
_OBJECT_PREFIXES = {
    "api_key": "key",
    "cli_session": "clis",
    "event": "evt",
    "ledger.account": "acc",
    "ledger.entry": "ent",
    "ledger.transaction": "txn",
    "payment_intent": "pi",
    "payout": "po",
    "refund": "re",
    "tenant": "ten",
    "user": "usr",
    "wallet": "wal",
    "wallet.operation": "wop",
    "wallet.transaction": "wtx",
    "webhook_delivery_attempt": "whatt",
    "webhook_endpoint": "we",
}
# Optional fields shown with a value rather than null: what a reader wants to see filled in.
_SHOWN = frozenset(
    {"description", "metadata", "name", "code", "owner", "payment_method", "receipt_email"}
)
_STRINGS = {
    "email": "dev@example.com",
    "receipt_email": "customer@example.com",
    "password": "securepassword",
    "currency": "usd",
    "description": "Order #6735",
    "name": "Acme Ltd",
    "business_name": "Acme Ltd",
    "slug": "acme",
    "owner": "customer_42",
    "code": "acc_revenue",
    "access_token": "eyJhbGciOiJFZERTQSIsImtpZCI6ImtleV8xIn0.eyJzdWIiOiJ1c3JfMDEifQ.c2ln",
    "refresh_token": "rt_Jx3mQ8vT2nR9wY6zB4cK7pL1",
    "websocket_token": "eyJhbGciOiJIUzI1NiJ9.eyJhdWQiOiJtaWNyby1jbGktbGlzdGVuIn0.c2ln",
    "provider": "simulator",
    "payment_method": "pm_card_visa",
    "event_type": "payment_intent.succeeded",
    "type": "payment_intent.succeeded",
    "enabled_events": "payment_intent.succeeded",
    "last4": "4242",
    "account_number": "0123456789",
    "bank_code": "058",
    "account_name": "Ada Obi",
    "reference_id": "order_6735",
    "client_secret": "pi_01jgxk3m8q5t2n7v4r9w6y0zbc_secret_Q2x9",
}


def _id_example(name: str) -> str:
    stem = name.removesuffix("_id")
    if stem == "provider":
        return "simulator"
    if stem == "slug":
        return "acme"
    return f"{_PREFIXES.get(stem, stem[:4])}_{_ID_BODY}"


def example_of(schema: Mapping[str, Any], schemas: Mapping[str, Any], name: str = "") -> Any:
    """A value that fits `schema`: its own example or default first, then a made-up one.

    Operations whose real bodies matter (the seeds' calls) give theirs in `@documented`; the
    rest show a value shaped by the schema (tests/gateway/test_openapi.py validates every example
    against its schema).
    """
    return _example(schema, schemas, name, depth=0)


def _example(schema: Mapping[str, Any], schemas: Mapping[str, Any], name: str, depth: int) -> Any:
    if "$ref" in schema:
        target = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return _example(target, schemas, name, depth + 1) if depth < 8 else None
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema and schema["default"] not in (None, {}, []):
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            if len(options) < len(schema[key]) and name not in _SHOWN:
                return None
            if options:
                return _example(options[0], schemas, name, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        return _object(schema, schemas, name, depth)
    if kind == "array":
        items = schema.get("items", {})
        return [] if depth > 6 else [_example(items, schemas, name, depth + 1)]
    if kind == "integer":
        return _integer(schema, name)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, name)


def _object(schema: Mapping[str, Any], schemas: Mapping[str, Any], name: str, depth: int) -> Any:
    props: Mapping[str, Any] = schema.get("properties", {})
    if not props:
        return {"order_id": "6735"} if name == "metadata" else {}
    found = {key: _example(value, schemas, key, depth + 1) for key, value in props.items()}
    prefix = _OBJECT_PREFIXES.get(str(found.get("object")))
    if prefix and isinstance(found.get("id"), str):
        found["id"] = f"{prefix}_{_ID_BODY}"
    secret_prefix = _SECRET_PREFIXES.get(str(found.get("object")))
    if secret_prefix and "secret" in found:
        found["secret"] = secret_prefix + _ID_BODY
    return found


# What an object's shown-once `secret` looks like (a made-up body, never a real secret).
_SECRET_PREFIXES = {"webhook_endpoint": "whsec_", "api_key": "sk_test_", "cli_session": "whsec_"}


def _integer(schema: Mapping[str, Any], name: str) -> int:
    if name in ("created", "updated") or name.endswith("_at"):
        value = 1767225600
    elif "amount" in name or name in ("balance", "available", "posted", "pending"):
        value = 5000
    else:
        value = 1
    low = schema.get("minimum", schema.get("exclusiveMinimum", value - 1) + 1)
    high = schema.get("maximum", schema.get("exclusiveMaximum", value + 1) - 1)
    return int(min(max(value, low), high))


def _string(schema: Mapping[str, Any], name: str) -> str:
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("format") == "email":
        return _STRINGS.get(name, "dev@example.com")
    if schema.get("format") == "uri" or name.endswith("url"):
        return "https://acme.example/webhooks/micro"
    if name in _STRINGS:
        return _STRINGS[name]
    if name == "id" or name.endswith("_id"):
        return _id_example(name if name != "id" else "object")
    pattern = schema.get("pattern")
    if pattern == r"^[0-9]{10}$":
        return "0123456789"
    length = int(schema.get("minLength", 1))
    word = name or "text"
    return word if len(word) >= length else word * length


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every refusal, from every service and the gateway, in one shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [
                        "invalid_request_error",
                        "authentication_error",
                        "permission_error",
                        "rate_limit_error",
                        "idempotency_error",
                        "card_error",
                        "api_error",
                    ],
                },
                "code": {"type": "string", "description": "Stable, for programs to branch on."},
                "message": {"type": "string", "description": "For people; may change."},
                "param": {
                    "type": ["string", "null"],
                    "description": "The parameter at fault, when there is one.",
                },
                "decline_code": {
                    "type": ["string", "null"],
                    "description": "Card errors: why the card was declined.",
                },
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}
