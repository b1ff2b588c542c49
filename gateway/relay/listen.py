"""WebSocket `/cli/listen`: a tenant's events, in stream order, to `micro listen`.

Protocol (JSON text frames; the package docstring has the whole of it):

    server -> {"type": "ready", "stream_id"}     the cursor the stream is read after
              {"type": "event", "stream_id", "id", "event_type", "payload", "headers",
               "traceparent"?}                      the event's trace, when it has one
              {"type": "events", "events": [event, ...]}  several, in order, when the
                                                  listener asked with `batch=1`
              {"type": "ping"}
    client -> {"type": "ack", "stream_id"}        acknowledges that entry and all before it
              {"type": "pong"}

`batch=1`: a backlog goes out as `events` messages of up to `BATCH_EVENTS` events each rather
than one message per event: a send (a system call, a WebSocket frame) per event was a third
of the gateway's time while a listener drained a backlog. The window counts events either
way. A listener that does not ask (an older `micro listen`) gets `event` messages.

Memory per listener is bounded: at most `relay_window_events` (and `relay_window_bytes`)
events are in flight unacknowledged; beyond that the relay stops reading the stream, so
events wait in Redis, not in the gateway. A listener that acknowledges nothing for
`relay_slow_seconds` while its window is full (or whose socket accepts nothing for that
long) is closed with 4008 and resumes from its last acknowledged event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.relay.state import Relay
from gateway.relay.stream import TypeFilter, parse_stream_id
from gateway.relay.tokens import ListenGrant, ListenTokenError, listen_secret, verify_listen_token
from gateway.state import GatewayState, gateway_state
from gateway.watchers import Watch, describe
from shared import webhooks
from shared.aio import wait_event
from shared.credentials import REVOKED_PREFIX
from shared.errors import UpstreamError
from shared.outbox import live_channel, tenant_stream
from shared.tracing import valid_traceparent

log = logging.getLogger("micro.gateway.relay")

CLOSE_PING_TIMEOUT = 4002
CLOSE_TOO_SLOW = 4008
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
# The credential was revoked, its session ended, its tenant disabled, or (live) the tenant's
# live mode switched off: reconnecting cannot help, the reason says which.
CLOSE_REVOKED = 4403
CLOSE_UNAVAILABLE = 1011
TOO_SLOW_REASON = "listener too slow: resume from last acknowledged event"
_MAX_REASON = 120  # a close frame's reason holds 123 bytes
_MAX_BACKOFF = 5.0
# The most events, and bytes of them, one `events` message carries.
BATCH_EVENTS = 100
BATCH_BYTES = 256 * 1024
# A stream entry as redis-py returns it without decoding: (id, {field: value}).
_Entry = tuple[bytes, dict[bytes, bytes]]


class _Close(Exception):
    """Ends the connection; code None means the client is already gone."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:_MAX_REASON]


async def listen(websocket: WebSocket) -> None:
    # Accept first: a refusal before the handshake reaches the client as a bare HTTP 403,
    # while a close frame carries a code and a reason `micro listen` can print.
    await websocket.accept()
    gateway = gateway_state(websocket)
    relay = gateway.relay
    try:
        session = _open(websocket, relay)
        grant = session.grant
        # Watched before the checks: a revocation announced in between is not missed.
        with gateway.watchers.watch(
            tenant_id=grant.tenant_id, livemode=grant.livemode, credential=grant.credential
        ) as watch:
            await _refuse_if_ended(grant, watch, relay, gateway)
            await session.run(websocket.query_params.get("after") or None, watch)
    except _Close as close:
        if close.code is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(close.code, close.reason), 2)


def _open(websocket: WebSocket, relay: Relay) -> _Session:
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    token = token or websocket.query_params.get("token", "")
    try:
        grant = verify_listen_token(relay.settings.relay_token_key, token)
    except ListenTokenError as exc:
        raise _Close(CLOSE_UNAUTHENTICATED, str(exc)) from None
    try:
        types = TypeFilter(websocket.query_params.get("events"))
        after = websocket.query_params.get("after")
        if after:
            parse_stream_id(after)
    except ValueError as exc:
        raise _Close(CLOSE_BAD_REQUEST, str(exc)) from None
    batched = websocket.query_params.get("batch") == "1"
    return _Session(websocket, relay, grant, types, batched=batched)


async def _refuse_if_ended(
    grant: ListenGrant, watch: Watch, relay: Relay, gateway: GatewayState
) -> None:
    """The token outlives its session's checks by up to `cli_token_seconds`: check again."""
    try:
        revoked = await relay.redis.exists(f"{REVOKED_PREFIX}{grant.credential}")
    except (RedisError, OSError, TimeoutError):
        raise _Close(CLOSE_UNAVAILABLE, "events are unavailable (Redis); retry") from None
    if revoked:
        raise _Close(CLOSE_REVOKED, describe("revoked"))
    if grant.livemode:
        try:
            watch.judge(await gateway.credentials.tenant(grant.tenant_id))
        except UpstreamError:
            raise _Close(CLOSE_UNAVAILABLE, "the auth service is unavailable; retry") from None
    if watch.ended.is_set():
        raise _Close(CLOSE_REVOKED, describe(watch.reason))


class _Session:
    def __init__(
        self,
        websocket: WebSocket,
        relay: Relay,
        grant: ListenGrant,
        types: TypeFilter,
        *,
        batched: bool = False,
    ) -> None:
        self.websocket = websocket
        self.batched = batched
        self.relay = relay
        self.grant = grant
        self.settings = relay.settings
        self.types = types
        self.stream = tenant_stream(grant.tenant_id, grant.livemode)
        self.channel = live_channel(grant.tenant_id, grant.livemode)
        self.secret = listen_secret(
            self.settings.listen_signing_key, grant.tenant_id, grant.livemode
        )
        self.cursor = "0-0"  # the last stream entry read (sent, or skipped by the filter)
        self.unacked: deque[tuple[tuple[int, int], int]] = deque()
        self.unacked_bytes = 0
        self.acked = asyncio.Event()
        self.last_heard = time.monotonic()
        self.send_lock = asyncio.Lock()
        self.finished = False

    async def run(self, after: str | None, watch: Watch) -> None:
        async with self.relay.hub.watch(self.channel) as wake:
            self.cursor = after or await self._latest()
            await self._send({"type": "ready", "stream_id": self.cursor})
            tasks = [
                asyncio.create_task(self._pump(wake)),
                asyncio.create_task(self._receive()),
                asyncio.create_task(self._ping()),
                asyncio.create_task(self._until_ended(watch)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # redis-py can swallow a cancellation that lands mid-command, so the pump
                # also watches a flag, woken here.
                self.finished = True
                wake.set()
                self.acked.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error

    async def _until_ended(self, watch: Watch) -> None:
        await watch.ended.wait()
        raise _Close(CLOSE_REVOKED, describe(watch.reason))

    async def _latest(self) -> str:
        """Without a cursor a listener starts from now: after the newest entry."""
        try:
            newest: list[_Entry] = await self.relay.redis.xrevrange(  # type: ignore[assignment]
                self.stream, "+", "-", count=1
            )
        except (RedisError, OSError, TimeoutError):
            raise _Close(CLOSE_UNAVAILABLE, "events are unavailable (Redis); retry") from None
        return _text(newest[0][0]) if newest else "0-0"

    # -- gateway -> listener ----------------------------------------------------------------

    async def _pump(self, wake: asyncio.Event) -> None:
        failures = 0
        while not self.finished:
            await wake.wait()
            wake.clear()
            try:
                while await self._forward_batch():
                    pass
                failures = 0
            except (RedisError, OSError, TimeoutError):
                # Keep the connection: the cursor is intact and reading resumes with Redis.
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("relay stream read failed; retrying", exc_info=True)
                await asyncio.sleep(min(_MAX_BACKOFF, 0.1 * 2**failures))
                wake.set()

    async def _forward_batch(self) -> bool:
        """Send what follows the cursor, up to the window; True when there may be more."""
        await self._room()
        room = self.settings.relay_window_events - len(self.unacked)
        count = min(self.settings.relay_batch, room)
        entries: list[_Entry] = await self.relay.redis.xrange(  # type: ignore[assignment]
            self.stream, f"({self.cursor}", "+", count=count
        )
        pending: list[str] = []  # event frames not sent yet (a batched listener's)
        pending_bytes = 0
        for raw_id, fields in entries:
            stream_id = _text(raw_id)
            event_type = _text(fields.get(b"type", b""))
            if self.finished:
                return False
            if self.types.matches(event_type):
                if self._full():
                    await self._send_events(pending)
                    pending_bytes = 0
                    await self._room()
                frame = self._event_frame(stream_id, fields, event_type)
                self.unacked.append((parse_stream_id(stream_id), len(frame)))
                self.unacked_bytes += len(frame)
                if not self.batched:
                    await self._send_text(frame)
                else:
                    pending.append(frame)
                    pending_bytes += len(frame)
                    if len(pending) >= BATCH_EVENTS or pending_bytes >= BATCH_BYTES:
                        await self._send_events(pending)
                        pending_bytes = 0
            self.cursor = stream_id
        await self._send_events(pending)
        return len(entries) == count

    async def _send_events(self, pending: list[str]) -> None:
        """One `events` message of the frames in `pending`, which it empties."""
        if pending:
            await self._send_text('{"type":"events","events":[' + ",".join(pending) + "]}")
            pending.clear()

    def _event_frame(self, stream_id: str, fields: dict[bytes, bytes], event_type: str) -> str:
        body = fields.get(b"event", b"")
        event_id = _text(fields.get(b"id", b""))
        message: dict[str, Any] = {
            "type": "event",
            "stream_id": stream_id,
            "id": event_id,
            "event_type": event_type,
            "payload": body.decode(),
            "headers": webhooks.headers(self.secret, event_id, body),
        }
        # A key of its own, not a header: a CLI that predates it forwards `headers` as they
        # are and ignores keys it does not know.
        if traceparent := valid_traceparent(fields.get(b"traceparent")):
            message["traceparent"] = traceparent
        return json.dumps(message)

    def _full(self) -> bool:
        return (
            len(self.unacked) >= self.settings.relay_window_events
            or self.unacked_bytes >= self.settings.relay_window_bytes
        )

    async def _room(self) -> None:
        """Wait until the window has room; a listener that acks nothing for too long goes."""
        while not self.finished and self._full():
            self.acked.clear()
            if not await wait_event(self.acked, self.settings.relay_slow_seconds):
                raise _Close(CLOSE_TOO_SLOW, TOO_SLOW_REASON)

    async def _send(self, message: dict[str, Any]) -> None:
        await self._send_text(json.dumps(message))

    async def _send_text(self, text: str) -> None:
        async with self.send_lock:
            try:
                await asyncio.wait_for(
                    self.websocket.send_text(text), self.settings.relay_slow_seconds
                )
            except TimeoutError:
                raise _Close(CLOSE_TOO_SLOW, TOO_SLOW_REASON) from None
            except (WebSocketDisconnect, RuntimeError, OSError):
                raise _Close(None) from None

    async def _ping(self) -> None:
        interval = self.settings.relay_ping_seconds
        while True:
            await asyncio.sleep(interval)
            silent = time.monotonic() - self.last_heard
            if silent > 3 * interval:
                raise _Close(CLOSE_PING_TIMEOUT, f"no pong for {silent:.0f} s")
            await self._send({"type": "ping"})

    # -- listener -> gateway ----------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise _Close(None)
            self.last_heard = time.monotonic()
            try:
                data = json.loads(message.get("text") or message.get("bytes") or b"")
            except ValueError:
                raise _Close(CLOSE_BAD_REQUEST, "messages must be JSON") from None
            if not isinstance(data, dict):
                raise _Close(CLOSE_BAD_REQUEST, "messages must be JSON objects")
            if data.get("type") == "ack":
                try:
                    self._ack(parse_stream_id(str(data.get("stream_id"))))
                except ValueError as exc:
                    raise _Close(CLOSE_BAD_REQUEST, f"bad ack: {exc}") from None
            # "pong" and anything newer than this relay only prove the listener is alive.

    def _ack(self, stream_id: tuple[int, int]) -> None:
        """Acknowledges everything up to `stream_id`: the listener handles events in order."""
        while self.unacked and self.unacked[0][0] <= stream_id:
            _, size = self.unacked.popleft()
            self.unacked_bytes -= size
        self.acked.set()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
