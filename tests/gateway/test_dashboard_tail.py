"""The dashboard's live tail (`gateway/dashboard/views/stream.py`) against a real Redis and
the relay's own hub: a tenant's events after the cursor, in order, filtered by type, never
another tenant's; a heartbeat comment while idle; the end when the credential is revoked or
the dashboard session is gone; resuming after `Last-Event-ID`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from cli.apps import settings_class
from gateway.dashboard.session import DashboardSession, Sessions
from gateway.dashboard.views import stream
from gateway.relay.state import Relay, open_relay
from gateway.relay.stream import TypeFilter
from gateway.relay.tokens import ListenGrant
from gateway.settings import GatewaySettings
from gateway.watchers import Watchers
from shared.access import Role
from tests.support.relay import Tenant, new_tenant, publish
from tests.support.secrets import TEST_SECRET_FIELDS


@pytest.fixture
async def relay(redis_url: str) -> AsyncIterator[Relay]:
    values: dict[str, Any] = {"redis_url": redis_url, **TEST_SECRET_FIELDS}
    settings = settings_class("gateway").model_validate(values)
    assert isinstance(settings, GatewaySettings)
    async with open_relay(settings) as opened:
        yield opened


class Tail:
    def __init__(self, relay: Relay, tenant: Tenant, types: str | None = None) -> None:
        self.relay = relay
        self.tenant = tenant
        self.watchers = Watchers()
        self.sessions = Sessions(relay.redis)
        self.grant = ListenGrant(tenant.id, tenant.livemode, "usr_1", 0, "sess_" + tenant.id)
        self.types = TypeFilter(types)

    async def open(self, after: str | None = None) -> AsyncGenerator[str]:
        self.cookie = await self.sessions.create(
            DashboardSession("at", "rt", 0, "usr_1", "a@example.com", Role.TENANT_ADMIN, "t")
        )
        tail = stream._Tail(
            self.relay, self.watchers, self.grant, self.types, self.sessions, self.cookie
        )
        messages = tail.messages(after)
        first = await anext(messages)
        assert first.startswith(f"retry: {stream.RETRY_MS}\n")
        return messages


async def next_of(messages: AsyncIterator[str]) -> str:
    return await asyncio.wait_for(anext(messages), 5)


def parse(message: str) -> tuple[str, dict[str, Any]]:
    lines = message.strip("\n").split("\n")
    assert lines[0].startswith("id: ")
    data = "\n".join(line.removeprefix("data: ") for line in lines[1:])
    return lines[0].removeprefix("id: "), json.loads(data)


async def test_its_tenants_events_in_order_of_its_types_only(relay: Relay) -> None:
    mine, theirs = new_tenant(), new_tenant()
    tail = Tail(relay, mine, "payment_intent.*")
    messages = await tail.open()
    await publish(relay.redis, theirs, 2)
    await publish(relay.redis, mine, type="refund.created")
    rows = await publish(relay.redis, mine, 3)
    got = [parse(await next_of(messages)) for _ in rows]
    assert [event["id"] for _, event in got] == [row["event_id"] for row in rows]
    assert [json.dumps(event) for _, event in got] == [
        json.dumps(json.loads(row["payload"])) for row in rows
    ]
    assert {event["tenant_id"] for _, event in got} == {mine.id}
    assert all({"id", "type", "created"} <= set(event) for _, event in got)
    await messages.aclose()


async def test_resumes_after_the_last_event_id(relay: Relay) -> None:
    mine = new_tenant()
    tail = Tail(relay, mine)
    messages = await tail.open()
    rows = await publish(relay.redis, mine, 3)
    first, _ = parse(await next_of(messages))
    await messages.aclose()
    again = await tail.open(after=first)
    got = [parse(await next_of(again))[1]["id"] for _ in rows[1:]]
    assert got == [row["event_id"] for row in rows[1:]]
    await again.aclose()


async def test_a_heartbeat_while_idle_and_the_end_with_the_session(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.1)
    tail = Tail(relay, new_tenant())
    messages = await tail.open()
    assert (await next_of(messages)).startswith(": heartbeat\nid: ")
    await tail.sessions.delete(tail.cookie)  # signed out here, or the record expired
    ended = await next_of(messages)
    assert ended.startswith("event: ended\n")
    assert "session_ended" in ended
    with pytest.raises(StopAsyncIteration):
        await next_of(messages)


async def test_ends_at_once_when_auth_announces_the_credential_revoked(relay: Relay) -> None:
    tail = Tail(relay, new_tenant())
    messages = await tail.open()
    waiting = asyncio.ensure_future(next_of(messages))
    await asyncio.sleep(0.05)
    tail.watchers.revoked(tail.grant.credential, "user_deactivated")
    ended = await asyncio.wait_for(waiting, 2)  # long before a heartbeat
    assert "user_deactivated" in ended
    with pytest.raises(StopAsyncIteration):
        await next_of(messages)


async def test_ends_when_the_session_switches_mode(
    relay: Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.1)
    tail = Tail(relay, new_tenant())
    messages = await tail.open()
    session = await tail.sessions.load(tail.cookie)
    assert session is not None
    session.mode = "live"
    await tail.sessions.save(tail.cookie, session)
    ended = await next_of(messages)
    assert ended.startswith("event: ended\n")
    assert "mode_switched" in ended
