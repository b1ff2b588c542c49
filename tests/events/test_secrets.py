"""Webhook endpoint secrets: encrypted at rest (the table, read with SQL, holds no plain
secret; secrets of earlier versions are encrypted when the service starts), and a rolled
secret that keeps signing beside the new one for `expires_in` seconds, checked with the
public `standardwebhooks` verifier."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared import webhooks
from tests.support.events import (
    WEBHOOK_SECRETS_KEY,
    EventsService,
    clone_database,
    create_endpoint,
    delivered,
    events_service,
    first_attempts,
    key,
    tenant,
)
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Received, Receiver


async def stored_rows(dsn: str) -> list[str]:
    """Every endpoint row as the database holds it, every column in one text."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT row_to_json(w)::text AS raw FROM webhook_endpoints w")
    finally:
        await conn.close()
    return [row["raw"] for row in rows]


def verifies(secret: str, delivery: Received) -> bool:
    try:
        Webhook(secret).verify(delivery.body, delivery.headers)
    except WebhookVerificationError:
        return False
    return True


def key_part(secret: str) -> str:
    return secret.removeprefix(webhooks.PREFIX)


class TestAtRest:
    async def test_the_table_holds_no_plain_secret(self, service: EventsService) -> None:
        owner = tenant()
        shown = []
        for livemode in (False, True):
            response = await service.client.post(
                "/webhook_endpoints",
                json={"url": "http://93.184.216.34/hook", "enabled_events": ["*"]},
                headers=key(owner, livemode=livemode),
            )
            made = response.json()
            shown.append(made["secret"])
            rolled = await service.client.post(
                f"/webhook_endpoints/{made['id']}/roll_secret",
                json={"expires_in": 3600},
                headers=key(owner, livemode=livemode),
            )
            shown.append(rolled.json()["secret"])
        raw = "\n".join(await stored_rows(service.dsn))
        for secret in shown:
            assert key_part(secret) not in raw
        # What is stored is the secret under the configured key, and nothing else opens it.
        conn = await asyncpg.connect(service.dsn)
        try:
            stored = await conn.fetchval(
                "SELECT secret FROM webhook_endpoints WHERE tenant_id = $1 AND NOT livemode",
                owner,
            )
        finally:
            await conn.close()
        assert Fernet(WEBHOOK_SECRETS_KEY).decrypt(bytes(stored)).decode() == shown[1]
        with pytest.raises(InvalidToken):
            Fernet(Fernet.generate_key()).decrypt(bytes(stored))

    async def test_secrets_of_earlier_versions_are_encrypted_at_start(
        self,
        pg: PostgresHandle,
        templates: dict[str, str],
        redis_url: str,
        redis: aioredis.Redis,
        receiver: Receiver,
    ) -> None:
        dsn = await clone_database(pg, templates["events"])
        owner = tenant()
        old = webhooks.new_secret()
        conn = await asyncpg.connect(dsn)
        try:
            # As migration 0002 leaves a row written by an earlier version.
            await conn.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, livemode, url, enabled_events, "
                "plain_secret) VALUES ('we_legacy', $1, false, $2, ARRAY['*'], $3)",
                owner,
                receiver.url,
                old,
            )
        finally:
            await conn.close()
        receiver.secret = old
        async with events_service(pg, templates, redis_url, database_url=dsn):
            assert all(key_part(old) not in raw for raw in await stored_rows(dsn))
            await delivered(redis, receiver, owner)

    async def test_a_rotated_key_still_reads_what_the_old_one_wrote(
        self, restarted_with_key: RestartWithKey, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        rotated = f"{Fernet.generate_key().decode()},{WEBHOOK_SECRETS_KEY}"
        async with restarted_with_key(rotated) as (_, owner):
            await delivered(redis, receiver, owner)

    async def test_a_key_that_cannot_read_them_fails_the_attempt_clearly(
        self, restarted_with_key: RestartWithKey, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        async with restarted_with_key(Fernet.generate_key().decode()) as (second, owner):
            found = await first_attempts(second.client, redis, owner)
            assert "webhook_secrets_key" in found[0]["error"]
            assert receiver.received == []


RestartWithKey = Callable[[str], contextlib.AbstractAsyncContextManager[tuple[EventsService, str]]]


@pytest.fixture
def restarted_with_key(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str, receiver: Receiver
) -> RestartWithKey:
    """Given a `webhook_secrets_key`: an endpoint (of a new tenant, at `receiver`) made by a
    service with the usual key, then the service started again on the same database with
    that key; the second service and the tenant."""

    @contextlib.asynccontextmanager
    async def restarted(webhook_secrets_key: str) -> AsyncIterator[tuple[EventsService, str]]:
        dsn = await clone_database(pg, templates["events"])
        owner = tenant()
        async with events_service(pg, templates, redis_url, database_url=dsn) as first:
            await create_endpoint(first.client, key(owner), receiver)
        async with events_service(
            pg, templates, redis_url, database_url=dsn, webhook_secrets_key=webhook_secrets_key
        ) as second:
            yield second, owner

    return restarted


async def roll(
    client: httpx.AsyncClient, endpoint_id: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    """`roll_secret` with `body` as JSON; None sends no body."""
    return await client.post(
        f"/webhook_endpoints/{endpoint_id}/roll_secret", json=body, headers=headers
    )


async def quiet_endpoint(client: httpx.AsyncClient, owner: str) -> str:
    """The id of an endpoint of `owner` at an address nothing listens on (the discard port):
    for tests of the API alone, which never wait for a delivery."""
    created = await client.post(
        "/webhook_endpoints",
        json={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]},
        headers=key(owner),
    )
    assert created.status_code == 200, created.text
    endpoint_id: str = created.json()["id"]
    return endpoint_id


class TestRollWithExpiry:
    async def test_both_secrets_sign_during_the_window_only_the_new_after(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        old = made["secret"]
        response = await roll(service.client, made["id"], key(owner), {"expires_in": 2})
        assert response.status_code == 200, response.text
        rolled = response.json()
        new = rolled["secret"]
        assert new != old
        assert rolled["previous_secret_expires"] >= int(time.time()) + 1
        shown = await service.client.get(f"/webhook_endpoints/{made['id']}", headers=key(owner))
        assert shown.json()["previous_secret_expires"] == rolled["previous_secret_expires"]
        assert "secret" not in shown.json()

        # In the window: a receiver holding only the old secret and one holding only the new
        # both verify the same delivery.
        receiver.secret = old
        delivery = await delivered(redis, receiver, owner)
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        assert verifies(old, delivery)
        assert verifies(new, delivery)

        # After it: only the new one.
        await asyncio.sleep(max(0.0, rolled["previous_secret_expires"] - time.time()) + 1.1)
        receiver.secret = new
        delivery = await delivered(redis, receiver, owner)
        assert len(delivery.headers["webhook-signature"].split(" ")) == 1
        assert verifies(new, delivery)
        assert not verifies(old, delivery)
        shown = await service.client.get(f"/webhook_endpoints/{made['id']}", headers=key(owner))
        assert shown.json()["previous_secret_expires"] is None

    @pytest.mark.parametrize("body", [{}, {"expires_in": 0}, None])
    async def test_by_default_the_old_secret_stops_at_once(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver, body: Any
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        # None: no body at all, as before expires_in existed.
        response = await roll(service.client, made["id"], key(owner), body)
        assert response.status_code == 200, response.text
        assert response.json()["previous_secret_expires"] is None
        receiver.secret = response.json()["secret"]
        delivery = await delivered(redis, receiver, owner)
        assert not verifies(made["secret"], delivery)

    async def test_rolling_again_retires_the_oldest(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        made = await create_endpoint(service.client, key(owner), receiver)
        second = (await roll(service.client, made["id"], key(owner), {"expires_in": 600})).json()
        third = (await roll(service.client, made["id"], key(owner), {"expires_in": 600})).json()
        receiver.secret = third["secret"]
        delivery = await delivered(redis, receiver, owner)
        assert verifies(second["secret"], delivery)
        assert not verifies(made["secret"], delivery)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"expires_in": -1}, "parameter_invalid"),
            ({"expires_in": 86401}, "parameter_invalid"),
            ({"expires_in": "an hour"}, "parameter_invalid"),
            ({"expires_in": 1.5}, "parameter_invalid"),
            ({"expires_in": None}, "parameter_invalid"),
            ({"expires_in": [60]}, "parameter_invalid"),
            ({"expiry": 60}, "parameter_unknown"),
        ],
    )
    async def test_bad_input(self, service: EventsService, body: Any, code: str) -> None:
        owner = tenant()
        endpoint_id = await quiet_endpoint(service.client, owner)
        response = await roll(service.client, endpoint_id, key(owner), body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == (
            code,
            "expires_in" if "expires_in" in body else "expiry",
        )

    async def test_the_upper_bound_is_allowed(self, service: EventsService) -> None:
        owner = tenant()
        endpoint_id = await quiet_endpoint(service.client, owner)
        response = await service.client.post(
            f"/webhook_endpoints/{endpoint_id}/roll_secret",
            content="expires_in=86400",
            headers={**key(owner), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["previous_secret_expires"] >= int(time.time()) + 86399

    @pytest.mark.parametrize(
        ("caller", "target"),
        [
            pytest.param("other-tenant", "own", id="other-tenant"),
            pytest.param("live", "own", id="live"),
            pytest.param("owner", "we_doesnotexist", id="unknown"),
        ],
    )
    async def test_unknown_and_other_tenants_endpoints(
        self, service: EventsService, caller: str, target: str
    ) -> None:
        owner = tenant()
        endpoint_id = await quiet_endpoint(service.client, owner)
        headers = {
            "other-tenant": key(tenant()),
            "live": key(owner, livemode=True),
            "owner": key(owner),
        }[caller]
        target = endpoint_id if target == "own" else target
        response = await roll(service.client, target, headers, {"expires_in": 60})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "resource_missing"
