"""Webhook endpoints: what a tenant's events are sent to, and with which secret."""

from __future__ import annotations

import logging
import re
from typing import Literal

from services.events.errors import (
    EndpointLimitError,
    EndpointNotFoundError,
    MetadataLimitError,
    UrlNotAllowedError,
)
from services.events.repository import deliveries as deliveries_repo
from services.events.repository import endpoints as endpoints_repo
from services.events.schemas import (
    API_VERSION_PATTERN,
    MAX_METADATA_KEYS,
    CreateEndpointRequest,
    DeletedEndpoint,
    UpdateEndpointRequest,
    WebhookEndpoint,
)
from services.events.service.access import Scope
from services.events.service.signing import new_secret
from services.events.service.urls import UrlPolicy, check_url
from shared import outbox
from shared.cipher import Cipher
from shared.db import Connection, Pool, in_transaction, transaction
from shared.idempotency import key_reused
from shared.ids import is_id, new_id
from shared.pagination import ListParams, page
from shared.timeutil import unix
from shared.v1 import Dialect
from shared.webhooks import Scheme

log = logging.getLogger("micro.events.endpoints")

ENDPOINT_PREFIX = "we"
_API_VERSION = re.compile(API_VERSION_PATTERN)


def default_signature(dialect: Dialect) -> Scheme:
    """What signs a new endpoint's deliveries unless it says: Stripe's clients verify
    `Stripe-Signature`, Micro's own paths keep Standard Webhooks."""
    return "stripe" if dialect == "stripe" else "standard"


def recorded_api_version(asked: str | None, stripe_version: str | None) -> str | None:
    """The api_version a new endpoint records: the one asked for, else the request's
    `Stripe-Version` when it is one (a malformed header is not recorded)."""
    if asked is not None:
        return asked
    if stripe_version is not None and _API_VERSION.match(stripe_version.strip()):
        return stripe_version.strip()
    return None


def merged_metadata(
    current: dict[str, str], patch: dict[str, str] | Literal[""] | None
) -> dict[str, str] | None:
    """Stripe's metadata update: keys are set one by one, a key set to "" is removed, and ""
    for the whole object removes every key. None: metadata was not sent."""
    if patch is None:
        return None
    if patch == "":
        return {}
    merged = {**current, **patch}
    kept = {name: value for name, value in merged.items() if value != ""}
    if len(kept) > MAX_METADATA_KEYS:
        raise MetadataLimitError(MAX_METADATA_KEYS)
    return kept


def webhook_endpoint(
    endpoint: endpoints_repo.Endpoint, *, secret: str | None = None
) -> WebhookEndpoint:
    """The API's view of an endpoint; `secret`: the plain secret, for the two answers that
    show it."""
    previous = endpoint.previous_secret_expires_at
    return WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        enabled_events=list(endpoint.enabled_events),
        status=endpoint.status,
        disabled_reason=endpoint.disabled_reason,
        livemode=endpoint.livemode,
        default=endpoint.is_default,
        created=unix(endpoint.created_at),
        signature=endpoint.signature,
        metadata=endpoint.metadata,
        api_version=endpoint.api_version,
        previous_secret_expires=unix(previous) if previous is not None else None,
        secret=secret,
    )


async def create_endpoint(
    pool: Pool,
    scope: Scope,
    request: CreateEndpointRequest,
    *,
    policy: UrlPolicy,
    max_endpoints: int,
    cipher: Cipher,
    dialect: Dialect = "micro",
    stripe_version: str | None = None,
    idempotency_key: str | None = None,
) -> WebhookEndpoint:
    """`dialect` picks the default signature scheme; `stripe_version` (the request's
    `Stripe-Version` header) is the default api_version.

    The answer shows the secret, so the idempotency layer does not store it: a retry under
    the same `idempotency_key` runs again, finds the endpoint its first run made and answers
    it again, secret included (as Stripe replays it), rather than making a second one.
    """
    # Checked before the transaction opens: the check may resolve the host name.
    url = await check_url(request.url, livemode=scope.livemode, policy=policy)
    async with transaction(pool) as conn:
        if idempotency_key is not None:
            made = await endpoints_repo.made_under_key(
                conn,
                tenant_id=scope.tenant_id,
                livemode=scope.livemode,
                idempotency_key=idempotency_key,
            )
            if made is not None:
                return _made_again(made, request, url, cipher)
        existing = await endpoints_repo.count(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode
        )
        if existing >= max_endpoints:
            raise EndpointLimitError(max_endpoints)
        secret, encrypted = new_secret(cipher)
        created = await endpoints_repo.insert(
            conn,
            endpoint_id=new_id(ENDPOINT_PREFIX),
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            url=url,
            description=request.description,
            enabled_events=request.enabled_events,
            disabled=request.disabled,
            secret=encrypted,
            signature=request.signature or default_signature(dialect),
            metadata=merged_metadata({}, request.metadata) or {},
            api_version=recorded_api_version(request.api_version, stripe_version),
            idempotency_key=idempotency_key,
        )
        if created is None:  # the key's first run committed while this one ran
            assert idempotency_key is not None
            made = await endpoints_repo.made_under_key(
                conn,
                tenant_id=scope.tenant_id,
                livemode=scope.livemode,
                idempotency_key=idempotency_key,
            )
            assert made is not None
            return _made_again(made, request, url, cipher)
    return webhook_endpoint(created, secret=secret)


def _made_again(
    made: endpoints_repo.Made, request: CreateEndpointRequest, url: str, cipher: Cipher
) -> WebhookEndpoint:
    """The endpoint a key's first run made, if this request is the same create."""
    endpoint = made.endpoint
    same = (
        endpoint.url == url
        and endpoint.enabled_events == request.enabled_events
        and endpoint.description == request.description
        and (request.signature is None or endpoint.signature == request.signature)
    )
    if not same:
        raise key_reused()
    return webhook_endpoint(endpoint, secret=cipher.decrypt(made.secret))


async def list_endpoints(
    pool: Pool, scope: Scope, *, params: ListParams
) -> tuple[list[WebhookEndpoint], bool]:
    async with transaction(pool) as conn:
        found = await endpoints_repo.list_page(
            conn, tenant_id=scope.tenant_id, livemode=scope.livemode, params=params
        )
    shown, has_more = page(found, params)
    return [webhook_endpoint(endpoint) for endpoint in shown], has_more


async def _endpoint(
    conn: Connection, scope: Scope, endpoint_id: str, *, lock: bool = False
) -> endpoints_repo.Endpoint:
    found: endpoints_repo.Endpoint | None = None
    if is_id(endpoint_id, ENDPOINT_PREFIX):
        found = await endpoints_repo.get(
            conn,
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
            endpoint_id=endpoint_id,
            lock=lock,
        )
    if found is None:
        raise EndpointNotFoundError(endpoint_id)
    return found


async def get_endpoint(pool: Pool, scope: Scope, endpoint_id: str) -> WebhookEndpoint:
    async with transaction(pool) as conn:
        found = await _endpoint(conn, scope, endpoint_id)
    return webhook_endpoint(found)


async def update_endpoint(
    pool: Pool,
    scope: Scope,
    endpoint_id: str,
    request: UpdateEndpointRequest,
    *,
    policy: UrlPolicy,
) -> WebhookEndpoint:
    """Only the fields sent change; a new URL is checked before the transaction opens (the
    check may resolve the host name)."""
    url = None
    if request.url is not None:
        url = await check_url(request.url, livemode=scope.livemode, policy=policy)
    async with transaction(pool) as conn:
        current = await _endpoint(conn, scope, endpoint_id, lock=True)
        updated = await endpoints_repo.update(
            conn,
            endpoint_id,
            url=url,
            description=request.description,
            enabled_events=request.enabled_events,
            disabled=request.disabled,
            signature=request.signature,
            metadata=merged_metadata(current.metadata, request.metadata),
        )
        if request.disabled:
            await deliveries_repo.cancel_pending(conn, endpoint_id)
    return webhook_endpoint(updated)


async def delete_endpoint(pool: Pool, scope: Scope, endpoint_id: str) -> DeletedEndpoint:
    """The endpoint and, by cascade, its deliveries. A deliverer holding one of them while it
    marks the endpoint failing locks the two in the other order: PostgreSQL aborts one side
    of that deadlock, and the delete is run again."""

    async def delete(conn: Connection) -> None:
        await _endpoint(conn, scope, endpoint_id, lock=True)
        await endpoints_repo.delete(conn, endpoint_id)

    await in_transaction(pool, delete)
    return DeletedEndpoint(id=endpoint_id)


async def roll_secret(
    pool: Pool, scope: Scope, endpoint_id: str, *, expires_in: int, cipher: Cipher
) -> WebhookEndpoint:
    """A new secret, signing from now on; for `expires_in` seconds the old one signs beside
    it, so receivers can switch without dropping a delivery. Rolling again inside that
    window retires the older one: only the last two secrets ever sign."""
    async with transaction(pool) as conn:
        await _endpoint(conn, scope, endpoint_id, lock=True)
        secret, encrypted = new_secret(cipher)
        rolled = await endpoints_repo.set_secret(
            conn, endpoint_id, encrypted, previous_for=expires_in
        )
    return webhook_endpoint(rolled, secret=secret)


async def disable_endpoint(conn: Connection, endpoint_id: str, *, reason: str) -> bool:
    """Disable an endpoint the system gave up on, cancel what it was owed, and tell the
    tenant with a `webhook_endpoint.disabled` event. False if it was already disabled."""
    disabled = await endpoints_repo.disable(conn, endpoint_id, reason=reason)
    if disabled is None:
        return False
    await deliveries_repo.cancel_pending(conn, endpoint_id)
    await outbox.emit(
        conn,
        None,
        type="webhook_endpoint.disabled",
        data=webhook_endpoint(disabled).model_dump(),
        tenant_id=disabled.tenant_id,
        livemode=disabled.livemode,
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
            await endpoints_repo.delete_default(conn, tenant_id=tenant_id, livemode=livemode)
            continue
        await endpoints_repo.upsert_default(
            conn,
            endpoint_id=new_id(ENDPOINT_PREFIX),
            tenant_id=tenant_id,
            livemode=livemode,
            url=webhook_url,
            secret=new_secret(cipher)[1],
        )
