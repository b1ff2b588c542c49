"""GET /dashboard/events/stream: the live tail of the events page, as server-sent events.

The browser's twin of `micro listen`: the same tenant stream, read the way the relay reads
it (`gateway.relay`: the pub/sub hub as doorbell, XRANGE after a cursor, the listen
protocol's type filter), with the same ending. The grant comes from the API, not from the
dashboard: the page asks `POST /cli/sessions` as the signed-in user in the session's mode
(so the API's access policy, revocation and live-mode checks decide), and the stream is
that grant's tenant and mode only. It ends when auth announces the credential revoked
(sign-out anywhere, a user deactivated, a tenant disabled), or when the dashboard session
record is gone or has switched to the other mode (checked at every heartbeat).

Each message is one event: `id:` its stream entry (so EventSource resumes with
`Last-Event-ID` without a gap) and `data:` the event JSON exactly as emitted. A comment
every `HEARTBEAT_SECONDS` keeps proxies from closing an idle stream; after `MAX_SECONDS`
the stream closes and EventSource reconnects, which checks the session again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from gateway.dashboard.api import Api, SignedOut, client_for
from gateway.dashboard.session import COOKIE, DashboardSession, Sessions
from gateway.dashboard.web import SECURITY_HEADERS, TENANT_ADMINS, client_ip, sessions_of
from gateway.relay.state import Relay
from gateway.relay.stream import TypeFilter, parse_stream_id
from gateway.relay.tokens import ListenGrant, ListenTokenError, verify_listen_token
from gateway.state import gateway_state
from gateway.watchers import Watchers, describe
from shared.credentials import REVOKED_PREFIX
from shared.outbox import live_channel, tenant_stream

log = logging.getLogger("micro.gateway.dashboard")

HEARTBEAT_SECONDS = 15.0
MAX_SECONDS = 30 * 60
# How long EventSource waits before reconnecting (milliseconds).
RETRY_MS = 3000
_Entry = tuple[bytes, dict[bytes, bytes]]
# Why a tail ends that the relay's watchers do not know.
_OWN_REASONS = {
    "session_ended": "session_ended: this dashboard session was signed out or expired",
    "mode_switched": "mode_switched: the dashboard switched to the other mode; reload",
}

_HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "no-store",
    # nginx and friends: pass each message on as it comes.
    "X-Accel-Buffering": "no",
}


def _refused(status: int, text: str) -> Response:
    return PlainTextResponse(text, status_code=status, headers=SECURITY_HEADERS)


async def event_stream(request: Request) -> Response:
    """Not a page (`@page` would send a signed-out client to sign in, which EventSource
    cannot follow, and would spend the session's one-time notice): a signed-out client gets
    401, anyone but a tenant admin 404."""
    cookie = request.cookies.get(COOKIE, "")
    sessions = sessions_of(request)
    session = await sessions.load(cookie)
    if session is None:
        return _refused(401, "Sign in to the dashboard first.")
    if session.role not in TENANT_ADMINS:
        return _refused(404, "Not found.")
    try:
        types = TypeFilter(request.query_params.get("type"))
        after = request.headers.get("last-event-id") or request.query_params.get("after")
        if after:
            parse_stream_id(after)
    except ValueError as exc:
        return _refused(400, str(exc))
    gateway = gateway_state(request)
    # The API decides who may listen, to which tenant, in which mode.
    async with client_for(request, client_ip(request, gateway)) as http:
        api = Api(http, sessions=sessions, cookie=cookie, session=session)
        try:
            answer = await api.call("POST", "/cli/sessions", json={})
        except SignedOut:
            return _refused(401, "Sign in to the dashboard first.")
    if not answer.ok:
        return _refused(answer.status, answer.message)
    relay = gateway.relay
    try:
        grant = verify_listen_token(relay.settings.relay_token_key, answer.body["websocket_token"])
    except (ListenTokenError, KeyError, TypeError):
        return _refused(503, "The live tail is unavailable; reload the page.")
    tail = _Tail(relay, gateway.watchers, grant, types, sessions, cookie)
    return StreamingResponse(tail.messages(after), media_type="text/event-stream", headers=_HEADERS)


async def cursor_now(request: Request, session: DashboardSession) -> str | None:
    """Where the session's stream ends now, for a page to start its tail from (`after=`),
    so the events between drawing the page and opening the stream are not missed. Only a
    position: the stream itself is the tenant and mode the API grants."""
    if session.tenant_id is None:
        return None
    relay = gateway_state(request).relay
    try:
        newest: list[_Entry] = await relay.redis.xrevrange(  # type: ignore[assignment]
            tenant_stream(session.tenant_id, session.mode == "live"), "+", "-", count=1
        )
    except (RedisError, OSError, TimeoutError):
        return None
    return _text(newest[0][0]) if newest else "0-0"


class _Tail:
    def __init__(
        self,
        relay: Relay,
        watchers: Watchers,
        grant: ListenGrant,
        types: TypeFilter,
        sessions: Sessions,
        cookie: str,
    ) -> None:
        self.relay = relay
        self.watchers = watchers
        self.grant = grant
        self.types = types
        self.sessions = sessions
        self.cookie = cookie
        self.stream = tenant_stream(grant.tenant_id, grant.livemode)
        self.channel = live_channel(grant.tenant_id, grant.livemode)
        # The last stream entry read (sent, or skipped by the type filter).
        self.cursor = "0-0"

    async def messages(self, after: str | None) -> AsyncGenerator[str]:
        grant = self.grant
        # Watched before the check, as the relay does: a revocation in between is not missed.
        with self.watchers.watch(
            tenant_id=grant.tenant_id, livemode=grant.livemode, credential=grant.credential
        ) as watch:
            if await self._revoked():
                yield _ended("revoked")
                return
            async with self.relay.hub.watch(self.channel) as wake:
                try:
                    self.cursor = after or await self._latest()
                except (RedisError, OSError, TimeoutError):
                    return  # EventSource reconnects in RETRY_MS
                # The cursor as the last event id: a reconnect resumes here, even before the
                # first event (an `id:` without data sets it and dispatches nothing).
                yield f"retry: {RETRY_MS}\nid: {self.cursor}\n\n"
                closes = time.monotonic() + MAX_SECONDS
                beat = time.monotonic() + HEARTBEAT_SECONDS
                while True:
                    await _either(wake, watch.ended, max(0.0, beat - time.monotonic()))
                    if watch.ended.is_set():
                        yield _ended(watch.reason)
                        return
                    if wake.is_set():
                        wake.clear()
                        try:
                            async for text in self._read():
                                yield text
                        except (RedisError, OSError, TimeoutError):
                            # EventSource reconnects with Last-Event-ID: nothing is lost.
                            log.warning("dashboard tail: stream read failed", exc_info=True)
                            return
                    now = time.monotonic()
                    if now >= beat:
                        ended = await self._session_ended()
                        if ended:
                            yield _ended(ended)
                            return
                        if now >= closes:
                            return
                        beat = now + HEARTBEAT_SECONDS
                        yield f": heartbeat\nid: {self.cursor}\n\n"

    async def _session_ended(self) -> str | None:
        """Why the dashboard session no longer wants this stream: gone (signed out here, or
        expired), or switched to the other mode; None while it does (or Redis is away)."""
        try:
            session = await self.sessions.load(self.cookie)
        except (RedisError, OSError, TimeoutError):
            return None
        if session is None:
            return "session_ended"
        if (session.mode == "live") != self.grant.livemode:
            return "mode_switched"
        return None

    async def _read(self) -> AsyncIterator[str]:
        """Each matching entry after the cursor as a message, moving the cursor past it."""
        batch = self.relay.settings.relay_batch
        while True:
            entries: list[_Entry] = await self.relay.redis.xrange(  # type: ignore[assignment]
                self.stream, f"({self.cursor}", "+", count=batch
            )
            for raw_id, fields in entries:
                stream_id = _text(raw_id)
                matches = self.types.matches(_text(fields.get(b"type", b"")))
                self.cursor = stream_id
                if matches:
                    yield _message(stream_id, _text(fields.get(b"event", b"")))
            if len(entries) < batch:
                return

    async def _latest(self) -> str:
        """Without a cursor the tail starts from now: after the newest entry."""
        newest: list[_Entry] = await self.relay.redis.xrevrange(  # type: ignore[assignment]
            self.stream, "+", "-", count=1
        )
        return _text(newest[0][0]) if newest else "0-0"

    async def _revoked(self) -> bool:
        try:
            return bool(await self.relay.redis.exists(f"{REVOKED_PREFIX}{self.grant.credential}"))
        except (RedisError, OSError, TimeoutError):
            return False  # the watch still ends the stream when auth announces it


def _message(stream_id: str, payload: str) -> str:
    data = "".join(f"data: {line}\n" for line in payload.splitlines() or [""])
    return f"id: {stream_id}\n{data}\n"


def _ended(reason: str) -> str:
    said = _OWN_REASONS.get(reason) or describe(reason)
    return f"event: ended\ndata: {json.dumps({'reason': said})}\n\n"


async def _either(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    """Until either event is set, or `seconds` pass."""
    if first.is_set() or second.is_set():
        return
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        for task in waits:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
