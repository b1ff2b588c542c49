"""`micro listen`'s acknowledgements against a real gateway's relay: one cumulative ack covers
a run of events, each sent only once its forward has finished, often enough that the relay's
window never stalls (a window smaller than `ACK_EVERY`, a local app slow enough that 100 events
outlast the relay's wait for an ack), and a reconnect resumes after the last forwarded event,
nothing skipped, nothing forwarded twice.

The listener is the CLI's own `Runner`, in this process, on the same event loop as the
gateway; its session is minted here (so no auth service), and what it sends the gateway is
recorded on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, cast

import pytest
import redis.asyncio as aioredis

from cli.config import Profile
from cli.listen import ACK_EVERY, Options, Runner
from shared.outbox import tenant_stream
from tests.support.asgi import serve_with_uvicorn
from tests.support.listen import Receiver, receiver
from tests.support.relay import Tenant, gateway_app, new_tenant, publish

if TYPE_CHECKING:
    import aiohttp
    from websockets.asyncio.client import ClientConnection

Gateway = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def gateway(redis_url: str) -> Gateway:
    @contextlib.asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[str]:
        async with serve_with_uvicorn(gateway_app(redis_url, **settings)) as host:
            yield host

    return start


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Recorded(Runner):
    """`micro listen --format json` for `tenant`, forwarding to `app`."""

    def __init__(self, host: str, tenant: Tenant, app: Receiver) -> None:
        profile = Profile(name="test", api_base=f"http://{host}", api_key="sk_test_unused")
        super().__init__(profile, "key", Options(forward_to=app.url, json_output=True))
        self.host = host
        self.tenant = tenant
        self.app = app
        # Each ack's stream id, and how many forwards had arrived at the app when it was sent.
        self.acks: list[tuple[str, int]] = []
        self.forwarded: list[str] = []  # stream ids, in the order their forwards finished
        self.printed: list[dict[str, Any]] = []  # the `--format json` lines
        self.lines: list[str] = []
        self.extensions: list[str | None] = []  # what each connection's handshake agreed
        self.paths: list[str] = []  # each connection's request path and query

    async def open_session(self) -> dict[str, Any]:
        return {
            "websocket_url": f"ws://{self.host}/cli/listen",
            "websocket_token": self.tenant.token(),
            "secret": self.tenant.secret,
        }

    async def work(
        self,
        ws: ClientConnection,
        queue: asyncio.Queue[dict[str, Any] | None],
        forwarder: aiohttp.ClientSession,
    ) -> None:
        assert ws.response is not None
        self.extensions.append(ws.response.headers.get("Sec-WebSocket-Extensions"))
        assert ws.request is not None
        self.paths.append(ws.request.path)
        await super().work(cast("ClientConnection", _Recording(ws, self)), queue, forwarder)

    def say(self, line: str) -> None:
        self.printed.append(json.loads(line))
        self.forwarded.append(self.printed[-1]["stream_id"])

    def status(self, line: str) -> None:
        self.lines.append(line)


class _Recording:
    """The connection, noting each ack the listener sends through it."""

    def __init__(self, ws: ClientConnection, runner: Recorded) -> None:
        self.ws = ws
        self.runner = runner

    async def send(self, message: str) -> None:
        frame = json.loads(message)
        if frame["type"] == "ack":
            self.runner.acks.append((frame["stream_id"], len(self.runner.app.delivered())))
        await self.ws.send(message)


@contextlib.asynccontextmanager
async def listening(host: str, tenant: Tenant, app: Receiver) -> AsyncIterator[Recorded]:
    """The listener, from the start of the tenant's stream."""
    app.secret = tenant.secret
    runner = Recorded(host, tenant, app)
    runner.cursor = "0-0"
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def delivered(app: Receiver, count: int, within: float = 60) -> list[str]:
    """The event ids of the first `count` deliveries, once that many arrived."""
    deadline = time.monotonic() + within
    while len(app.delivered()) < count:
        assert time.monotonic() < deadline, f"{len(app.delivered())} of {count} arrived"
        await asyncio.sleep(0.05)
    return [r.event_id for r in app.delivered()]


async def acked(runner: Recorded, stream_id: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not runner.acks or runner.acks[-1][0] != stream_id:
        assert time.monotonic() < deadline, f"never acked {stream_id}: {runner.acks[-3:]}"
        await asyncio.sleep(0.02)


def assert_each_ack_after_its_forward(runner: Recorded, most_apart: int) -> None:
    position = {stream_id: n for n, stream_id in enumerate(runner.forwarded, 1)}
    previous = 0
    for stream_id, arrived in runner.acks:
        assert arrived >= position[stream_id], "acked before its forward arrived"
        assert 0 < position[stream_id] - previous <= most_apart
        previous = position[stream_id]


async def stream_ids(redis: aioredis.Redis, tenant: Tenant) -> list[str]:
    # redis-py types the reply as the union of its sync and async clients' results.
    entries: list[tuple[bytes, Any]] = await redis.xrange(  # type: ignore[assignment]
        tenant_stream(tenant.id, tenant.livemode)
    )
    return [entry_id.decode() for entry_id, _ in entries]


class TestAcks:
    async def test_one_ack_covers_a_run_of_events_each_after_its_forward(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        rows = await publish(redis, tenant, 300)
        with receiver() as app:
            async with gateway() as host, listening(host, tenant, app) as runner:
                assert await delivered(app, 300) == [row["event_id"] for row in rows]
                ids = await stream_ids(redis, tenant)
                await acked(runner, ids[-1])
        assert all(r.verified for r in app.attempts)
        assert runner.forwarded == ids
        assert [line["event"] for line in runner.printed] == [
            json.loads(row["payload"]) for row in rows
        ]
        assert {line["forward"]["delivered"] for line in runner.printed} == {True}
        # A backlog is acked in runs, not event by event, and never more than ACK_EVERY apart.
        assert len(runner.acks) <= len(ids) // 5, runner.acks
        assert_each_ack_after_its_forward(runner, most_apart=ACK_EVERY)
        assert not [line for line in runner.lines if line.startswith("Connection lost")]
        # It asked for a backlog several events to a message.
        assert ["batch=1" in path for path in runner.paths] == [True]

    async def test_without_compression(self, gateway: Gateway, redis: aioredis.Redis) -> None:
        # permessage-deflate cost both ends more CPU than it saved on small frames.
        tenant = new_tenant()
        rows = await publish(redis, tenant, 3)
        with receiver() as app:
            async with gateway() as host, listening(host, tenant, app) as runner:
                assert await delivered(app, 3) == [row["event_id"] for row in rows]
        assert runner.extensions == [None]

    async def test_a_window_smaller_than_a_run_does_not_stall(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        # The relay stops after 5 un-acked events: the listener must not wait for more
        # before acking (it acks when nothing more is waiting).
        tenant = new_tenant()
        rows = await publish(redis, tenant, 60)
        with receiver() as app:
            async with (
                gateway(relay_window_events=5, relay_slow_seconds=1) as host,
                listening(host, tenant, app) as runner,
            ):
                assert await delivered(app, 60, within=30) == [row["event_id"] for row in rows]
        assert not [line for line in runner.lines if line.startswith("Connection lost")]
        assert_each_ack_after_its_forward(runner, most_apart=5)

    async def test_a_slow_app_is_still_acked_within_the_relays_wait(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        # 20 events of 0.15 s fill the relay's window for 3 s; it waits 2 s for an ack. Acks
        # held for a run of ACK_EVERY (or until nothing waits) would get the listener closed
        # as too slow (4008), though it keeps pace with the window.
        tenant = new_tenant()
        rows = await publish(redis, tenant, 40)
        with receiver(delay=0.15, slow_requests=40) as app:
            async with (
                gateway(relay_window_events=20, relay_slow_seconds=2) as host,
                listening(host, tenant, app) as runner,
            ):
                assert await delivered(app, 40) == [row["event_id"] for row in rows]
        assert not [line for line in runner.lines if line.startswith("Connection lost")]
        assert_each_ack_after_its_forward(runner, most_apart=20)

    async def test_a_reconnect_resumes_after_the_last_forward_none_twice(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        # Two forwards of 1 s while the relay waits 0.3 s for room: it closes the connection
        # (4008) with events forwarded but not yet acked; the next one resumes after them.
        tenant = new_tenant()
        rows = await publish(redis, tenant, 30)
        with receiver(delay=1.0, slow_requests=2) as app:
            async with (
                gateway(relay_window_events=5, relay_slow_seconds=0.3) as host,
                listening(host, tenant, app) as runner,
            ):
                assert await delivered(app, 30) == [row["event_id"] for row in rows]
                await asyncio.sleep(0.3)  # anything forwarded twice would have arrived
        assert [r.event_id for r in app.attempts] == [row["event_id"] for row in rows]
        assert any("listener too slow" in line for line in runner.lines), runner.lines
        assert any(line.startswith("Reconnected; resuming after") for line in runner.lines)
