"""Where a live webhook may go (SSRF), through the service: every address form against the
allow-list at creation (400 `url_not_allowed`) and at delivery (refused before connecting, even
when the name resolved to a public address when the endpoint was saved), and redirects never
followed. The rule itself, without a server: tests/unit/events/test_urls.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import ServiceClient
from tests.support.dns import TableResolver
from tests.support.events import (
    EventsService,
    create_endpoint,
    event_row,
    events_service,
    first_attempts,
    key,
    publish,
    tenant,
)
from tests.support.servers import PostgresHandle
from tests.support.ssrf import ALLOWED_URLS, PUBLIC, REFUSED_URLS, public_dns
from tests.support.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="module")
async def dns() -> TableResolver:
    return public_dns()


@pytest.fixture(scope="module")
async def service(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str, dns: TableResolver
) -> AsyncIterator[EventsService]:
    async with events_service(pg, templates, redis_url, resolver=dns) as running:
        yield running


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()["error"]
    assert (body["type"], body["code"], body["param"]) == (
        "invalid_request_error",
        "url_not_allowed",
        "url",
    )
    return body


class TestAtCreation:
    @pytest.mark.parametrize("url", REFUSED_URLS)
    async def test_refused_in_live_mode(self, service: EventsService, url: str) -> None:
        body = {"url": url, "enabled_events": ["*"]}
        response = await service.client.post(
            "/webhook_endpoints", json=body, headers=key(tenant(), livemode=True)
        )
        refusal(response)

    @pytest.mark.parametrize("url", ALLOWED_URLS)
    async def test_allowed_in_live_mode(self, service: EventsService, url: str) -> None:
        body = {"url": url, "enabled_events": ["*"]}
        response = await service.client.post(
            "/webhook_endpoints", json=body, headers=key(tenant(), livemode=True)
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "url", ["http://localhost:4242/hook", "http://127.0.0.1/hook", "http://[::1]/hook"]
    )
    async def test_test_mode_reaches_the_developers_machine(
        self, service: EventsService, url: str
    ) -> None:
        body = {"url": url, "enabled_events": ["*"]}
        response = await service.client.post("/webhook_endpoints", json=body, headers=key(tenant()))
        assert response.status_code == 200, response.text

    async def test_a_name_resolving_to_a_refused_address(
        self, service: EventsService, dns: TableResolver
    ) -> None:
        dns.table["sneaky.example.net"] = [PUBLIC, "10.0.0.7"]
        dns.table["v6.example.net"] = ["::ffff:127.0.0.1"]
        for host in ("sneaky.example.net", "SNEAKY.example.net.", "v6.example.net"):
            body = {"url": f"https://{host}/hook", "enabled_events": ["*"]}
            response = await service.client.post(
                "/webhook_endpoints", json=body, headers=key(tenant(), livemode=True)
            )
            assert "resolving to" in refusal(response)["message"]

    async def test_refused_on_update(self, service: EventsService) -> None:
        headers = key(tenant(), livemode=True)
        made = await service.client.post(
            "/webhook_endpoints",
            json={"url": f"http://{PUBLIC}/hook", "enabled_events": ["*"]},
            headers=headers,
        )
        path = f"/webhook_endpoints/{made.json()['id']}"
        refusal(
            await service.client.post(path, json={"url": "http://[::127.0.0.1]/"}, headers=headers)
        )
        assert (await service.client.get(path, headers=headers)).json()["url"] == (
            f"http://{PUBLIC}/hook"
        )

    async def test_a_deployment_may_allow_private_addresses(
        self, service_client: ServiceClient
    ) -> None:
        async with service_client("events", allow_private_live_urls=True) as client:
            body = {"url": "http://127.0.0.1/x", "enabled_events": ["*"]}
            response = await client.post(
                "/webhook_endpoints", json=body, headers=key(tenant(), livemode=True)
            )
            assert response.status_code == 200, response.text
            assert response.json()["livemode"]


async def live_endpoint_at(service: EventsService, owner: str, url: str) -> str:
    response = await service.client.post(
        "/webhook_endpoints",
        json={"url": url, "enabled_events": ["*"]},
        headers=key(owner, livemode=True),
    )
    assert response.status_code == 200, response.text
    endpoint_id: str = response.json()["id"]
    return endpoint_id


class TestAtDelivery:
    async def test_a_name_that_rebinds_to_loopback_is_refused_without_connecting(
        self,
        service: EventsService,
        dns: TableResolver,
        redis: aioredis.Redis,
        receiver: Receiver,
    ) -> None:
        owner = tenant()
        port = receiver.url.split(":")[2].split("/")[0]
        # Public when saved ...
        dns.table["rebind.example.org"] = [PUBLIC]
        await live_endpoint_at(service, owner, f"http://rebind.example.org:{port}/hook")
        # ... loopback (where the receiver listens) by the time the event goes out.
        dns.table["rebind.example.org"] = ["127.0.0.1"]
        found = await first_attempts(service.client, redis, owner, livemode=True)
        assert found[0]["succeeded"] is False
        assert found[0]["status_code"] is None
        assert found[0]["error"].startswith("refused")
        assert "127.0.0.1" in found[0]["error"]
        assert receiver.received == []

    async def test_the_checked_address_is_the_one_connected_to(
        self,
        pg: PostgresHandle,
        templates: dict[str, str],
        redis_url: str,
        redis: aioredis.Redis,
        receiver: Receiver,
    ) -> None:
        # The same rebinding with the rule turned off: the delivery arrives, so the answer
        # the guard reads is the one the connector uses (the previous test is not vacuous).
        dns = TableResolver({"rebind.example.org": ["127.0.0.1"]})
        async with events_service(
            pg, templates, redis_url, resolver=dns, allow_private_live_urls=True
        ) as open_service:
            owner = tenant()
            port = receiver.url.split(":")[2].split("/")[0]
            await live_endpoint_at(open_service, owner, f"http://rebind.example.org:{port}/hook")
            row = event_row(owner, livemode=True)
            await publish(redis, row)
            await receiver.wait_for(1)
            assert "rebind.example.org" in dns.lookups

    @pytest.mark.parametrize("address", ["::1", "::ffff:127.0.0.1", "169.254.169.254", "fd00::1"])
    async def test_any_refused_address_in_the_answer(
        self,
        service: EventsService,
        dns: TableResolver,
        redis: aioredis.Redis,
        receiver: Receiver,
        address: str,
    ) -> None:
        owner = tenant()
        name = f"mixed-{owner}.example.org"
        dns.table[name] = [PUBLIC]
        await live_endpoint_at(service, owner, f"http://{name}/hook")
        dns.table[name] = [PUBLIC, address]
        found = await first_attempts(service.client, redis, owner, livemode=True)
        assert found[0]["error"].startswith("refused")
        assert address in found[0]["error"]

    async def test_a_stored_literal_form_is_refused_at_delivery_too(
        self, service: EventsService, redis: aioredis.Redis, receiver: Receiver
    ) -> None:
        owner = tenant()
        endpoint_id = await live_endpoint_at(service, owner, f"http://{PUBLIC}/hook")
        port = receiver.url.split(":")[2].split("/")[0]
        # As if saved before this rule existed.
        conn = await asyncpg.connect(service.dsn)
        try:
            await conn.execute(
                "UPDATE webhook_endpoints SET url = $2 WHERE id = $1",
                endpoint_id,
                f"http://2130706433:{port}/hook",
            )
        finally:
            await conn.close()
        found = await first_attempts(service.client, redis, owner, livemode=True)
        assert found[0]["error"].startswith("refused")
        assert receiver.received == []


class TestRedirects:
    @pytest.mark.parametrize("status", [301, 302, 307, 308])
    async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
        self, service: EventsService, redis: aioredis.Redis, status: int
    ) -> None:
        async with webhook_receiver() as target, webhook_receiver() as redirecting:
            redirecting.status = status
            redirecting.location = target.url
            owner = tenant()
            made = await create_endpoint(service.client, key(owner), redirecting, verify=False)
            found = await first_attempts(service.client, redis, owner)
            first = found[-1]
            assert (first["succeeded"], first["status_code"]) == (False, status)
            assert target.url in first["error"]
            assert "not followed" in first["error"]
            assert first["next_attempt"] is not None  # retried like any failure
            assert target.received == []
            assert redirecting.received
            assert made["url"] == redirecting.url
