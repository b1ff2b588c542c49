"""`/openapi.json`: the whole public API, merged from the services; `/docs` renders it.

Each service documents its own operations (`shared/openapi.py`). The merge adds what the
gateway decides, read from its routing table so the document cannot drift from it: which
credential each path takes (`security`), `Micro-Mode` for sessions, the refusals of the edge
(401/403/429/502/503), the gateway's own routes (`/health`, `/cli/sessions`, the
`/cli/listen` WebSocket...) and the seed documents' alias spellings. Internal routes
(`/internal/...`) are not reachable through the gateway and are left out.

`/docs` is Swagger UI 5, vendored in `gateway/swagger_ui/` (nothing is fetched at run time).
"""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path
from typing import Any

import aiohttp
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.health import OUTBOXES_RULE, health, outboxes
from gateway.relay import sessions
from gateway.relay.listen import (
    CLOSE_BAD_REQUEST,
    CLOSE_PING_TIMEOUT,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
)
from gateway.relay.routes import routes as relay_routes
from gateway.routing import Access, Rule, resolve
from gateway.state import gateway_state
from shared import v1
from shared.balancer import Replicas
from shared.health import ready
from shared.openapi import (
    OPENAPI_VERSION,
    STATUS_TEXT,
    build_spec,
    error_response,
    error_responses,
)

STATIC = Path(__file__).parent / "swagger_ui"
_CACHE_SECONDS = 30.0
_cache: dict[str, Any] = {}

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Micro API</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
  <div id="ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json", dom_id: "#ui", deepLinking: true, displayOperationId: false,
      docExpansion: "none", filter: true
    });
  </script>
</body>
</html>
"""

API_KEY = "apiKey"
SESSION = "sessionToken"
LISTEN = "listenToken"
SECURITY_SCHEMES: dict[str, Any] = {
    API_KEY: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "sk_test_... or sk_live_...",
        "description": (
            "A secret API key from `POST /auth/api_keys`: `Authorization: Bearer sk_test_...` "
            "(or HTTP Basic with the key as the user name, as Stripe's clients send it). The "
            "key's mode (test or live) is the mode of everything it touches."
        ),
    },
    SESSION: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A signed-in user's access token from `POST /auth/login` (or `/auth/register`, "
            "`/auth/signup`, `/auth/admin`); `Micro-Mode: live` picks live mode."
        ),
    },
    LISTEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "The short-lived `websocket_token` from `POST /cli/sessions`.",
    },
}

# What every rate-limited answer carries (gateway/ratelimit.py `Decision.headers`).
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Policy": {
        "description": "The limit and its window: `100;w=60`.",
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": "`limit=100, remaining=99, reset=60` (reset in seconds).",
        "schema": {"type": "string"},
    },
    "X-RateLimit-Limit": {"description": "Requests per window.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {
        "description": "Requests left in this window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the window resets (Unix seconds).",
        "schema": {"type": "integer"},
    },
}
RETRY_AFTER: dict[str, Any] = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
}

MICRO_MODE: dict[str, Any] = {
    "name": "Micro-Mode",
    "in": "header",
    "required": False,
    "description": (
        "Sessions only: `test` (the default) or `live`. An API key's mode is its own "
        "(`sk_test_`/`sk_live_`) and this header does not change it."
    ),
    "schema": {"type": "string", "enum": ["test", "live"], "default": "test"},
}

STRIPE_TAG = "Stripe-compatible API"
TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Accounts, sign-in, tenants, users and API keys."},
    {"name": "payments", "description": "PaymentIntents, refunds, payouts and providers."},
    {"name": "ledger", "description": "Double-entry accounts, transactions and balances."},
    {"name": "wallet", "description": "Wallets on ledger accounts: deposit, transfer, withdraw."},
    {"name": "events", "description": "The event log and webhook endpoints."},
    {"name": "gateway", "description": "The gateway's own routes: health, docs, CLI relay."},
    {
        "name": STRIPE_TAG,
        "description": (
            "Stripe's `/v1/...` paths, for Stripe's own SDKs (stripe-python, stripe-node) and "
            "any client of Stripe's API: each is the native operation beside it, served by the "
            "same handler with the same rules. What a Stripe client is owed differently: a "
            "list's `url` names the `/v1` path; a webhook endpoint created here signs with "
            "`Stripe-Signature` by default; every answer carries `Request-Id` and echoes "
            "`Stripe-Version`; a `/v1` path Micro does not serve is Stripe's 404 "
            "(`Unrecognized request URL (GET: /v1/charges)`)."
        ),
    },
    {
        "name": "aliases",
        "description": (
            "The seed documents' spellings (`/api/auth/...`, `/api/tenant/...`, "
            "`/api/wallet/...`, `/api/webhook/...`, `/api/health`): each reaches the same "
            "handler as the path it names."
        ),
    },
]

STRIPE_VERSION: dict[str, Any] = {
    "name": "Stripe-Version",
    "in": "header",
    "required": False,
    "description": (
        "Taken as Stripe's clients send it, any value, and echoed in the answer's "
        "`Stripe-Version`: Micro serves one shape whatever version is named."
    ),
    "schema": {"type": "string"},
    "example": "2026-10-28.endive",
}
REQUEST_ID: dict[str, Any] = {
    "description": "The request's id, as `X-Request-Id` (Stripe's SDKs read this one).",
    "required": True,
    "schema": {"type": "string"},
}

# The seed documents' spellings of canonical prefixes (gateway/routing.py `_ALIASES`).
ALIAS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/auth", "/api/auth"),
    ("/tenants", "/api/tenant"),
    ("/wallet", "/api/wallet"),
    ("/webhooks", "/api/webhook"),
    ("/health", "/api/health"),
)
# One alias names a method's path outright: `POST /api/tenant/create` is `POST /tenants`.
EXTRA_ALIASES: tuple[tuple[str, str, str], ...] = (("post", "/tenants", "/api/tenant/create"),)

# Routes the gateway serves that the document leaves out, and why.
UNDOCUMENTED: dict[str, str] = {
    "/docs/static": "Swagger UI's own files, loaded by the /docs page",
    "/metrics": "Prometheus scrapes it; it is for operators, not API clients",
    "/{path:path}": "the proxy: each path it reaches is documented by its service",
    "/dashboard": "the dashboard: HTML pages for people, each a client of the documented API",
}


async def openapi(request: Request) -> JSONResponse:
    """The whole public API: every service's operations as reached through the gateway."""
    cached = _cache.get("spec")
    if cached is None or time.monotonic() - cached[1] > _CACHE_SECONDS:
        gateway = gateway_state(request)
        specs = await asyncio.gather(
            *(_fetch_any(gateway.client, replicas) for replicas in gateway.upstreams.values())
        )
        cached = (merge(specs), time.monotonic())
        if all(specs):
            _cache["spec"] = cached
    return JSONResponse(cached[0])


def merge(specs: list[dict[str, Any] | None]) -> dict[str, Any]:
    own = build_spec("Micro Gateway", gateway_routes(), service="gateway")
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(own["components"]["schemas"])
    for spec in specs:
        if not spec:
            continue
        for path, item in spec.get("paths", {}).items():
            target = resolve(path)
            if target is not None:  # `/internal/...` is not reachable from outside
                paths[path] = {method: _at_edge(target.rule, op) for method, op in item.items()}
        schemas.update(spec.get("components", {}).get("schemas", {}))
    for path, item in own["paths"].items():
        paths[path] = {method: _own(path, op) for method, op in item.items()}
    paths["/cli/listen"] = {"get": LISTEN_OPERATION}
    paths.update(stripe_paths(paths))
    paths.update(_aliases(paths))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Micro API",
            "version": "0.1.0",
            "description": _INFO,
        },
        "tags": TAGS,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "headers": {**RATE_LIMIT_HEADERS, "Retry-After": RETRY_AFTER, "Request-Id": REQUEST_ID},
            "securitySchemes": SECURITY_SCHEMES,
        },
        "paths": dict(sorted(paths.items())),
    }


_INFO = (
    "Everything Micro offers, through its one public port. Amounts are integers in the "
    "currency's minor unit (5000 = 50.00 USD). Bodies are JSON or form-encoded. Every refusal "
    "has the shape of the `Error` schema. Lists are newest first and paged with "
    "`starting_after`/`ending_before`. Mutating calls take an `Idempotency-Key`."
)


def _at_edge(rule: Rule, operation: dict[str, Any]) -> dict[str, Any]:
    """A service's operation, with what the gateway's rule for its path decides."""
    operation = copy.deepcopy(operation)
    operation["tags"] = [rule.service]
    _credential(operation, rule)
    _add_responses(operation, {502: STATUS_TEXT[502], 503: STATUS_TEXT[503]})
    return operation


def _own(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    operation = copy.deepcopy(operation)
    operation["tags"] = ["gateway"]
    _credential(operation, _OWN_RULES.get(path, _PUBLIC))
    return operation


_PUBLIC = Rule("/", "gateway", Access.PUBLIC)
_OWN_RULES = {"/cli/sessions": sessions.RULE, "/system/outboxes": OUTBOXES_RULE}


def _credential(operation: dict[str, Any], rule: Rule) -> None:
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    if rule.access is Access.PUBLIC:
        # Public doors have no tenant to scope a key to, so idempotency leaves them alone.
        operation["parameters"] = [p for p in parameters if p["name"] != "Idempotency-Key"]
        responses = operation["responses"]
        if responses.get("409") == error_response(409, STATUS_TEXT[409]):
            del responses["409"]
        operation["security"] = []
        if rule.ip_limit is not None:
            _add_responses(operation, {429: STATUS_TEXT[429]})
            _rate_limit_headers(operation)
        return
    if rule.access is Access.SESSION:
        operation["security"] = [{SESSION: []}]
        who = "a signed-in user's access token (an API key is refused with 403)"
    else:
        operation["security"] = [{API_KEY: []}, {SESSION: []}]
        roles = " or ".join(sorted(rule.session_roles))
        who = f"an API key, or the access token of a {roles} session"
    parameters.append(MICRO_MODE)
    operation["description"] = f"{operation['description']}\n\nCredential: {who}."
    # Every credentialed call may be refused at the edge for its Micro-Mode (400), and may
    # name an object (in its path or its body) the tenant does not have (404).
    _add_responses(
        operation,
        {
            400: STATUS_TEXT[400],
            401: STATUS_TEXT[401],
            403: STATUS_TEXT[403],
            404: STATUS_TEXT[404],
            429: STATUS_TEXT[429],
        },
    )
    _rate_limit_headers(operation)


def _rate_limit_headers(operation: dict[str, Any]) -> None:
    """Successes carry the limit's state; a 429 also says when to retry."""
    refs = {name: {"$ref": f"#/components/headers/{name}"} for name in RATE_LIMIT_HEADERS}
    responses: dict[str, Any] = operation["responses"]
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(refs)
    responses["429"] = {
        "description": STATUS_TEXT[429],
        "headers": {**refs, "Retry-After": {"$ref": "#/components/headers/Retry-After"}},
        "content": error_responses()["RateLimited"]["content"],
    }


def _add_responses(operation: dict[str, Any], statuses: dict[int, str]) -> None:
    responses: dict[str, Any] = operation["responses"]
    for status, text in statuses.items():
        responses.setdefault(str(status), error_response(status, text))
    operation["responses"] = dict(sorted(responses.items()))


def stripe_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `/v1` path of every native operation under a prefix of `shared.v1.PATHS`,
    whatever operations the services document there."""
    found: dict[str, Any] = {}
    for path, item in paths.items():
        public = v1.public_path(path, "stripe")
        if public != path:
            found[public] = {
                method: stripe_alias(operation, method, path) for method, operation in item.items()
            }
    return found


def stripe_alias(operation: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The native operation as Stripe's path: the same parameters, bodies and answers, plus
    the `Stripe-Version` it takes and the `Request-Id` it answers with."""
    operation = _alias(operation, method, path)
    operation["operationId"] = operation["operationId"].removesuffix("_alias") + "_v1"
    operation["tags"] = [STRIPE_TAG]
    summary = operation["summary"].rsplit(" (as ", 1)[0].removesuffix(".")
    operation["summary"] = f"{summary} (Stripe's path for {method.upper()} {path})."
    native = operation["description"].split("\n\n", 1)[1]
    operation["description"] = (
        f"Stripe's path for `{method.upper()} {path}`: the same operation (the tag "
        f"{STRIPE_TAG} says what a Stripe client is owed differently).\n\n{native}"
    )
    operation["parameters"] = [*operation.get("parameters", []), STRIPE_VERSION]
    headers = {"Request-Id": {"$ref": "#/components/headers/Request-Id"}}
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(headers)
    return operation


def _aliases(paths: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path, item in paths.items():
        for prefix, alias in ALIAS_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                found[alias + path[len(prefix) :]] = {
                    method: _alias(operation, method, path) for method, operation in item.items()
                }
    for method, path, alias in EXTRA_ALIASES:
        if method in paths.get(path, {}):
            operation = _alias(paths[path][method], method, path)
            operation["operationId"] += "_create"
            found[alias] = {method: operation}
    return found


def _alias(operation: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = copy.deepcopy(operation)
    operation["operationId"] += "_alias"
    operation["tags"] = ["aliases"]
    operation["summary"] = f"{operation['summary']} (as {method.upper()} {path})"
    operation["description"] = (
        f"The same as `{method.upper()} {path}`.\n\n" + operation["description"]
    )
    # Links name operations by id; an alias's answer leads to the canonical ones anyway.
    for response in operation["responses"].values():
        response.pop("links", None)
    return operation


LISTEN_OPERATION: dict[str, Any] = {
    "operationId": "cli_listen",
    "summary": "WebSocket: the tenant's events, in order, for `micro listen`.",
    "tags": ["gateway"],
    "security": [{LISTEN: []}],
    "description": f"""\
A WebSocket (send `Upgrade: websocket`; Swagger UI cannot open one). Get the URL and a
token from `POST /cli/sessions`, then connect with `Authorization: Bearer <websocket_token>`
(or `?token=`).

Every frame is a JSON text message.

Server to listener:

- `{{"type": "ready", "stream_id": "1767225600000-0"}}`: sent once; the stream is read after
  this cursor (`after`, or the newest entry when there is none).
- `{{"type": "event", "stream_id", "id", "event_type", "payload", "headers"}}`: one event of
  the tenant's stream in this session's mode, in stream order. `payload` is the event's
  exact JSON text; `headers` are the Standard Webhooks headers (`webhook-id`,
  `webhook-timestamp`, `webhook-signature`) signed with the session's `secret`, so the
  local app verifies them as it would a real delivery.
- `{{"type": "ping"}}`: answer with a pong.

Listener to server:

- `{{"type": "ack", "stream_id"}}`: that event and every one before it are handled. At most
  a window of unacknowledged events is in flight; the rest waits in the stream.
- `{{"type": "pong"}}`: the listener is alive.

Reconnect with `after=<last acknowledged stream_id>` to replay what was missed.

Close codes: {CLOSE_UNAUTHENTICATED} bad or expired token; {CLOSE_BAD_REQUEST} bad options or
message; {CLOSE_TOO_SLOW} listener too slow (resume from the last acknowledged event);
{CLOSE_PING_TIMEOUT} no pong; {CLOSE_UNAVAILABLE} events unavailable (Redis), retry.""",
    "parameters": [
        {
            "name": "token",
            "in": "query",
            "required": False,
            "description": "The `websocket_token`, when the client cannot set a header.",
            "schema": {"type": "string"},
        },
        {
            "name": "events",
            "in": "query",
            "required": False,
            "description": "Event types to send: `a,b`, `family.*` or `*` (the default).",
            "schema": {"type": "string", "default": "*"},
            "example": "payment_intent.*",
        },
        {
            "name": "after",
            "in": "query",
            "required": False,
            "description": "Resume after this stream id (the last one acknowledged).",
            "schema": {"type": "string", "pattern": r"^\d+-\d+$"},
            "example": "1767225600000-0",
        },
    ],
    "responses": {
        "101": {"description": "Switching Protocols: the WebSocket is open; `ready` follows."},
    },
}


async def _fetch_any(client: aiohttp.ClientSession, replicas: Replicas) -> dict[str, Any] | None:
    """The service's document from the first of its replicas to give it (they run one code)."""
    for base in replicas.order():
        if (spec := await _fetch(client, base)) is not None:
            return spec
    return None


async def _fetch(client: aiohttp.ClientSession, base: str) -> dict[str, Any] | None:
    try:
        async with client.get(f"{base}/openapi.json", timeout=aiohttp.ClientTimeout(total=5)) as r:
            if r.status != 200:
                return None
            spec: dict[str, Any] = await r.json()
            return spec
    except (aiohttp.ClientError, TimeoutError):
        return None


async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over `/openapi.json`: read the API and try its calls with a key."""
    return HTMLResponse(_PAGE)


def gateway_routes() -> list[Route]:
    """The gateway's own HTTP routes, as the document lists them."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/system/outboxes", outboxes, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        *(route for route in relay_routes if isinstance(route, Route)),
    ]


routes = [
    Route("/docs", docs, methods=["GET"]),
    Mount("/docs/static", app=StaticFiles(directory=STATIC), name="docs-static"),
]
