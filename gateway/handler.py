"""Every proxied request: route, authenticate, rate-limit, sign the identity, forward."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metrics import AUTH_FAILURES, RATE_LIMITED
from gateway.proxy import forward, forward_traced
from gateway.ratelimit import Decision
from gateway.routing import Access, Target, resolve
from gateway.state import GatewayState, gateway_state
from shared import tracing, v1
from shared.access import Role, SessionRequiredError
from shared.credentials import looks_like_api_key, secret_hash
from shared.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
)
from shared.handlers import allowed_methods, method_not_allowed, unrecognized
from shared.identity import Identity
from shared.v1 import Dialect

ROUTE_LABEL_KEY = "micro.route"
# Set on the API calls a dashboard page makes in this process (gateway/dashboard/api.py),
# never by a client: the page is one request of its session, not one per call it makes.
PAGE_CHARGE_KEY = "micro.dashboard.page"


@dataclass(slots=True)
class PageCharge:
    """One dashboard page's share of its session's rate limit: its first API call counts,
    the rest only check that the session was not revoked."""

    counted: bool = False


# What the catch-all route takes; another method on a proxied path is the gateway's 405.
PROXIED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

ANONYMOUS = Identity(principal="anonymous", principal_type="anonymous")


def raw_path(scope: Scope) -> str:
    """The path as sent (percent-escapes kept): what the routing table is matched against."""
    raw: bytes = scope.get("raw_path") or b""
    return raw.decode("latin-1").split("?")[0] or "/"


async def proxy(request: Request) -> Response:
    """The catch-all route: a path no proxied prefix takes is the gateway's own 404 or 405."""
    path = raw_path(request.scope)
    target = resolve(path)
    if target is None:
        if allowed_methods(request):  # one of the gateway's own routes, by another method
            raise method_not_allowed(request)
        dialect: Dialect = "stripe" if v1.is_v1(path) else "micro"
        raise unrecognized(request.method, request.url.path, dialect)
    return await serve(request, target)


class ProxiedFirst:
    """Sends a request a proxied prefix takes straight to `serve`, before Starlette's router.

    A proxied request used to walk the router's whole list (the gateway's own routes come
    first, the catch-all last) and its per-route wrappers: about a tenth of the gateway's
    CPU per request in py-spy. No proxied prefix takes one of the gateway's own paths
    (tests/unit/gateway/test_proxied_first.py), so what serves a path is unchanged. Errors
    rise to RequestContextMiddleware, which renders every MicroError as before.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in PROXIED_METHODS:
            target = resolve(raw_path(scope))
            if target is not None:
                response = await serve(Request(scope, receive), target)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def serve(request: Request, target: Target) -> Response:
    request.scope[ROUTE_LABEL_KEY] = target.rule.prefix
    gateway = gateway_state(request)
    client_ip = caller_ip(request, gateway)
    identity, decision = await _authorize(request, gateway, target, client_ip)
    if target.dialect != identity.dialect:
        identity = replace(identity, dialect=target.dialect)
    if tracing.enabled():
        tracing.annotate_scope(identity.tenant_id, identity.livemode)
        send = forward_traced
    else:
        send = forward
    response = await send(
        request,
        gateway.client,
        upstream=gateway.upstreams[target.rule.service],
        path=target.path,
        identity_token=gateway.tokens.get(identity),
        body_limit=gateway.settings.max_body_bytes,
        client_ip=client_ip,
    )
    if decision is not None:
        response.raw_headers.extend(decision.headers(gateway.limiter.window_seconds))
    return response


async def authorize(request: Request, target: Target) -> tuple[Identity, Decision | None]:
    """Authenticate and rate-limit a request the gateway answers itself (the CLI relay)."""
    gateway = gateway_state(request)
    return await _authorize(request, gateway, target, caller_ip(request, gateway))


async def _authorize(
    request: Request, gateway: GatewayState, target: Target, client_ip: str
) -> tuple[Identity, Decision | None]:
    settings = gateway.settings
    rule = target.rule
    if rule.access is Access.PUBLIC:
        identity = ANONYMOUS
        if rule.ip_limit is None:
            return identity, None
        limit = (
            settings.login_rate_limit if rule.ip_limit == "login" else settings.register_rate_limit
        )
        decision = await gateway.limiter.hit(f"ip:{rule.ip_limit}:{client_ip}", limit)
        _refuse_if_limited(decision, gateway, bucket=f"ip:{rule.ip_limit}")
        return identity, decision

    token = _bearer(request)
    mode = _mode(request)
    if looks_like_api_key(token):
        if rule.access is Access.SESSION:
            AUTH_FAILURES.labels("session_required").inc()
            raise SessionRequiredError()
        key, digest = await gateway.credentials.api_key(token)
        identity = Identity(
            principal=key.id,
            principal_type="api_key",
            tenant_id=key.tenant_id,
            livemode=key.livemode,
        )
        decision = await gateway.limiter.hit(
            f"key:{key.id}",
            key.rate_limit or settings.rate_limit,
            revocation=digest,
            last_used=key.id,
        )
        if decision is not None and decision.revoked:
            gateway.credentials.forget(digest)
            AUTH_FAILURES.labels("api_key_revoked").inc()
            raise AuthenticationError("This API key has been revoked.", code="api_key_revoked")
    else:
        claims = await gateway.credentials.session(token)
        role = Role(claims["role"])
        if rule.access is Access.API and role not in rule.session_roles:
            AUTH_FAILURES.labels("role").inc()
            raise PermissionDeniedError(
                f"A {role} session cannot use {rule.prefix}; use an API key or an admin's session.",
                code="role_required",
            )
        identity = Identity(
            principal=claims["sub"],
            principal_type="user",
            tenant_id=claims["tid"],
            role=role,
            session_id=claims["sid"],
            livemode=mode == "live",
        )
        page = request.scope.get(PAGE_CHARGE_KEY)
        if isinstance(page, PageCharge) and page.counted:
            decision = await gateway.limiter.revoked(claims["sid"])
        else:
            decision = await gateway.limiter.hit(
                f"user:{claims['sub']}", settings.session_rate_limit, revocation=claims["sid"]
            )
            if isinstance(page, PageCharge):
                page.counted = True
        if decision is not None and decision.revoked:
            AUTH_FAILURES.labels("session_revoked").inc()
            raise AuthenticationError(
                "This session has ended (signed out or deactivated); sign in again.",
                code="session_revoked",
            )
    _refuse_if_limited(decision, gateway, bucket=rule.access.value)
    if identity.livemode and rule.access is Access.API:
        # Live is real money: only for a tenant a platform admin has turned it on for. A
        # USER of such a tenant may act live too, within what its role reaches (its own
        # wallets), as a Stripe dashboard user with a view-only role sees live data.
        await gateway.credentials.require_live_mode(identity.tenant_id)
    return identity, decision


def revocation_token(request: Request, identity: Identity) -> str:
    """What auth names this request's credential by when it revokes it (as the Redis
    marker does): an API key's SHA-256, a session's id."""
    if identity.principal_type == "api_key":
        return secret_hash(_bearer(request))
    return identity.session_id or identity.principal


def _mode(request: Request) -> str:
    """`Micro-Mode` picks a session's mode; a key's own mode wins. Anything but test or live is
    refused rather than read as test, so a typo cannot silently act in the other mode."""
    mode = request.headers.get("micro-mode", "test").strip().lower()
    if mode not in ("test", "live"):
        raise InvalidRequestError(
            "Micro-Mode must be `test` or `live`.", code="parameter_invalid", param="Micro-Mode"
        )
    return mode


def _refuse_if_limited(decision: Decision | None, gateway: GatewayState, *, bucket: str) -> None:
    if decision is None or decision.allowed:
        return
    RATE_LIMITED.labels(bucket).inc()
    headers = {
        name.decode(): value.decode()
        for name, value in decision.headers(gateway.limiter.window_seconds)
    }
    raise RateLimitError(
        f"Too many requests: the limit is {decision.limit} per "
        f"{gateway.limiter.window_seconds} s. Retry after {decision.reset_seconds} s.",
        headers=headers,
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        # Stripe's clients send the key as the Basic user name (`curl -u sk_test_...:`).
        try:
            user = base64.b64decode(value, validate=True).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            user = ""
        if user:
            return user
    AUTH_FAILURES.labels("missing").inc()
    raise AuthenticationError(
        "You did not provide an API key or access token: send "
        "`Authorization: Bearer sk_test_...` (or a user's access token).",
        code="missing_credentials",
    )


def caller_ip(request: Request, gateway: GatewayState) -> str:
    """The caller's address: the peer's, or X-Forwarded-For's first from a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in gateway.settings.trusted_proxies:
        candidate = forwarded.split(",")[0].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer
