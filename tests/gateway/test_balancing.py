"""The gateway over two replicas of a service (real processes, tests/support/stand_in.py):
round-robin, a killed replica skipped, a request replayed on the other only when that is
safe, no replay after a timeout, and the dead replica back once it restarts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
from prometheus_client import REGISTRY

from cli.stack.ports import free_port
from tests.support.asgi import serve_with_uvicorn
from tests.support.processes import micro
from tests.support.relay import gateway_app
from tests.support.stand_in import Replica, replicas

# /webhooks is payments' public route: no credential, no rate limit, so these requests
# test the proxy alone.
WHO = "/webhooks/who"
CRASH = "/webhooks/crash"
SLOW = "/webhooks/slow"


@contextlib.asynccontextmanager
async def gateway_over(
    redis_url: str, *behind: Replica, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    dead = f"http://127.0.0.1:{free_port()}"  # the other services: never someone else's
    app = gateway_app(
        redis_url,
        payments_url=",".join(replica.url for replica in behind),
        **{f"{name}_url": dead for name in ("auth", "ledger", "wallet", "events")},
        **settings,
    )
    async with (
        serve_with_uvicorn(app) as host,
        httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as client,
    ):
        yield client


def answered_by(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    name: str = response.json()["replica"]
    return name


def retries(reason: str) -> float:
    labels = {"service": "payments", "reason": reason}
    return REGISTRY.get_sample_value("micro_gateway_upstream_retries_total", labels) or 0.0


async def next_and_other(
    client: httpx.AsyncClient, a: Replica, b: Replica
) -> tuple[Replica, Replica]:
    """(the replica the next request goes to first, the other): the one that did not answer
    this probe, as the round-robin alternates."""
    probe = answered_by(await client.get(WHO))
    return (b, a) if probe == a.name else (a, b)


class TestRoundRobin:
    async def test_requests_alternate_between_the_replicas(self, redis_url: str) -> None:
        async with replicas("a", "b") as (a, b), gateway_over(redis_url, a, b) as client:
            names = [answered_by(await client.get(WHO)) for _ in range(10)]
        assert names.count("a") == names.count("b") == 5
        assert all(first != second for first, second in itertools.pairwise(names))


class TestAReplicaDies:
    async def test_every_request_is_answered_by_the_survivor(self, redis_url: str) -> None:
        async with (
            replicas("a", "b") as (a, b),
            # Down for the whole test, whatever the machine's speed.
            gateway_over(redis_url, a, b, replica_down_seconds=3600) as client,
        ):
            assert {answered_by(await client.get(WHO)) for _ in range(2)} == {"a", "b"}
            a.kill()
            connect_retries = retries("connect")
            names = []
            for n in range(12):
                if n % 3 == 0:
                    response = await client.get(WHO)
                elif n % 3 == 1:
                    response = await client.post(WHO, headers={"Idempotency-Key": f"k-{n}"})
                else:
                    response = await client.post(WHO, content=b"{}")
                names.append(answered_by(response))
        assert names == ["b"] * 12
        # Refused at a once; after that a is tried last while it is down, so never again.
        assert retries("connect") == connect_retries + 1

    async def test_a_keyed_post_in_flight_is_replayed_on_the_other(self, redis_url: str) -> None:
        async with replicas("a", "b") as (a, b), gateway_over(redis_url, a, b) as client:
            dying, survivor = await next_and_other(client, a, b)
            before = retries("disconnect")
            response = await client.post(
                f"{CRASH}?replica={dying.name}",
                json={"amount": 500},
                headers={"Idempotency-Key": "pay-once"},
            )
            assert dying.died()
            assert answered_by(response) == survivor.name
            assert await survivor.hits(CRASH) == 1
            assert retries("disconnect") == before + 1
            # And the survivor takes what follows.
            assert answered_by(await client.get(WHO)) == survivor.name

    async def test_a_post_without_a_key_is_not_replayed(self, redis_url: str) -> None:
        async with replicas("a", "b") as (a, b), gateway_over(redis_url, a, b) as client:
            dying, survivor = await next_and_other(client, a, b)
            response = await client.post(f"{CRASH}?replica={dying.name}", json={"amount": 500})
            assert dying.died()
            # The dying replica may have done it: sending it again could do it twice.
            assert response.status_code == 502, response.text
            assert response.json()["error"]["code"] == "upstream_error"
            assert await survivor.hits(CRASH) == 0

    async def test_a_timeout_is_not_retried_even_for_a_get(self, redis_url: str) -> None:
        async with (
            replicas("a", "b") as (a, b),
            gateway_over(redis_url, a, b, upstream_timeout=0.5) as client,
        ):
            stuck, other = await next_and_other(client, a, b)
            response = await client.get(f"{SLOW}?replica={stuck.name}")
            assert response.status_code == 504, response.text
            assert response.json()["error"]["code"] == "upstream_timeout"
            assert await stuck.hits(SLOW) == 1
            assert await other.hits(SLOW) == 0

    async def test_every_replica_down_is_503(self, redis_url: str) -> None:
        async with replicas("a", "b") as (a, b), gateway_over(redis_url, a, b) as client:
            a.kill()
            b.kill()
            response = await client.get(WHO)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "upstream_unavailable"

    async def test_it_is_tried_again_once_restarted(self, redis_url: str) -> None:
        async with (
            replicas("a", "b") as (a, b),
            gateway_over(redis_url, a, b, replica_down_seconds=0.5) as client,
        ):
            a.kill()
            assert [answered_by(await client.get(WHO)) for _ in range(2)] == ["b", "b"]
            await a.start()
            # Polled, not timed: a takes requests again once its down mark has run out.
            for _ in range(400):  # up to 20 s, far more than the 0.5 s down mark
                if answered_by(await client.get(WHO)) == "a":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the restarted replica never got a request")
            assert await a.hits(WHO) >= 1


class TestHealth:
    async def test_ready_while_one_replica_is(self, redis_url: str) -> None:
        async with replicas("a", "b") as (a, b), gateway_over(redis_url, a, b) as client:
            a.kill()
            body = (await client.get("/health")).json()
        # The stand-in replicas answer /ready like any path; payments is the one to read.
        said = body["services"]["payments"]
        assert said.startswith("ready (1 of 2 replicas;"), said
        assert a.url in said


def test_an_unusable_list_stops_the_gateway_with_one_line() -> None:
    result = micro(
        "serve", "gateway", env={"MICRO_GATEWAY_PAYMENTS_URL": "http://127.0.0.1:1, ,http://x"}
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "payments_url" in lines[0]
    assert "item 2 of 'http://127.0.0.1:1, ,http://x' is empty" in lines[0]
