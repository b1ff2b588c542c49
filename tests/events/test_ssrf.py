"""Where a live webhook may go (SSRF): every address form against the allow-list, at
creation (400 `url_not_allowed`) and at delivery (refused before connecting, even when the
name resolved to a public address when the endpoint was saved), and redirects never followed."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from services.events.errors import UrlNotAllowedError
from services.events.service import urls
from tests.support.dns import TableResolver
from tests.support.events import (
    EventsService,
    attempts_of,
    create_endpoint,
    event_row,
    events_service,
    key,
    publish,
    tenant,
)
from tests.support.servers import PostgresHandle
from tests.support.webhook_receiver import Receiver, webhook_receiver

PUBLIC = "93.184.216.34"
# Forms that reach this machine, its network or no one, each written the way an attacker
# would: IPv4 ranges of the special-purpose registry, IPv6 ones, IPv6 forms that embed a
# refused IPv4, legacy numeric IPv4, local names, parser tricks.
REFUSED_URLS = [
    # IPv4 special-purpose blocks.
    "http://0.0.0.0/hook",
    "http://0.1.2.3/hook",
    "http://10.1.2.3/hook",
    "http://100.64.0.1/hook",
    "http://100.127.255.254/hook",
    "http://127.0.0.1:8080/hook",
    "http://127.255.255.254/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://172.16.5.5/hook",
    "http://172.31.255.255/hook",
    "http://192.0.0.9/hook",
    "http://192.0.2.10/hook",
    "http://192.88.99.1/hook",
    "http://192.168.0.10/hook",
    "http://198.18.0.1/hook",
    "http://198.19.255.1/hook",
    "http://198.51.100.7/hook",
    "http://203.0.113.9/hook",
    "http://224.0.0.251/hook",
    "http://239.255.255.250/hook",
    "http://240.0.0.1/hook",
    "http://255.255.255.255/hook",
    # Legacy numeric forms of 127.0.0.1 (and of a private address).
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://0177.0.0.1/hook",
    "http://017700000001/hook",
    "http://10.1/hook",
    "http://0/hook",
    # IPv6 special-purpose blocks and non-global-unicast space.
    "http://[::]/hook",
    "http://[::1]/hook",
    "http://[0:0:0:0:0:0:0:1]/hook",
    "http://[fc00::1]/hook",
    "http://[fd12:3456:789a::1]/hook",
    "http://[fe80::1]/hook",
    "http://[fe80::1%25eth0]/hook",
    "http://[FE80::ABCD%25lo]/hook",
    "http://[fec0::1]/hook",
    "http://[ff02::1]/hook",
    "http://[100::1]/hook",
    "http://[2001:db8::1]/hook",
    "http://[2001:2::1]/hook",
    "http://[2001:10::1]/hook",
    "http://[3fff::1]/hook",
    "http://[5f00::1]/hook",
    "http://[64:ff9b:1::808:808]/hook",
    # IPv6 forms carrying a refused IPv4: mapped, compatible, NAT64, 6to4, Teredo.
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[::127.0.0.1]/hook",
    "http://[::10.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[64:ff9b::127.0.0.1]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[2002:a00:1::1]/hook",
    "http://[2002:c0a8:1::]/hook",
    # Teredo: server 65.54.227.120, client ~0x80fffffe = 127.0.0.1.
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
    # Teredo: server 10.0.0.1 (bits 32-63), client public.
    "http://[2001:0:a00:1:8000:63bf:a2c9:cbdd]/hook",
    # Local names, whatever the case or a trailing dot.
    "http://localhost/hook",
    "http://localhost./hook",
    "http://LOCALHOST/hook",
    "http://LocalHost.:8080/hook",
    "http://api.localhost/hook",
    "http://printer.local/hook",
    "http://db.internal/hook",
    "http://router.home.arpa/hook",
    # Userinfo and fragments do not change the host that is reached.
    "http://a@127.0.0.1/hook",
    f"http://{PUBLIC}@127.0.0.1/hook",
    f"http://{PUBLIC}:80@127.0.0.1/hook",
    "http://user:pass@[::1]:8080/hook",
    "http://127.0.0.1#@example.com/hook",
    # Uppercase schemes and IPv6 hex.
    "HTTP://127.0.0.1/hook",
    "http://[::FFFF:7F00:1]/hook",
    # A backslash: parsers disagree on where the host ends.
    f"http://{PUBLIC}\\@127.0.0.1/hook",
]
ALLOWED_URLS = [
    f"http://{PUBLIC}/hook",
    f"https://{PUBLIC}:8443/hook",
    f"http://{PUBLIC}./hook",
    "https://8.8.8.8/hook",
    "http://[2606:4700:4700::1111]/hook",
    "http://[2a00:1450:4001:82b::200e]/hook",
    # IPv6 forms of a public IPv4 are judged by it.
    "http://[::ffff:8.8.8.8]/hook",
    "http://[64:ff9b::808:808]/hook",
    "http://[2002:808:808::1]/hook",
    # Teredo: server 65.54.227.120, client 93.184.216.34 inverted.
    "http://[2001:0:4136:e378:8000:63bf:a247:27dd]/hook",
    # Userinfo in front of a public host.
    f"http://127.0.0.1@{PUBLIC}/hook",
    f"http://user:pass@{PUBLIC}/hook",
    # Names are judged by what they resolve to (this table: public).
    "https://hooks.example.com/hook",
    "https://HOOKS.Example.COM./hook",
]


def public_dns() -> TableResolver:
    return TableResolver({"hooks.example.com": [PUBLIC]})


class TestTheAllowList:
    """The rule itself, without a server: every form, both ways."""

    @pytest.mark.parametrize("url", REFUSED_URLS)
    def test_refused(self, url: str) -> None:
        def judge() -> None:
            urls.check_syntax(url)
            urls.refuse_host(urls.host_of(url))

        with pytest.raises((UrlNotAllowedError, urls.DestinationRefusedError)):
            judge()

    @pytest.mark.parametrize("url", ALLOWED_URLS)
    def test_allowed(self, url: str) -> None:
        urls.check_syntax(url)
        urls.refuse_host(urls.host_of(url))

    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("::ffff:127.0.0.1", "127.0.0.1, loopback"),
            ("::127.0.0.1", "127.0.0.1, loopback"),
            ("64:ff9b::7f00:1", "127.0.0.1, loopback"),
            ("2002:7f00:1::", "127.0.0.1, loopback"),
            # Teredo's client is the last 32 bits inverted; its server, bits 32-63.
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1, loopback"),
            ("2001:0:a00:1::", "10.0.0.1, private-use"),
            ("fe80::1", "not a global unicast address"),
            ("2001:db8::1", "documentation"),
            ("169.254.169.254", "link-local"),
        ],
    )
    def test_the_reason_names_the_real_address(self, address: str, reason: str) -> None:
        found = urls.address_refusal(ipaddress.ip_address(address))
        assert found is not None
        assert reason in found

    def test_every_resolved_address_counts(self) -> None:
        urls.refuse_addresses("hooks.example.com", [PUBLIC, "2606:4700:4700::1111"])
        with pytest.raises(urls.DestinationRefusedError, match=r"resolving to 127\.0\.0\.1"):
            urls.refuse_addresses("hooks.example.com", [PUBLIC, "127.0.0.1"])
        with pytest.raises(urls.DestinationRefusedError, match="::1"):
            urls.refuse_addresses("hooks.example.com", ["::1"])


@pytest.fixture(scope="module")
async def dns() -> TableResolver:
    return public_dns()


@pytest.fixture(scope="module")
async def service(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str, dns: TableResolver
) -> AsyncIterator[EventsService]:
    async with events_service(pg, templates, redis_url, resolver=dns) as running:
        yield running


@pytest.fixture(scope="module")
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as running:
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
        row = event_row(owner, livemode=True)
        await publish(redis, row)
        found = await attempts_of(service.client, row["event_id"], key(owner, livemode=True), bool)
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
        row = event_row(owner, livemode=True)
        await publish(redis, row)
        found = await attempts_of(service.client, row["event_id"], key(owner, livemode=True), bool)
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
        row = event_row(owner, livemode=True)
        await publish(redis, row)
        found = await attempts_of(service.client, row["event_id"], key(owner, livemode=True), bool)
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
            row = event_row(owner)
            await publish(redis, row)
            found = await attempts_of(service.client, row["event_id"], key(owner), bool)
            first = found[-1]
            assert (first["succeeded"], first["status_code"]) == (False, status)
            assert target.url in first["error"]
            assert "not followed" in first["error"]
            assert first["next_attempt"] is not None  # retried like any failure
            assert target.received == []
            assert redirecting.received
            assert made["url"] == redirecting.url
