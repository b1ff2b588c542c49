"""A tenant's provider accounts: PUT/GET/DELETE /payments/providers/{provider}."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.schemas import CredentialsRequest, ProviderCredentials
from services.payments.service import credentials
from services.payments.state import payments_state
from shared.body import parse
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_body
from shared.responses import json_response


class DeletedCredentials(BaseModel):
    object: Literal["provider_credentials"] = "provider_credentials"
    provider: str = Field(examples=["paystack"])
    deleted: Literal[True] = True


@documented(request=CredentialsRequest, response=ProviderCredentials)
async def put_credentials(request: Request) -> JSONResponse:
    """Store this tenant's own account at a provider (for the key's mode).

    The secret key is encrypted at rest and never shown again in full.
    """
    provider = credentials.provider_name(request.path_params["provider"])
    credentials.check_admin(identity_of(request))
    body = await parse(request, CredentialsRequest)
    shown = await credentials.put_credentials(
        payments_state(request), identity_of(request), provider, body
    )
    return json_response(shown.model_dump())


@documented(response=ProviderCredentials)
async def get_credentials(request: Request) -> JSONResponse:
    """The account a provider's payments use: the tenant's own (masked) or the platform's.

    Secrets are masked.
    """
    provider = credentials.provider_name(request.path_params["provider"])
    shown = await credentials.get_credentials(
        payments_state(request), identity_of(request), provider
    )
    return json_response(shown.model_dump())


@documented(response=ProviderCredentials, listing=True, query=None)
async def list_credentials(request: Request) -> JSONResponse:
    """Every provider and the account it would use.

    One row per provider Micro knows.
    """
    found = await credentials.list_credentials(payments_state(request), identity_of(request))
    data = [item.model_dump() for item in found]
    return json_response(list_body(data, has_more=False, url=request.url.path))


@documented(response=DeletedCredentials)
async def delete_credentials(request: Request) -> JSONResponse:
    """Forget this tenant's own account: its payments fall back to the platform's.

    Payments made before keep their provider references.
    """
    provider = credentials.provider_name(request.path_params["provider"])
    await credentials.delete_credentials(
        payments_state(request).pool, identity_of(request), provider
    )
    return json_response({"object": "provider_credentials", "provider": provider, "deleted": True})


routes = [
    Route("/payments/providers", list_credentials, methods=["GET"]),
    Route("/payments/providers/{provider}", put_credentials, methods=["PUT", "POST"]),
    Route("/payments/providers/{provider}", get_credentials, methods=["GET"]),
    Route("/payments/providers/{provider}", delete_credentials, methods=["DELETE"]),
]
