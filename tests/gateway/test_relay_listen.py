"""WebSocket `/cli/listen`: who may connect, with which options, and what a listener receives:
every event of its tenant, in order, signed, resumable, across a Redis restart.

The gateway runs in this process on a free port against the session's Redis; events go in
as a service's outbox relay puts them there (`shared.outbox.publish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from cli.stack.binaries import ensure_binaries
from cli.stack.ports import free_port
from cli.stack.redis import RedisServer
from cli.stack.supervisor import Supervisor
from gateway.relay.listen import BATCH_EVENTS, TOO_SLOW_REASON
from shared import outbox
from tests.support.asgi import serve_with_uvicorn
from tests.support.relay import (
    OLD_DEV_SECRET,
    Gateway,
    Tenant,
    assert_delivered,
    event_row,
    gateway_app,
    listening,
    new_tenant,
    publish,
)
from tests.support.secrets import TEST_IDENTITY_KEY
from tests.support.servers import scratch_dir


class TestListenAuthAndOptions:
    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            (None, "missing websocket_token"),
            ("garbage", "invalid websocket_token"),
            ("EXPIRED", "websocket_token expired"),
            ("INTERNAL", "invalid websocket_token"),
            # A listen token in every claim, signed with the identity key (or an old dev one).
            ("IDENTITY_KEY", "invalid websocket_token"),
            ("OLD_DEV_SECRET", "invalid websocket_token"),
        ],
    )
    async def test_a_bad_token_is_closed_with_4401(
        self, gateway: Gateway, token: str | None, reason: str
    ) -> None:
        if token == "EXPIRED":
            token = new_tenant().token(ttl=-5)
        elif token == "INTERNAL":
            # A valid internal identity token: another purpose's key, so no listen token.
            from shared.identity import Identity, mint

            token = mint(Identity("key_x", "api_key", tenant_id="ten_x"), TEST_IDENTITY_KEY)
        elif token == "IDENTITY_KEY":
            token = new_tenant().token(key=TEST_IDENTITY_KEY)
        elif token == "OLD_DEV_SECRET":
            token = new_tenant().token(key=OLD_DEV_SECRET)
        async with gateway() as host, listening(host, token, ready=False) as listener:
            code, text = await listener.closed()
        assert code == 4401
        assert reason in text

    @pytest.mark.parametrize(
        ("params", "reason"),
        [
            ({"after": "yesterday"}, "not a stream id"),
            ({"after": "1-2-3"}, "not a stream id"),
            ({"events": "payment_intent.*,DROP TABLE"}, "bad event type"),
            ({"events": "pay*"}, "bad event type"),
        ],
    )
    async def test_bad_options_are_closed_with_4400(
        self, gateway: Gateway, params: dict[str, str], reason: str
    ) -> None:
        async with (
            gateway() as host,
            listening(host, new_tenant().token(), ready=False, **params) as listener,
        ):
            code, text = await listener.closed()
        assert code == 4400
        assert reason in text

    async def test_a_token_in_the_query_works_too(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, None, token=tenant.token()) as listener:
            rows = await publish(redis, tenant)
            assert_delivered(await listener.events(1), rows, tenant.secret)

    async def test_a_bad_ack_is_closed_with_4400(self, gateway: Gateway) -> None:
        async with gateway() as host, listening(host, new_tenant().token()) as listener:
            await listener.ws.send(json.dumps({"type": "ack", "stream_id": "soon"}))
            code, text = await listener.closed()
        assert code == 4400
        assert "bad ack" in text


class TestListen:
    async def test_events_arrive_exact_signed_in_order(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, tenant.token()) as listener:
            rows = await publish(redis, tenant, 5)
            frames = await listener.events(5)
        assert_delivered(frames, rows, tenant.secret)
        ids = [f["stream_id"] for f in frames]
        assert ids == sorted(ids, key=lambda s: tuple(map(int, s.split("-"))))

    async def test_only_the_tenants_events_of_its_mode(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        live = Tenant(tenant.id, livemode=True)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            await publish(redis, new_tenant(), 3)
            await publish(redis, live, 3)
            rows = await publish(redis, tenant, 1)
            assert_delivered(await listener.events(1), rows, tenant.secret)
            with pytest.raises(TimeoutError):
                await listener.next(timeout=0.5)

    async def test_without_a_cursor_a_listener_starts_from_now(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        old = await publish(redis, tenant, 3)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            newest = cast(
                list[tuple[bytes, Any]],
                await redis.xrevrange(outbox.tenant_stream(tenant.id, False), count=1),
            )
            assert listener.ready["stream_id"] == newest[0][0].decode()
            rows = await publish(redis, tenant, 1)
            [frame] = await listener.events(1)
        assert frame["id"] == rows[0]["event_id"]
        assert frame["id"] not in {r["event_id"] for r in old}

    async def test_resuming_after_a_cursor_replays_the_gap_then_goes_live(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host:
            async with listening(host, tenant.token()) as listener:
                start = listener.ready["stream_id"]
                first = await publish(redis, tenant, 3)
                frames = await listener.events(3)
            last = frames[-1]["stream_id"]
            missed = await publish(redis, tenant, 4)  # while nobody listens
            async with listening(host, tenant.token(), after=last) as listener:
                assert listener.ready["stream_id"] == last
                later = await publish(redis, tenant, 2)
                assert_delivered(await listener.events(6), [*missed, *later], tenant.secret)
            # From the very first cursor: everything, once, in order.
            async with listening(host, tenant.token(), after=start) as listener:
                assert_delivered(await listener.events(9), [*first, *missed, *later], tenant.secret)

    async def test_an_event_published_out_of_order_is_not_skipped(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        """Two services' relays: A appends first, B appends and announces first."""
        tenant = new_tenant()
        stream = outbox.tenant_stream(tenant.id, False)
        async with gateway() as host, listening(host, tenant.token()) as listener:
            a, b = event_row(tenant, n=1), event_row(tenant, n=2)
            sids = []
            for row in (a, b):
                sid = await redis.xadd(
                    stream, {"id": row["event_id"], "type": row["type"], "event": row["payload"]}
                )
                sids.append(cast(bytes, sid).decode())
            message = {"stream_id": sids[1], "id": b["event_id"], "type": b["type"]}
            await redis.publish(
                outbox.live_channel(tenant.id, False),
                json.dumps({**message, "event": b["payload"]}),
            )
            frames = await listener.events(2)
        assert_delivered(frames, [a, b], tenant.secret)

    async def test_the_type_filter(self, gateway: Gateway, redis: aioredis.Redis) -> None:
        tenant = new_tenant()
        async with (
            gateway() as host,
            listening(host, tenant.token(), events="payment_intent.*,refund.created") as listener,
        ):
            wanted = []
            for type in (
                "payment_intent.created",
                "payout.paid",
                "refund.created",
                "refund.updated",
                "payment_intent.succeeded",
            ):
                rows = await publish(redis, tenant, 1, type)
                if type.startswith("payment_intent.") or type == "refund.created":
                    wanted += rows
            assert_delivered(await listener.events(3), wanted, tenant.secret)
            with pytest.raises(TimeoutError):
                await listener.next(timeout=0.5)

    async def test_every_listener_of_a_tenant_gets_every_event(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with (
            gateway() as host,
            gateway() as other_host,
            listening(host, tenant.token()) as one,
            listening(host, tenant.token()) as two,
            listening(other_host, tenant.token()) as three,
        ):
            rows = await publish(redis, tenant, 10)
            for listener in (one, two, three):
                assert_delivered(await listener.events(10), rows, tenant.secret)

    async def test_a_burst_of_1000_arrives_complete_and_in_order(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway() as host, listening(host, tenant.token()) as listener:
            rows = await publish(redis, tenant, 1000)
            frames = await listener.events(1000)
        assert_delivered(frames, rows, tenant.secret)

    async def test_batch_sends_a_backlog_several_events_a_message_within_the_window(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        rows = await publish(redis, tenant, 300)
        messages: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        async with (
            gateway(relay_window_events=250) as host,
            listening(host, tenant.token(), after="0-0", batch="1") as listener,
        ):
            while len(events) < 250:
                messages.append(await listener.next())
                events += messages[-1]["events"]
            # The window counts events: nothing more until they are acked.
            with pytest.raises(TimeoutError):
                await listener.next(timeout=0.5)
            await listener.ack(events[-1]["stream_id"])
            while len(events) < 300:
                messages.append(await listener.next())
                events += messages[-1]["events"]
        assert {m["type"] for m in messages} == {"events"}
        assert len(events) == 300
        assert all(e["type"] == "event" for e in events)
        assert_delivered(events, rows, tenant.secret)
        assert max(len(m["events"]) for m in messages) <= BATCH_EVENTS
        assert len(messages) <= 300 // 10

    async def test_a_listener_that_stops_acking_is_closed_with_the_reason(
        self, gateway: Gateway, redis: aioredis.Redis
    ) -> None:
        tenant = new_tenant()
        async with gateway(relay_window_events=5, relay_slow_seconds=0.5) as host:
            async with listening(host, tenant.token()) as listener:
                start = listener.ready["stream_id"]
                rows = await publish(redis, tenant, 20)
                held = await listener.events(5, ack=False)  # the window, then nothing more
                code, reason = await listener.closed()
            assert (code, reason) == (4008, TOO_SLOW_REASON)
            assert_delivered(held, rows[:5], tenant.secret)
            # It resumes from its last acknowledged event and, acking, gets everything.
            async with listening(host, tenant.token(), after=start) as listener:
                assert_delivered(await listener.events(20), rows, tenant.secret)

    async def test_pings_and_a_silent_listener_is_closed(self, gateway: Gateway) -> None:
        async with gateway(relay_ping_seconds=0.2) as host:
            async with listening(host, new_tenant().token()) as listener:
                frame = json.loads(await asyncio.wait_for(listener.ws.recv(), 5))
                assert frame == {"type": "ping"}
                code, reason = await listener.closed()  # reads, but never answers
            assert code == 4002
            assert "no pong" in reason
            async with listening(host, new_tenant().token()) as listener:
                # Answering keeps it open well past three intervals.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(listener.next(), 1.5)


async def test_a_redis_restart_loses_no_event() -> None:
    """The stream outlives the restart (as a persistent Redis keeps it); the listener stays
    connected, and what was published around the restart arrives, in order, once."""
    binaries = await asyncio.to_thread(ensure_binaries)
    port = free_port()
    with scratch_dir("micro-relay-redis-") as root:
        server = RedisServer(data_dir=root / "data", port=port, binaries=binaries)

        async def start_redis() -> Supervisor:
            supervisor = Supervisor(root / "logs", echo=False)
            await server.wait_ready(await supervisor.spawn("redis", server.command()))
            return supervisor

        supervisor = await start_redis()
        client = aioredis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
        tenant = new_tenant()
        try:
            app = gateway_app(server.url, relay_poll_seconds=1)
            async with serve_with_uvicorn(app) as host, listening(host, tenant.token()) as listener:
                before = await publish(client, tenant, 3)
                assert_delivered(await listener.events(3), before, tenant.secret)
                unacked = await publish(client, tenant, 2)
                await supervisor.stop_all()  # SIGTERM: Redis writes its append-only file
                supervisor = await start_redis()
                after = await _publish_when_up(lambda: publish(client, tenant, 3))
                frames = await listener.events(5)
            # The two sent before the restart may arrive before or after it, but once each.
            assert_delivered(frames, [*unacked, *after], tenant.secret)
        finally:
            await client.aclose()
            await supervisor.stop_all()


async def _publish_when_up(
    attempt: Callable[[], Awaitable[list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    for _ in range(100):
        with contextlib.suppress(OSError, aioredis.ConnectionError):
            return await attempt()
        await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")
