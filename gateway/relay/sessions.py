"""`POST /cli/sessions`: what `micro listen` needs to connect, for the caller's tenant and mode."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.handler import authorize, revocation_token
from gateway.relay.tokens import listen_secret, mint_listen_token
from gateway.routing import Access, Rule, Target
from gateway.settings import GatewaySettings
from gateway.state import gateway_state
from shared import access
from shared.body import parse
from shared.errors import PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.openapi import documented

# Credentials as for any API route: an API key, or a tenant or platform admin's session.
RULE = Rule("/cli", "gateway", Access.API)


class SessionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Defaults to the credential's mode; a key can only listen in its own.
    livemode: bool | None = None


class CliSession(BaseModel):
    id: str = Field(examples=["clis_1NfB3kQ8Zc2rXh4T"])
    object: Literal["cli_session"] = "cli_session"
    websocket_url: str = Field(examples=["ws://localhost:8080/cli/listen"])
    websocket_token: str = Field(description="Short-lived: connect with it as a bearer token.")
    secret: str = Field(
        description="The `whsec_` secret the events' headers are signed with (stable per "
        "tenant and mode).",
    )
    livemode: bool
    tenant_id: str = Field(examples=["ten_1NfB3kQ8Zc2rXh4T"])
    expires_at: int = Field(description="When the token stops opening sockets (Unix seconds).")


@documented(
    request=SessionParams,
    response=CliSession,
    status=201,
    body_required=False,
    example={"livemode": False},
    idempotent=False,
    errors={403: "A key of the other mode, or a credential of no tenant"},
)
async def create_session(request: Request) -> JSONResponse:
    """Start a `micro listen` session: a WebSocket URL, its token and the signing secret.

    Connect to `websocket_url` (the `/cli/listen` WebSocket) with `websocket_token` before
    `expires_at`. `livemode` defaults to the credential's mode; an API key can listen only in
    its own.
    """
    identity, decision = await authorize(request, Target(RULE, "/cli/sessions"))
    params = await parse(request, SessionParams)
    livemode = _mode(identity, params.livemode)
    tenant_id = identity.tenant_id
    if not tenant_id:
        raise PermissionDeniedError("This credential belongs to no tenant.", code="no_tenant")
    if livemode:
        # An admin's session may ask for live in the body, past authorize's header check.
        await gateway_state(request).credentials.require_live_mode(tenant_id)
    settings = gateway_state(request).relay.settings
    session_id = new_id("clis")
    grant, token = mint_listen_token(
        settings.relay_token_key,
        session_id=session_id,
        tenant_id=tenant_id,
        livemode=livemode,
        principal=identity.principal,
        credential=revocation_token(request, identity),
        ttl=settings.cli_token_seconds,
    )
    host = request.headers.get("host") or f"{settings.host}:{settings.port}"
    response = JSONResponse(
        {
            "id": session_id,
            "object": "cli_session",
            "websocket_url": f"{_ws_scheme(request, settings)}://{host}/cli/listen",
            "websocket_token": token,
            "secret": listen_secret(settings.listen_signing_key, tenant_id, livemode),
            "livemode": livemode,
            "tenant_id": tenant_id,
            "expires_at": grant.expires_at,
        },
        status_code=201,
    )
    if decision is not None:
        response.raw_headers.extend(decision.headers(gateway_state(request).limiter.window_seconds))
    return response


def _ws_scheme(request: Request, settings: GatewaySettings) -> str:
    """wss when the client came over TLS, here or at a trusted proxy in front of us."""
    scheme = request.url.scheme
    peer = request.client.host if request.client else ""
    if peer in settings.trusted_proxies:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return "wss" if scheme in ("https", "wss") else "ws"


def _mode(identity: Identity, requested: bool | None) -> bool:
    if not access.is_api_key(identity) or requested is None:
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
