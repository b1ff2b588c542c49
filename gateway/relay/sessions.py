"""`POST /cli/sessions`: what `micro listen` needs to connect, for the caller's tenant and mode."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.context import gateway_of
from gateway.handler import authorize
from gateway.relay.context import relay_of
from gateway.relay.tokens import listen_secret, mint_listen_token
from gateway.routing import Access, Rule, Target
from gateway.settings import GatewaySettings
from shared.body import parse
from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id

# Credentials as for any API route: an API key, or a tenant or platform admin's session.
_RULE = Rule("/cli", "gateway", Access.API)


class SessionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults to the credential's mode; a key can only listen in its own.
    livemode: bool | None = None


async def create_session(request: Request) -> JSONResponse:
    identity, decision = await authorize(request, Target(_RULE, "/cli/sessions"))
    params = await parse(request, SessionParams)
    livemode = _mode(identity, params.livemode)
    tenant_id = identity.tenant_id
    if not tenant_id:
        raise PermissionDeniedError("This credential belongs to no tenant.", code="no_tenant")
    settings = relay_of(request).settings
    session_id = new_id("clis")
    grant, token = mint_listen_token(
        settings.internal_secret,
        session_id=session_id,
        tenant_id=tenant_id,
        livemode=livemode,
        principal=identity.principal,
        ttl=settings.cli_token_seconds,
    )
    host = request.headers.get("host") or f"{settings.host}:{settings.port}"
    response = JSONResponse(
        {
            "id": session_id,
            "object": "cli_session",
            "websocket_url": f"{_ws_scheme(request, settings)}://{host}/cli/listen",
            "websocket_token": token,
            "secret": listen_secret(settings.internal_secret, tenant_id, livemode),
            "livemode": livemode,
            "tenant_id": tenant_id,
            "expires_at": grant.expires_at,
        },
        status_code=201,
    )
    if decision is not None:
        response.raw_headers.extend(decision.headers(gateway_of(request).limiter.window_seconds))
    return response


def _ws_scheme(request: Request, settings: GatewaySettings) -> str:
    """wss when the client came over TLS, here or at a trusted proxy in front of us."""
    scheme = request.url.scheme
    peer = request.client.host if request.client else ""
    if peer in settings.trusted_proxies:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return "wss" if scheme in ("https", "wss") else "ws"


def _mode(identity: Identity, requested: bool | None) -> bool:
    if identity.principal_type != "api_key" or requested is None:
        return identity.livemode if requested is None else requested
    if requested != identity.livemode:
        have, want = ("live", "test") if identity.livemode else ("test", "live")
        raise PermissionDeniedError(
            f"A {have}-mode API key cannot listen to {want}-mode events; use a {want} key "
            f"(sk_{want}_...) or an admin's session.",
            code="livemode_mismatch",
            param="livemode",
        )
    return identity.livemode
