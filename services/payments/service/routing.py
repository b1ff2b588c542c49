"""Provider routes: which providers a currency's payments go to, in the order they are tried.

A tenant sets its own per currency and mode (`PUT /payments/routing/{currency}`, a tenant
admin's or an API key's business, as its provider accounts are); otherwise the platform's
default from settings (`provider_routes`) applies. An intent created with no `provider` in
a routed currency goes to the route's first provider that has an account, and keeps the
route it was created on (`intent_routes`): a confirm that fails there in a retryable way is
tried on the next (`service/failover.py`). An intent that names its provider is never moved.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from services.payments.providers.base import Provider
from services.payments.repository import routes as routes_repo
from services.payments.repository.routes import RouteRow
from services.payments.schemas import CreateIntentRequest, ProviderRoute, RouteRequest
from services.payments.service.credentials import check_admin
from services.payments.service.provider_accounts import (
    Owner,
    ProviderNotConfiguredError,
    ProviderSource,
)
from services.payments.service.route_rules import (
    RouteError,
    check_route,
    currency_of,
    parse_default,
)
from shared.db import Connection, Pool, transaction
from shared.errors import NotFoundError
from shared.identity import Identity
from shared.timeutil import unix

if TYPE_CHECKING:
    from services.payments.state import PaymentsState

Route = tuple[str, ...]


@functools.cache
def _defaults(text: str) -> dict[str, Route]:
    return parse_default(text)


def platform_route(source: ProviderSource, currency: str) -> Route | None:
    return _defaults(source.settings.provider_routes).get(currency)


async def route_for(
    conn: Connection, source: ProviderSource, *, tenant_id: str, livemode: bool, currency: str
) -> Route | None:
    """The route a new intent in `currency` takes: the tenant's, else the platform's."""
    row = await routes_repo.get_route(
        conn, tenant_id=tenant_id, livemode=livemode, currency=currency
    )
    if row is not None:
        return tuple(row.providers)
    return platform_route(source, currency)


async def routed_request(
    payments: PaymentsState, identity: Identity, request: CreateIntentRequest
) -> tuple[CreateIntentRequest, Route | None]:
    """A create that names no provider, in a routed currency: the request with the route's
    first usable provider filled in, and the route (None: the request as it came)."""
    if "provider" in request.model_fields_set:
        return request, None
    async with transaction(payments.pool) as conn:
        return await route_request(conn, payments.providers, identity, request)


async def route_request(
    conn: Connection, source: ProviderSource, identity: Identity, request: CreateIntentRequest
) -> tuple[CreateIntentRequest, Route | None]:
    """`routed_request` in the caller's transaction (the intent's own, when nothing has to
    be asked of another service between the two)."""
    if "provider" in request.model_fields_set:
        return request, None
    route = await route_for(
        conn, source, tenant_id=identity.tenant_scope, livemode=identity.livemode,
        currency=request.currency,
    )  # fmt: skip
    if route is None:
        return request, None
    _, _, name = await first_usable(
        conn, source, route, tenant_id=identity.tenant_scope, livemode=identity.livemode
    )
    return request.model_copy(update={"provider": name}), route


async def first_usable(
    conn: Connection, source: ProviderSource, names: Route, *, tenant_id: str, livemode: bool
) -> tuple[Provider, Owner, str]:
    """The first provider of `names` with an account for the tenant (or the platform) in
    this mode; when none has one, the first one's refusal."""
    refusal: ProviderNotConfiguredError | None = None
    for name in names:
        try:
            provider, owner = await source.choose(
                conn, tenant_id=tenant_id, livemode=livemode, provider=name
            )
        except ProviderNotConfiguredError as exc:
            refusal = refusal or exc
            continue
        return provider, owner, name
    assert refusal is not None  # a route is never empty
    raise refusal


# -- the API -----------------------------------------------------------------------------------


async def put_route(
    pool: Pool, identity: Identity, currency: str, request: RouteRequest
) -> ProviderRoute:
    check_admin(identity)
    code = _path_currency(currency)
    providers = check_route(request.providers)
    async with transaction(pool) as conn:
        row = await routes_repo.upsert_route(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, currency=code,
            providers=list(providers),
        )  # fmt: skip
    return _tenant_route(row)


async def get_route(payments: PaymentsState, identity: Identity, currency: str) -> ProviderRoute:
    check_admin(identity)
    code = _path_currency(currency)
    async with transaction(payments.pool) as conn:
        row = await routes_repo.get_route(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, currency=code
        )
    if row is not None:
        return _tenant_route(row)
    default = platform_route(payments.providers, code)
    if default is None:
        raise NotFoundError(f"No provider route for {code}.", param="currency")
    return _platform_route(code, default, livemode=identity.livemode)


async def list_routes(payments: PaymentsState, identity: Identity) -> list[ProviderRoute]:
    """The tenant's routes, then the platform's defaults for the currencies it set none for."""
    check_admin(identity)
    async with transaction(payments.pool) as conn:
        rows = await routes_repo.list_routes(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode
        )
    shown = [_tenant_route(row) for row in rows]
    own = {row.currency for row in rows}
    defaults = _defaults(payments.providers.settings.provider_routes)
    shown += [
        _platform_route(code, route, livemode=identity.livemode)
        for code, route in sorted(defaults.items())
        if code not in own
    ]
    return shown


async def delete_route(pool: Pool, identity: Identity, currency: str) -> str:
    check_admin(identity)
    code = _path_currency(currency)
    async with transaction(pool) as conn:
        deleted = await routes_repo.delete_route(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, currency=code
        )
    if not deleted:
        raise NotFoundError(f"This tenant has no provider route for {code}.", param="currency")
    return code


def _path_currency(value: str) -> str:
    """The currency a path names; one Micro does not support names no route (404, as an
    unknown provider's path does)."""
    try:
        return currency_of(value)
    except RouteError as exc:
        raise NotFoundError(exc.message, param="currency") from None


def _tenant_route(row: RouteRow) -> ProviderRoute:
    return ProviderRoute(
        currency=row.currency, providers=row.providers, source="tenant",
        livemode=row.livemode, updated=unix(row.updated_at),
    )  # fmt: skip


def _platform_route(currency: str, route: Route, *, livemode: bool) -> ProviderRoute:
    return ProviderRoute(
        currency=currency, providers=list(route), source="platform", livemode=livemode,
        updated=None,
    )  # fmt: skip
