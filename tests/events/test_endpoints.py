"""Webhook endpoints: create, list, retrieve, update, delete, roll the secret; bad input;
tenant and mode isolation. Where a live endpoint may point: test_ssrf.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import ServiceClient
from tests.support.events import events_service, key, tenant
from tests.support.servers import PostgresHandle

BASE = "/webhook_endpoints"
URL = "http://127.0.0.1:4242/webhook"


@pytest.fixture(scope="module")
async def client(
    pg: PostgresHandle, templates: dict[str, str], redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    # One service for the module: every test works in tenants of its own.
    async with events_service(pg, templates, redis_url) as service:
        yield service.client


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"url": URL, "enabled_events": ["*"], **fields}
    response = await client.post(BASE, json=body, headers=headers)
    assert response.status_code == 200, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) >= {"type", "code", "message", "param", "request_id"}
    return body


class TestCreate:
    async def test_the_secret_is_shown_once(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant())
        endpoint = await create(
            client, headers, enabled_events=["payment_intent.succeeded"], description="shop"
        )
        assert endpoint["id"].startswith("we_")
        assert endpoint["object"] == "webhook_endpoint"
        assert endpoint["secret"].startswith("whsec_")
        assert endpoint["status"] == "enabled"
        assert endpoint["enabled_events"] == ["payment_intent.succeeded"]
        assert (endpoint["livemode"], endpoint["default"]) == (False, False)
        one = (await client.get(f"{BASE}/{endpoint['id']}", headers=headers)).json()
        listed = (await client.get(BASE, headers=headers)).json()
        assert "secret" not in one
        assert "secret" not in listed["data"][0]
        assert one["url"] == URL
        assert listed["data"][0]["id"] == endpoint["id"]

    async def test_form_encoded_like_stripe_clients(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE,
            content=f"url={URL}&enabled_events[]=charge.succeeded&enabled_events[]=payout.*".encode(),
            headers={**key(tenant()), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["enabled_events"] == ["charge.succeeded", "payout.*"]

    async def test_created_disabled(self, client: httpx.AsyncClient) -> None:
        endpoint = await create(client, key(tenant()), disabled=True)
        assert endpoint["status"] == "disabled"

    async def test_the_answer_is_never_stored_for_replay(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE,
            json={"url": URL, "enabled_events": ["*"]},
            headers={**key(tenant()), "Idempotency-Key": "k1"},
        )
        assert response.headers["cache-control"] == "no-store"

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"enabled_events": ["*"]}, "url"),
            ({"url": URL}, "enabled_events"),
            ({"url": URL, "enabled_events": []}, "enabled_events"),
            ({"url": URL, "enabled_events": "*"}, "enabled_events"),
            ({"url": URL, "enabled_events": ["not a type"]}, "enabled_events[0]"),
            ({"url": URL, "enabled_events": ["payment_intent"]}, "enabled_events[0]"),
            ({"url": URL, "enabled_events": [7]}, "enabled_events[0]"),
            ({"url": URL, "enabled_events": ["*"] * 300}, "enabled_events"),
            ({"url": 42, "enabled_events": ["*"]}, "url"),
            ({"url": "", "enabled_events": ["*"]}, "url"),
            ({"url": "ftp://example.com/x", "enabled_events": ["*"]}, "url"),
            ({"url": "not a url", "enabled_events": ["*"]}, "url"),
            ({"url": "http://", "enabled_events": ["*"]}, "url"),
            ({"url": "http://a.example/" + "x" * 3000, "enabled_events": ["*"]}, "url"),
            ({"url": URL, "enabled_events": ["*"], "description": "d" * 6000}, "description"),
            ({"url": URL, "enabled_events": ["*"], "disabled": "maybe"}, "disabled"),
            ({"url": URL, "enabled_events": ["*"], "secret": "whsec_mine"}, "secret"),
        ],
    )
    async def test_bad_input(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        headers = key(tenant())
        found = error(await client.post(BASE, json=body, headers=headers), 400)
        assert found["type"] == "invalid_request_error"
        assert found["param"] == param
        assert (await client.get(BASE, headers=headers)).json()["data"] == []

    async def test_not_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            BASE, content=b"{nope", headers={**key(tenant()), "Content-Type": "application/json"}
        )
        error(response, 400)

    async def test_a_limit_per_tenant_and_mode(self, service_client: ServiceClient) -> None:
        async with service_client("events", max_endpoints=2) as client:
            headers = key(tenant())
            results = await asyncio.gather(
                *(client.post(BASE, json={"url": URL, "enabled_events": ["*"]}, headers=headers)
                  for _ in range(4))
            )  # fmt: skip
            assert sorted(r.status_code for r in results) == [200, 200, 400, 400]
            refused = next(r for r in results if r.status_code == 400)
            assert error(refused, 400)["code"] == "endpoint_limit"
            listed = (await client.get(BASE, headers=headers)).json()["data"]
            assert len(listed) == 2


class TestUpdate:
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
    async def test_update(self, client: httpx.AsyncClient, method: str) -> None:
        headers = key(tenant())
        endpoint = await create(client, headers)
        response = await client.request(
            method,
            f"{BASE}/{endpoint['id']}",
            json={"url": "http://127.0.0.1:9/new", "enabled_events": ["payout.paid"]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        updated = response.json()
        assert (updated["url"], updated["enabled_events"]) == (
            "http://127.0.0.1:9/new",
            ["payout.paid"],
        )
        assert "secret" not in updated

    async def test_disable_and_enable(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant())
        endpoint = await create(client, headers)
        path = f"{BASE}/{endpoint['id']}"
        off = (await client.post(path, json={"disabled": True}, headers=headers)).json()
        assert (off["status"], off["disabled_reason"]) == ("disabled", "requested")
        on = (await client.post(path, json={"disabled": False}, headers=headers)).json()
        assert (on["status"], on["disabled_reason"]) == ("enabled", None)

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"enabled_events": []}, "enabled_events"),
            ({"url": "gopher://x"}, "url"),
            ({"disabled": [1]}, "disabled"),
            ({"unknown": 1}, "unknown"),
        ],
    )
    async def test_bad_input(
        self, client: httpx.AsyncClient, body: dict[str, Any], param: str
    ) -> None:
        headers = key(tenant())
        endpoint = await create(client, headers)
        response = await client.post(f"{BASE}/{endpoint['id']}", json=body, headers=headers)
        assert error(response, 400)["param"] == param
        unchanged = (await client.get(f"{BASE}/{endpoint['id']}", headers=headers)).json()
        assert unchanged["url"] == URL
        assert unchanged["enabled_events"] == ["*"]


class TestDeleteAndRoll:
    async def test_delete(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant())
        endpoint = await create(client, headers)
        path = f"{BASE}/{endpoint['id']}"
        deleted = await client.delete(path, headers=headers)
        assert deleted.json() == {
            "id": endpoint["id"],
            "object": "webhook_endpoint",
            "deleted": True,
        }
        error(await client.get(path, headers=headers), 404)
        error(await client.delete(path, headers=headers), 404)

    async def test_roll_secret(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant())
        endpoint = await create(client, headers)
        response = await client.post(f"{BASE}/{endpoint['id']}/roll_secret", headers=headers)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        rolled = response.json()
        assert rolled["secret"].startswith("whsec_")
        assert rolled["secret"] != endpoint["secret"]


class TestIsolation:
    async def test_other_tenants_and_modes_see_nothing(self, client: httpx.AsyncClient) -> None:
        owner = tenant()
        endpoint = await create(client, key(owner))
        for stranger in (key(tenant()), key(owner, livemode=True)):
            assert (await client.get(BASE, headers=stranger)).json()["data"] == []
            path = f"{BASE}/{endpoint['id']}"
            for response in (
                await client.get(path, headers=stranger),
                await client.post(path, json={"disabled": True}, headers=stranger),
                await client.delete(path, headers=stranger),
                await client.post(path + "/roll_secret", headers=stranger),
            ):
                assert error(response, 404)["code"] == "resource_missing"
        still = (await client.get(f"{BASE}/{endpoint['id']}", headers=key(owner))).json()
        assert still["status"] == "enabled"

    @pytest.mark.parametrize("endpoint_id", ["we_nope", "evt_01jd000000000000000000000", "x" * 300])
    async def test_unknown_ids(self, client: httpx.AsyncClient, endpoint_id: str) -> None:
        error(await client.get(f"{BASE}/{endpoint_id}", headers=key(tenant())), 404)

    async def test_plain_users_are_refused(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant(), principal="usr_1", principal_type="user", role="USER")
        assert error(await client.get(BASE, headers=headers), 403)["type"] == "permission_error"

    async def test_tenant_admins_are_welcome(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant(), principal="usr_1", principal_type="user", role="TENANT_ADMIN")
        await create(client, headers)

    async def test_no_identity(self, client: httpx.AsyncClient) -> None:
        error(await client.get(BASE), 401)

    async def test_pagination(self, client: httpx.AsyncClient) -> None:
        headers = key(tenant())
        made = [(await create(client, headers))["id"] for _ in range(3)]
        first = (await client.get(BASE, params={"limit": 2}, headers=headers)).json()
        assert [e["id"] for e in first["data"]] == made[::-1][:2]
        assert first["has_more"]
        rest = await client.get(
            BASE, params={"limit": 2, "starting_after": made[1]}, headers=headers
        )
        assert [e["id"] for e in rest.json()["data"]] == [made[0]]
        error(await client.get(BASE, params={"limit": 0}, headers=headers), 400)
        error(await client.get(BASE, params={"limit": 101}, headers=headers), 400)
