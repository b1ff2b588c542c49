"""shared.internal_client over two replicas of a service (real processes,
tests/support/stand_in.py): each attempt to the next replica, a refused one skipped without
the backoff, a replay on the other only when it is safe, none after a timeout, and the dead
replica back once it restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.wallet.settings import WalletSettings
from shared.internal_client import CallPolicy, Scope, Unavailable, Upstream, open_internal_client
from tests.support.stand_in import Replica, replicas

KEY = "internal-balancing-test-signing-key-0123456789abcdef"
SCOPE = Scope("ten_replicas", False)


@dataclass(frozen=True, slots=True)
class Recorded(CallPolicy):
    """The process's policy, remembering after which attempts it was asked to back off (and
    not waiting: the test reads where the attempts went, not how long they took)."""

    waits: list[int] = field(default_factory=list)

    def delay(self, attempt: int) -> float:
        self.waits.append(attempt)
        return 0.0


def policy(*, attempts: int = 3, timeout: float = 5.0) -> Recorded:
    return Recorded(
        timeout=timeout, connect_timeout=2.0, attempts=attempts, backoff=0.0, backoff_max=0.0
    )


@contextlib.asynccontextmanager
async def upstream_over(*behind: Replica, **values: object) -> AsyncIterator[Upstream]:
    settings = WalletSettings.model_validate({"identity_keys": [KEY], **values})
    async with open_internal_client(settings) as client:
        yield client.upstream("far", ",".join(replica.url for replica in behind))


class TestRoundRobin:
    async def test_calls_alternate_between_the_replicas(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            names = [(await far.call("GET", "/who", SCOPE)).body["replica"] for _ in range(6)]
        assert names == ["a", "b"] * 3


class TestAReplicaDies:
    async def test_a_refused_replica_is_skipped_without_backing_off(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            a.kill()
            calls = [policy() for _ in range(4)]
            names = [
                (await far.call("POST", "/who", SCOPE, body={}, policy=p)).body["replica"]
                for p in calls
            ]
        assert names == ["b"] * 4
        # The first call was refused at a and went straight on to b; a is tried last after.
        assert [p.waits for p in calls] == [[], [], [], []]

    async def test_once_every_replica_was_refused_the_backoff_is_back(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            a.kill()
            b.kill()
            recorded = policy(attempts=3)
            with pytest.raises(Unavailable):
                await far.call("GET", "/who", SCOPE, policy=recorded)
        # a refused, straight on to b; b refused, nothing left untried: back off; a again.
        assert recorded.waits == [2]

    async def test_a_keyed_call_in_flight_is_replayed_on_the_other(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            answer = await far.call(
                "POST", "/crash", SCOPE, body={}, params={"replica": "a"},
                idempotency_key="k-1", policy=policy(attempts=2),
            )  # fmt: skip
            assert a.died()
            assert answer.body["replica"] == "b"
            assert await b.hits("/crash") == 1

    async def test_an_unkeyed_post_in_flight_is_not_sent_to_the_other(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            with pytest.raises(Unavailable):
                await far.call(
                    "POST", "/crash", SCOPE, body={}, params={"replica": "a"},
                    policy=policy(attempts=2),
                )  # fmt: skip
            assert a.died()
            # Its second attempt went where the first was (and found it gone), not to b.
            assert await b.hits("/crash") == 0

    async def test_a_timeout_is_asked_again_of_the_same_replica(self) -> None:
        async with replicas("a", "b") as (a, b), upstream_over(a, b) as far:
            with pytest.raises(Unavailable, match=r"no answer in 0\.3s"):
                await far.call(
                    "GET", "/slow", SCOPE, params={"replica": "a"},
                    policy=policy(attempts=2, timeout=0.3),
                )  # fmt: skip
            assert await a.hits("/slow") == 2
            assert await b.hits("/slow") == 0

    async def test_it_is_called_again_once_restarted(self) -> None:
        async with (
            replicas("a", "b") as (a, b),
            upstream_over(a, b, replica_down_seconds=0.5) as far,
        ):
            a.kill()
            assert (await far.call("GET", "/who", SCOPE)).body["replica"] == "b"
            await a.start()
            # Polled, not timed: a takes calls again once its down mark has run out.
            for _ in range(400):  # up to 20 s, far more than the 0.5 s down mark
                if (await far.call("GET", "/who", SCOPE)).body["replica"] == "a":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the restarted replica never got a call")
