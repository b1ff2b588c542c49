"""GET /events/backlog: whether events are flowing, across every tenant and mode, for
platform admins only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from gateway.routing import Access, resolve
from services.events.repository import backlog as backlog_repo
from shared.access import Role
from shared.outbox import _LOCK_ID
from tests.support.asgi import identity_headers
from tests.support.events import EventsService, events_service
from tests.support.refusals import refused
from tests.support.servers import PostgresHandle

URL = "/events/backlog"
# A Redis database of its own: the consumer reads the global stream from its start, and
# other modules' events there would land in this log's lag window.
_REDIS_DB = 11


def platform_admin() -> dict[str, str]:
    return identity_headers(
        tenant_id="ten_platform", principal="usr_admin", principal_type="user",
        role="PLATFORM_ADMIN",
    )  # fmt: skip


@pytest.fixture
async def pipeline(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[EventsService]:
    """A fresh database; the deliverer never woken (due deliveries stay due)."""
    own_redis = redis_url.rsplit("/", 1)[0] + f"/{_REDIS_DB}"
    client = aioredis.Redis.from_url(own_redis)
    await client.flushdb()
    await client.aclose()
    async with events_service(pg, templates, own_redis, delivery_poll_interval=3600.0) as running:
        yield running


@pytest.fixture
async def conn(pipeline: EventsService) -> AsyncIterator[asyncpg.Connection]:
    """A connection holding the outbox relay's lock: unpublished rows stay unpublished."""
    connection = await asyncpg.connect(pipeline.dsn)
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        yield connection
    finally:
        await connection.close()


async def _endpoint(
    conn: asyncpg.Connection, endpoint_id: str, *, status: str, failing: bool, livemode: bool
) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, secret, "
        "status, failing_since) VALUES ($1, $2, $3, 'https://example.com/hook', '{*}', 'x', $4, "
        "CASE WHEN $5 THEN now() - interval '1 hour' END)",
        endpoint_id, f"ten_{endpoint_id}", livemode, status, failing,
    )  # fmt: skip


async def _event(
    conn: asyncpg.Connection, event_id: str, *, received_ago_s: float, lag_ms: float,
    tenant_id: str = "ten_a", livemode: bool = False,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO events (id, tenant_id, livemode, type, payload, created_at, received_at) "
        "SELECT $1, $2, $3, 'payment_intent.succeeded', '{}', r - make_interval(secs => $5), r "
        "FROM (SELECT now() - make_interval(secs => $4) AS r) t",
        event_id, tenant_id, livemode, received_ago_s, lag_ms / 1000,
    )  # fmt: skip


async def _delivery(
    conn: asyncpg.Connection, delivery_id: str, endpoint_id: str, *, status: str,
    due_in_s: float | None,
) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO deliveries (id, event_id, endpoint_id, tenant_id, livemode, status, "
        "next_attempt_at) VALUES ($1, 'evt_old', $2, 'ten_a', false, $3, "
        "CASE WHEN $4::float8 IS NOT NULL THEN now() + make_interval(secs => $4) END)",
        delivery_id, endpoint_id, status, due_in_s,
    )  # fmt: skip


async def _outbox(
    conn: asyncpg.Connection, event_id: str, *, age_s: float, published: bool
) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, tenant_id, livemode, type, payload, created_at, "
        "published_at) VALUES ($1, 'ten_a', true, 'webhook_endpoint.created', '{}', "
        "now() - make_interval(secs => $2), CASE WHEN $3 THEN now() END)",
        event_id, age_s, published,
    )  # fmt: skip


async def test_an_empty_pipeline_is_zeros_and_nulls(
    pipeline: EventsService, conn: asyncpg.Connection
) -> None:
    response = await pipeline.client.get(URL, headers=platform_admin())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "events.backlog",
        "deliveries": {
            "pending": 0, "due": 0, "oldest_due_seconds": None, "failing_endpoints": 0,
            "disabled_endpoints": 0,
        },
        "lag": {"window_seconds": 600, "events": 0, "p50_ms": None, "max_ms": None},
        "outbox": {"pending": 0, "oldest_seconds": None},
    }  # fmt: skip


async def test_it_counts_every_tenant_and_mode(
    pipeline: EventsService, conn: asyncpg.Connection
) -> None:
    await _endpoint(conn, "we_ok", status="enabled", failing=False, livemode=False)
    await _endpoint(conn, "we_failing", status="enabled", failing=True, livemode=True)
    await _endpoint(conn, "we_failing2", status="enabled", failing=True, livemode=False)
    # Disabled: counted as disabled, not as failing, whatever failing_since says.
    await _endpoint(conn, "we_off", status="disabled", failing=True, livemode=False)
    await _endpoint(conn, "we_off2", status="disabled", failing=False, livemode=True)
    # Lags of 100, 200, 300 and 900 ms inside the window (two tenants, both modes); one
    # outside it, far slower, counts for nothing.
    await _event(conn, "evt_1", received_ago_s=10, lag_ms=100)
    await _event(conn, "evt_2", received_ago_s=60, lag_ms=300, tenant_id="ten_b")
    await _event(conn, "evt_3", received_ago_s=120, lag_ms=200, livemode=True)
    await _event(conn, "evt_4", received_ago_s=500, lag_ms=900, tenant_id="ten_b", livemode=True)
    await _event(conn, "evt_old", received_ago_s=1200, lag_ms=60_000)
    await _delivery(conn, "whdel_due_old", "we_failing", status="pending", due_in_s=-30)
    await _delivery(conn, "whdel_due", "we_failing", status="pending", due_in_s=-5)
    await _delivery(conn, "whdel_later", "we_ok", status="pending", due_in_s=3600)
    await _delivery(conn, "whdel_done", "we_ok", status="succeeded", due_in_s=-600)
    await _delivery(conn, "whdel_failed", "we_off", status="failed", due_in_s=-600)
    await _delivery(conn, "whdel_canceled", "we_off", status="canceled", due_in_s=None)
    await _outbox(conn, "evt_out_1", age_s=45, published=False)
    await _outbox(conn, "evt_out_2", age_s=5, published=False)
    await _outbox(conn, "evt_out_3", age_s=900, published=True)

    response = await pipeline.client.get(URL, headers=platform_admin())
    assert response.status_code == 200, response.text
    body = response.json()
    deliveries, lag, outbox = body["deliveries"], body["lag"], body["outbox"]
    assert (deliveries["pending"], deliveries["due"]) == (3, 2)
    assert 30 <= deliveries["oldest_due_seconds"] < 90
    assert (deliveries["failing_endpoints"], deliveries["disabled_endpoints"]) == (2, 2)
    assert (lag["window_seconds"], lag["events"]) == (600, 4)
    assert lag["p50_ms"] == pytest.approx(250.0, abs=0.01)
    assert lag["max_ms"] == pytest.approx(900.0, abs=0.01)
    assert outbox["pending"] == 2
    assert 45 <= outbox["oldest_seconds"] < 105


async def test_the_lag_reads_the_received_at_index(
    pipeline: EventsService, conn: asyncpg.Connection
) -> None:
    """No sequential scan of the log: the window is read through events_received_idx."""
    await conn.execute("SET enable_seqscan = off")
    explained = await conn.fetch("EXPLAIN " + backlog_repo._BACKLOG.replace("$1", "600"))
    plan = [row[0] for row in explained]
    assert any("events_received_idx" in line for line in plan), plan
    assert not any("Seq Scan on events" in line for line in plan), plan


# The identity's fields, minted in the test: a token minted at import would have expired
# by the time a long suite reaches it.
@pytest.mark.parametrize(
    "who",
    [
        pytest.param({}, id="api-key"),
        pytest.param({"livemode": True}, id="live-api-key"),
        pytest.param(
            {"principal": "usr_x", "principal_type": "user", "role": "TENANT_ADMIN"},
            id="tenant-admin",
        ),
        pytest.param({"principal": "usr_y", "principal_type": "user", "role": "USER"}, id="user"),
    ],
)
async def test_only_a_platform_admin_may(pipeline: EventsService, who: dict[str, Any]) -> None:
    headers = identity_headers(**who)
    refused(await pipeline.client.get(URL, headers=headers), 403, "role_required")


def test_the_gateway_lets_a_platform_admin_session_through() -> None:
    target = resolve(URL)
    assert target is not None
    assert (target.rule.service, target.path, target.rule.access) == ("events", URL, Access.API)
    assert Role.PLATFORM_ADMIN in target.rule.session_roles


async def test_backlog_is_never_read_as_an_event_id(pipeline: EventsService) -> None:
    """`/events/backlog` is the backlog's, not `/events/{event_id}`'s, for everyone: an API
    key is refused as a non-admin, not told there is no event `backlog`."""
    refused(await pipeline.client.get(URL, headers=identity_headers()), 403, "role_required")
