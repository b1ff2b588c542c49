"""Webhook endpoints: what a tenant's events are sent to, and with which secret."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NewType

import asyncpg
from aiohttp.abc import AbstractResolver

from services.events.errors import EndpointLimitError, EndpointNotFoundError, UrlNotAllowedError
from services.events.repository import deliveries, endpoints
from services.events.schemas import (
    CreateEndpointRequest,
    DeletedEndpoint,
    UpdateEndpointRequest,
    WebhookEndpoint,
)
from services.events.service import urls
from services.events.service.access import Scope
from services.events.service.signing import new_secret
from shared import outbox
from shared.cipher import Cipher
from shared.db import Connection
from shared.ids import is_id, new_id
from shared.pagination import ListParams, page

log = logging.getLogger("micro.events.endpoints")

ENDPOINT_PREFIX = "we"


# A URL that passed `check_url`: only these are saved.
CheckedUrl = NewType("CheckedUrl", str)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """How a saved URL is judged in live mode (see `urls`).

    `resolver` None judges the host as written, without a lookup: for checks made inside a
    transaction, where no network call may run. Every delivery resolves and checks again.
    """

    resolver: AbstractResolver | None
    allow_private_live: bool


async def check_url(url: str, *, livemode: bool, policy: UrlPolicy) -> CheckedUrl:
    """The URL if an endpoint of this mode may be saved with it; UrlNotAllowedError if not."""
    urls.check_syntax(url)
    if livemode and not policy.allow_private_live:
        await urls.check_live(url, policy.resolver)
    return CheckedUrl(url)


async def create_endpoint(
    conn: Connection,
    scope: Scope,
    request: CreateEndpointRequest,
    *,
    url: CheckedUrl,
    max_endpoints: int,
    cipher: Cipher,
) -> WebhookEndpoint:
    existing = await endpoints.count(conn, tenant_id=scope.tenant_id, livemode=scope.livemode)
    if existing >= max_endpoints:
        raise EndpointLimitError(max_endpoints)
    secret, encrypted = new_secret(cipher)
    row = await endpoints.insert(
        conn,
        endpoint_id=new_id(ENDPOINT_PREFIX),
        tenant_id=scope.tenant_id,
        livemode=scope.livemode,
        url=url,
        description=request.description,
        enabled_events=request.enabled_events,
        disabled=request.disabled,
        secret=encrypted,
    )
    return WebhookEndpoint.from_row(row, secret=secret)


async def list_endpoints(
    conn: Connection, scope: Scope, *, params: ListParams
) -> tuple[list[WebhookEndpoint], bool]:
    rows = await endpoints.list_page(
        conn, tenant_id=scope.tenant_id, livemode=scope.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [WebhookEndpoint.from_row(row) for row in shown], has_more


async def _endpoint(
    conn: Connection, scope: Scope, endpoint_id: str, *, lock: bool = False
) -> asyncpg.Record:
    row: asyncpg.Record | None = None
    if is_id(endpoint_id, ENDPOINT_PREFIX):
        row = await endpoints.get(
            conn,
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            endpoint_id=endpoint_id,
            lock=lock,
        )
    if row is None:
        raise EndpointNotFoundError(endpoint_id)
    return row


async def get_endpoint(conn: Connection, scope: Scope, endpoint_id: str) -> WebhookEndpoint:
    return WebhookEndpoint.from_row(await _endpoint(conn, scope, endpoint_id))


async def update_endpoint(
    conn: Connection,
    scope: Scope,
    endpoint_id: str,
    request: UpdateEndpointRequest,
    *,
    url: CheckedUrl | None,
) -> WebhookEndpoint:
    """`url`: the request's new URL once checked (None: unchanged)."""
    await _endpoint(conn, scope, endpoint_id, lock=True)
    row = await endpoints.update(
        conn,
        endpoint_id,
        url=url,
        description=request.description,
        enabled_events=request.enabled_events,
        disabled=request.disabled,
    )
    if request.disabled:
        await deliveries.cancel_pending(conn, endpoint_id)
    return WebhookEndpoint.from_row(row)


async def delete_endpoint(conn: Connection, scope: Scope, endpoint_id: str) -> DeletedEndpoint:
    await _endpoint(conn, scope, endpoint_id, lock=True)
    await endpoints.delete(conn, endpoint_id)
    return DeletedEndpoint(id=endpoint_id)


async def roll_secret(
    conn: Connection, scope: Scope, endpoint_id: str, *, expires_in: int, cipher: Cipher
) -> WebhookEndpoint:
    """A new secret, signing from now on; for `expires_in` seconds the old one signs beside
    it, so receivers can switch without dropping a delivery. Rolling again inside that
    window retires the older one: only the last two secrets ever sign."""
    await _endpoint(conn, scope, endpoint_id, lock=True)
    secret, encrypted = new_secret(cipher)
    row = await endpoints.set_secret(conn, endpoint_id, encrypted, previous_for=expires_in)
    return WebhookEndpoint.from_row(row, secret=secret)


async def disable_endpoint(conn: Connection, endpoint_id: str, *, reason: str) -> bool:
    """Disable an endpoint the system gave up on, cancel what it was owed, and tell the
    tenant with a `webhook_endpoint.disabled` event. False if it was already disabled."""
    row = await endpoints.disable(conn, endpoint_id, reason=reason)
    if row is None:
        return False
    await deliveries.cancel_pending(conn, endpoint_id)
    await outbox.emit(
        conn,
        None,
        type="webhook_endpoint.disabled",
        data=WebhookEndpoint.from_row(row).model_dump(),
        tenant_id=row["tenant_id"],
        livemode=row["livemode"],
    )
    log.warning("webhook endpoint disabled", extra={"endpoint": endpoint_id, "reason": reason})
    return True


async def sync_default(
    conn: Connection, *, tenant_id: str, webhook_url: str, policy: UrlPolicy, cipher: Cipher
) -> None:
    """Keep the tenant's `webhook_url` as its default endpoint, in both modes."""
    for livemode in (False, True):
        try:
            if not webhook_url:
                raise UrlNotAllowedError("no webhook_url")
            await check_url(webhook_url, livemode=livemode, policy=policy)
        except UrlNotAllowedError as exc:
            if webhook_url:
                log.warning(
                    "tenant webhook_url not kept as an endpoint",
                    extra={"tenant": tenant_id, "livemode": livemode, "reason": exc.message},
                )
            await endpoints.delete_default(conn, tenant_id=tenant_id, livemode=livemode)
            continue
        await endpoints.upsert_default(
            conn,
            endpoint_id=new_id(ENDPOINT_PREFIX),
            tenant_id=tenant_id,
            livemode=livemode,
            url=webhook_url,
            secret=new_secret(cipher)[1],
        )
