from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.auth.schemas import ApiKey, ApiKeyCreateRequest, ApiKeyRollRequest, VerifyKeyRequest
from services.auth.service import api_keys
from services.auth.state import auth_state
from shared.body import parse
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_params, list_response
from shared.responses import json_response

# The secret is in this answer: no cache (nor the idempotency store) may keep it.
NO_STORE = {"Cache-Control": "no-store"}


@documented(
    request=ApiKeyCreateRequest,
    response=ApiKey,
    status=201,
    example={"environment": "test", "name": "checkout server"},
)
async def create_key(request: Request) -> JSONResponse:
    """Create an API key; its secret is in this answer only.

    `environment` picks the mode: `test` (`sk_test_...`) or `live` (`sk_live_...`). The
    secret is shown once; store it. Only a signed-in admin makes keys, never another key.
    """
    body = await parse(request, ApiKeyCreateRequest)
    key = await api_keys.create_key(auth_state(request), identity_of(request), body)
    return json_response(key.model_dump(), status=201, headers=NO_STORE)


@documented(response=ApiKey, listing=True)
async def list_keys(request: Request) -> JSONResponse:
    """List the tenant's API keys, masked, with their last use.

    Secrets are masked (`sk_test_...abcd`); `last_used` is when a gateway last saw the key.
    """
    params = list_params(request)
    found, has_more = await api_keys.list_keys(
        auth_state(request), identity_of(request), params=params
    )
    return list_response(request, found, has_more=has_more, exclude={"secret"})


@documented(response=ApiKey)
async def revoke_key(request: Request) -> JSONResponse:
    """Revoke an API key: every gateway refuses it within a second.

    Requests with the key fail with 401 `api_key_revoked` from then on.
    """
    key = await api_keys.revoke_key(
        auth_state(request), identity_of(request), request.path_params["key_id"]
    )
    return json_response(key.model_dump(exclude={"secret"}))


@documented(
    request=ApiKeyRollRequest,
    response=ApiKey,
    status=201,
    body_required=False,
    example={"grace_period_seconds": 3600},
)
async def roll_key(request: Request) -> JSONResponse:
    """Issue a replacement key; the old one keeps working for the grace period.

    The answer holds the new secret (shown once); the old key is revoked after
    `grace_period_seconds`.
    """
    body = await parse(request, ApiKeyRollRequest)
    key = await api_keys.roll_key(
        auth_state(request), identity_of(request), request.path_params["key_id"], body
    )
    return json_response(key.model_dump(), status=201, headers=NO_STORE)


async def verify_key(request: Request) -> JSONResponse:
    """Internal: the gateway asks what an API key acts as."""
    body = await parse(request, VerifyKeyRequest)
    verified = await api_keys.verify_key(
        auth_state(request), identity_of(request), body.secret_hash
    )
    return json_response(
        {
            "id": verified.id,
            "tenant_id": verified.tenant_id,
            "livemode": verified.livemode,
            "rate_limit": verified.rate_limit,
            "expires_at": verified.expires_at,
        }
    )


routes = [
    Route("/auth/api_keys", create_key, methods=["POST"]),
    Route("/auth/api_keys", list_keys, methods=["GET"]),
    Route("/auth/api_keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/auth/api_keys/{key_id}/roll", roll_key, methods=["POST"]),
    Route("/internal/api_keys/verify", verify_key, methods=["POST"]),
]
