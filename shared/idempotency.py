"""`Idempotency-Key` for every mutating endpoint of every service.

The first result for a key (scoped to tenant and mode) is stored and replayed, with
`Idempotent-Replayed: true`, for at least 24 hours. The same key with another request is
an `idempotency_error`; the same key while the first request still runs is 409
`idempotency_key_in_use`. A request refused by validation began nothing, so its result is
not stored and the key stays free. Public doors (no tenant) are left alone: strangers must
not share answers.

A response marked `Cache-Control: no-store` (one that shows a secret, such as a new API
key) is never written down: its key is released instead, and a retry runs again.

A claim is a lease: the process running the request renews it (`renew_leases`, every fifth
of `idempotency_lease_seconds`, one UPDATE for all its claims), so a slow request keeps its
key however long it takes, and a process that dies mid-request (a SIGKILLed replica) frees
its keys one lease later: the client's retry with the same key then runs, on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.aio import stop
from shared.body import decode_params
from shared.context import idempotency_key_var, idempotency_rerun_var
from shared.db import Connection, Pool
from shared.errors import ConflictError, IdempotencyError, InvalidRequestError
from shared.identity import Identity
from shared.responses import error_response
from shared.retention import Job, delete_in_batches
from shared.state import STATE_KEY, AppState

log = logging.getLogger("micro.idempotency")

_instance: tuple[int, str] | None = None


def instance_id() -> str:
    """This process, as its claims name it: unique even when a pid is reused."""
    global _instance
    if _instance is None or _instance[0] != os.getpid():
        _instance = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")
    return _instance[1]


HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEEP_FOR = timedelta(hours=24)
# Refusals that happen before anything runs: not stored, so the key can be used again.
_VALIDATION_CODES = frozenset(
    {
        "parameter_missing",
        "parameter_invalid",
        "parameter_unknown",
        "invalid_json",
        "invalid_form",
        "unsupported_media_type",
        "payload_too_large",
    }
)


@dataclass(frozen=True, slots=True)
class KeyRef:
    tenant_id: str
    livemode: bool
    key: str


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    content_type: str | None
    body: bytes


def scoped_key(identity: Identity, key: str) -> str:
    """A user's session keys are that user's alone; API keys share the tenant's scope."""
    return f"{identity.principal}:{key}" if identity.principal_type == "user" else key


def creation_key(identity: Identity) -> str | None:
    """The running request's key as `scoped_key` scopes it, for a service to keep on the row
    it creates; None for an unkeyed request."""
    key = idempotency_key_var.get()
    return scoped_key(identity, key) if key else None


def key_reused() -> IdempotencyError:
    return IdempotencyError(
        "Keys for idempotent requests can only be used with the same parameters they "
        "were first used with.",
        code="idempotency_key_reused",
    )


# -- storage (the only SQL of this module) ---------------------------------------------------


async def claim(
    conn: Connection, ref: KeyRef, request_hash: str, *, lease: timedelta
) -> str | Stored:
    """'run' (ours now), 'rerun' (ours, taken over from a run whose process died),
    'mismatch', 'in_flight', or the stored result to replay. A claim not renewed for
    `lease` is another process's that died: it is taken over."""
    tenant_id, livemode, key = ref.tenant_id, ref.livemode, ref.key
    owner = instance_id()
    inserted = await conn.fetchval(
        "INSERT INTO idempotency_keys (tenant_id, livemode, key, request_hash, locked_by) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
        tenant_id,
        livemode,
        key,
        request_hash,
        owner,
    )
    if inserted:
        return "run"
    row = await conn.fetchrow(
        "SELECT request_hash, status, response_status, response_type, response_body, "
        "locked_at < now() - $4::interval AS stale "
        "FROM idempotency_keys WHERE tenant_id = $1 AND livemode = $2 AND key = $3",
        tenant_id,
        livemode,
        key,
        lease,
    )
    if row is None:  # purged or released between the two statements
        return await claim(conn, ref, request_hash, lease=lease)
    if row["request_hash"] != request_hash:
        return "mismatch"
    if row["status"] == "done":
        return Stored(row["response_status"], row["response_type"], bytes(row["response_body"]))
    if row["stale"]:
        taken = await conn.fetchval(
            "UPDATE idempotency_keys SET locked_at = now(), locked_by = $5 WHERE tenant_id = $1 "
            "AND livemode = $2 AND key = $3 AND status = 'in_flight' "
            "AND locked_at < now() - $4::interval RETURNING true",
            tenant_id,
            livemode,
            key,
            lease,
            owner,
        )
        if taken:
            return "rerun"
    return "in_flight"


async def finish(conn: Connection, ref: KeyRef, stored: Stored | None) -> None:
    """Store the result, or (None) release the key as if it had never been used."""
    tenant_id, livemode, key = ref.tenant_id, ref.livemode, ref.key
    if stored is None:
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND livemode = $2 AND key = $3",
            tenant_id,
            livemode,
            key,
        )
        return
    await conn.execute(
        "UPDATE idempotency_keys SET status = 'done', response_status = $4, "
        "response_type = $5, response_body = $6 "
        "WHERE tenant_id = $1 AND livemode = $2 AND key = $3",
        tenant_id,
        livemode,
        key,
        stored.status,
        stored.content_type,
        stored.body,
    )


async def renew(conn: Connection, owner: str) -> int:
    """Keep every claim of `owner` fresh; how many it holds."""
    status: str = await conn.execute(
        "UPDATE idempotency_keys SET locked_at = now() "
        "WHERE status = 'in_flight' AND locked_by = $1",
        owner,
    )
    return int(status.rpartition(" ")[2])


async def purge(pool: Pool, *, older_than: timedelta = KEEP_FOR) -> int:
    """Forget results older than `older_than`, in batches (the primary key is composite,
    so the batch is picked by row address)."""
    return await delete_in_batches(
        pool,
        """
        DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM idempotency_keys WHERE created_at < now() - $1::interval
            ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))
        """,
        older_than,
    )


async def _purge_job(state: AppState) -> int:
    return await purge(
        state.db, older_than=timedelta(hours=state.db_settings.idempotency_retention_hours)
    )


RETENTION = Job("idempotency_keys", _purge_job)


@asynccontextmanager
async def renew_leases(state: AppState) -> AsyncIterator[None]:
    """The app's hook that keeps this process's claims alive while it runs."""
    every = state.db_settings.idempotency_lease_seconds / 5

    async def loop() -> None:
        owner = instance_id()
        while True:
            await asyncio.sleep(every)
            try:
                async with state.db.acquire() as conn:
                    await renew(conn, owner)
            except Exception:  # the next round tries again; a lease outlives four misses
                log.exception("could not renew idempotency claims")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)


# -- the middleware --------------------------------------------------------------------------


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, body_limit: int) -> None:
        self.app = app
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = _key(scope)
        identity = scope.get("micro.identity")
        if (
            key is None
            or scope["method"] not in MUTATING
            or not isinstance(identity, Identity)
            or identity.tenant_id is None
            or not _routed(scope)
        ):
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255:
            await error_response(
                InvalidRequestError(
                    "Idempotency-Key must be 1 to 255 characters.", param="Idempotency-Key"
                )
            )(scope, receive, send)
            return
        body, complete = await _read(receive, self.body_limit)
        if not complete:  # too large: let the endpoint refuse it, without a key
            await self.app(scope, _replay(body, receive), send)
            return
        state: AppState = scope["state"][STATE_KEY]
        ref = KeyRef(identity.tenant_id, identity.livemode, scoped_key(identity, key))
        lease = timedelta(seconds=state.db_settings.idempotency_lease_seconds)
        async with state.db.acquire() as conn:
            outcome = await claim(conn, ref, _hash(scope, body), lease=lease)
        if isinstance(outcome, Stored):
            await _send_stored(outcome, send)
            return
        if outcome == "mismatch":
            await error_response(
                IdempotencyError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                    code="idempotency_key_reused",
                )
            )(scope, receive, send)
            return
        if outcome == "in_flight":
            await error_response(
                ConflictError(
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                    code="idempotency_key_in_use",
                )
            )(scope, receive, send)
            return
        token = idempotency_key_var.set(key)
        rerun = idempotency_rerun_var.set(outcome == "rerun")
        try:
            await self._run(scope, body, receive, send, state, ref)
        finally:
            idempotency_rerun_var.reset(rerun)
            idempotency_key_var.reset(token)

    async def _run(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        state: AppState,
        ref: KeyRef,
    ) -> None:
        status = 500
        content_type: str | None = None
        secret = False
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, content_type, secret
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name == b"content-type":
                        content_type = value.decode("latin-1")
                    elif name == b"cache-control" and b"no-store" in value:
                        secret = True
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        stored: Stored | None = None
        try:
            await self.app(scope, _replay(body, receive), capture)
            response = b"".join(chunks)
            if not secret and not _began_nothing(status, response):
                stored = Stored(status, content_type, response)
        finally:
            # Shielded: a client that hangs up must not leave the key claimed.
            await asyncio.shield(_finish(state.db, ref, stored))


async def _finish(pool: Pool, ref: KeyRef, stored: Stored | None) -> None:
    try:
        async with pool.acquire() as conn:
            await finish(conn, ref, stored)
    except Exception:  # the key stays claimed; it becomes takeable one lease later
        log.exception("could not record the idempotent result")


def _routed(scope: Scope) -> bool:
    """Whether a route takes this method on this path. One that none takes (a 404 or 405)
    began nothing: it must be answered as such, not as a reuse of the key."""
    return any(route.matches(scope)[0] is Match.FULL for route in scope["app"].router.routes)


def _key(scope: Scope) -> str | None:
    value = _header(scope, HEADER)
    return None if value is None else value.strip()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _hash(scope: Scope, body: bytes) -> str:
    """The request's fingerprint: its parameters as the endpoint reads them, not its bytes.

    Stripe compares parameters, so the same JSON with its keys in another order, or a form
    with its pairs in another order, is the same request. A body that cannot be read is
    fingerprinted by its bytes (the endpoint refuses it, and nothing is stored).
    """
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b"\0" + scope["path"].encode() + b"\0")
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    digest.update(json.dumps(sorted(query)).encode() + b"\0")
    digest.update(_canonical_body(body, _header(scope, b"content-type")))
    return digest.hexdigest()


def _canonical_body(body: bytes, content_type: str | None) -> bytes:
    try:
        params = decode_params(body, content_type)
    except InvalidRequestError:
        return b"raw:" + body
    # `typed` tells 100 (JSON) from "100" (a form): the two are different parameters.
    kind = b"json:" if params.typed else b"form:"
    canonical = json.dumps(params.values, sort_keys=True, separators=(",", ":"))
    return kind + canonical.encode()


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _began_nothing(status: int, body: bytes) -> bool:
    if status not in (400, 413, 415):
        return False
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return json.loads(body)["error"]["code"] in _VALIDATION_CODES
    return False


async def _send_stored(stored: Stored, send: Send) -> None:
    headers = [(b"content-length", str(len(stored.body)).encode()), REPLAYED]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
