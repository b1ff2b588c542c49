"""Provider routes (PUT/GET/DELETE /payments/routing/{currency}, GET /payments/routing) and
an intent's attempts (GET /payments/payment_intents/{intent_id}/attempts)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.routes.expansion import listed
from services.payments.schemas import DeletedRoute, PaymentAttempt, ProviderRoute, RouteRequest
from services.payments.service import attempts, credentials, routing
from services.payments.state import payments_state
from shared.body import parse
from shared.identity import identity_of
from shared.openapi import documented
from shared.pagination import list_body
from shared.responses import json_response


@documented(
    request=RouteRequest,
    response=ProviderRoute,
    example={"providers": ["paystack", "flutterwave"]},
)
async def put_route(request: Request) -> JSONResponse:
    """Set the providers a currency's payments go to, in the order they are tried.

    A PaymentIntent created with no `provider` in this currency goes to the first one with
    an account; a confirm that fails there without taking money (unreachable, rate limited,
    no answer and verified uncharged) is tried on the next. Declines are never retried
    elsewhere. For the credential's mode; the simulator in test mode only, and alone.
    """
    currency = str(request.path_params["currency"])
    credentials.check_admin(identity_of(request))
    body = await parse(request, RouteRequest)
    shown = await routing.put_route(
        payments_state(request).pool, identity_of(request), currency, body
    )
    return json_response(shown.model_dump())


@documented(response=ProviderRoute)
async def get_route(request: Request) -> JSONResponse:
    """The route a currency's payments take: the tenant's own, or the platform's default.

    404 when the currency has neither.
    """
    shown = await routing.get_route(
        payments_state(request), identity_of(request), str(request.path_params["currency"])
    )
    return json_response(shown.model_dump())


@documented(response=ProviderRoute, listing=True, query=None)
async def list_routes(request: Request) -> JSONResponse:
    """Every provider route: the tenant's own, then the platform's defaults.

    A platform default is listed only for the currencies the tenant set no route for.
    """
    found = await routing.list_routes(payments_state(request), identity_of(request))
    data = [item.model_dump() for item in found]
    return json_response(list_body(data, has_more=False, url=request.url.path))


@documented(response=DeletedRoute)
async def delete_route(request: Request) -> JSONResponse:
    """Forget the tenant's route for a currency: the platform's default applies again.

    Intents already created keep the route they were created on.
    """
    code = await routing.delete_route(
        payments_state(request).pool, identity_of(request), str(request.path_params["currency"])
    )
    return json_response(DeletedRoute(currency=code).model_dump())


@documented(response=PaymentAttempt, listing=True, query=None)
async def list_attempts(request: Request) -> JSONResponse:
    """Every attempt of a PaymentIntent at a provider, newest first.

    Each has its provider, the reference the provider was sent, its status and, once it
    failed, why (`error_code`, `error_message`); `id` is the `ch_` that `latest_charge`
    showed while it was the latest.
    """
    found = await attempts.list_attempts(
        payments_state(request).pool, identity_of(request), str(request.path_params["intent_id"])
    )
    return listed(request, [item.model_dump() for item in found], has_more=False)


routes = [
    Route("/payments/routing", list_routes, methods=["GET"]),
    Route("/payments/routing/{currency}", put_route, methods=["PUT", "POST"]),
    Route("/payments/routing/{currency}", get_route, methods=["GET"]),
    Route("/payments/routing/{currency}", delete_route, methods=["DELETE"]),
    Route("/payments/payment_intents/{intent_id}/attempts", list_attempts, methods=["GET"]),
]
