"""Redis Sentinel, as a managed Redis gives it: a master, a replica and a sentinel as real
processes. An app's client (shared/redis_url.py, from MICRO_REDIS_URL) finds the master
through the sentinel, and finds the new one after a failover with nothing lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from cli.stack.ports import free_port
from shared.outbox import ALL_STREAM
from shared.redis_url import connect
from tests.support.asgi import ServiceClient, identity_headers, serve_with_uvicorn
from tests.support.relay import assert_delivered, gateway_app, listening, new_tenant, publish
from tests.support.secrets import TEST_SECRETS

MASTER = "micro"


@dataclass
class Topology:
    master_port: int
    replica_port: int
    sentinel_port: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{MASTER}/0"


def _redis(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _ask(sentinel: aioredis.Redis, *command: str) -> Any:
    """A SENTINEL command (redis-py's execute_command is unannotated)."""
    return await sentinel.execute_command("SENTINEL", *command)  # type: ignore[no-untyped-call]


def _sentinel(conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        try:
            if await check():
                return
        except (OSError, aioredis.RedisError):
            pass
        if loop.time() > deadline:
            raise AssertionError(f"not true within {seconds} s: {check}")
        await asyncio.sleep(0.2)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
async def topology(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> AsyncIterator[Topology]:
    top = Topology(free_port(), free_port(), free_port())
    for name in ("master", "replica", "sentinel"):
        (tmp_path / name).mkdir()
    processes.append(_redis(tmp_path / "master", top.master_port))
    processes.append(
        _redis(
            tmp_path / "replica", top.replica_port, "--replicaof", "127.0.0.1", str(top.master_port)
        )
    )
    conf = tmp_path / "sentinel" / "sentinel.conf"
    conf.write_text(
        f"port {top.sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {top.master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 5000\n"
    )
    processes.append(_sentinel(conf))
    sentinel = aioredis.Redis(port=top.sentinel_port)
    replica = aioredis.Redis(port=top.replica_port)

    async def ready() -> bool:
        info = await replica.info("replication")
        known = await _ask(sentinel, "REPLICAS", MASTER)
        return info.get("master_link_status") == "up" and len(known) == 1

    try:
        await _until(ready)
        yield top
    finally:
        await sentinel.aclose()
        await replica.aclose()


async def test_the_client_finds_the_master_through_the_sentinel(topology: Topology) -> None:
    client = connect(topology.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.set("micro:probe", "1")
        info = await client.info("server")
        assert info["tcp_port"] == topology.master_port
    finally:
        await client.aclose()


async def test_after_a_failover_the_client_writes_to_the_new_master_and_nothing_is_lost(
    topology: Topology,
) -> None:
    client = connect(topology.url, socket_timeout=2, socket_connect_timeout=2)
    sentinel = aioredis.Redis(port=topology.sentinel_port)
    try:
        await client.set("micro:before", "kept")
        replica = aioredis.Redis(port=topology.replica_port)

        async def replicated() -> bool:
            return await replica.get("micro:before") == b"kept"

        await _until(replicated)
        await replica.aclose()

        async def failed_over() -> bool:
            # NOGOODSLAVE until the sentinel has heard from the replica (its INFO every
            # few seconds): asked again until it agrees.
            await _ask(sentinel, "FAILOVER", MASTER)
            return True

        await _until(failed_over)

        async def promoted() -> bool:
            _host, port = await _ask(sentinel, "GET-MASTER-ADDR-BY-NAME", MASTER)
            return int(port) == topology.replica_port

        await _until(promoted)

        async def writes_to_the_new_master() -> bool:
            # Until the sentinel has turned the old master into a replica it still takes
            # writes (Redis's own window); from then on the client's next command is
            # refused there (READONLY) and it asks the sentinel again.
            await client.set("micro:after", "written")
            info = await client.info("server")
            return bool(info["tcp_port"] == topology.replica_port)

        await _until(writes_to_the_new_master)
        assert await client.get("micro:before") == b"kept"
        assert await client.get("micro:after") == b"written"
    finally:
        await client.aclose()
        await sentinel.aclose()


async def test_a_service_runs_on_redis_through_the_sentinel(
    topology: Topology, service_client: ServiceClient
) -> None:
    """The app's one Redis client (shared/app.py) comes from the sentinel URL: /ready asks
    Redis, and what the ledger commits reaches the master's event stream."""
    async with service_client(
        "ledger", redis_url=topology.url, transaction_events=True, outbox_interval=0.05
    ) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        for code, kind in (("cash", "asset"), ("sales", "revenue")):
            made = await client.post(
                "/ledger/accounts",
                json={"name": code, "type": kind, "currency": "usd", "code": code},
                headers=identity_headers(),
            )
            assert made.status_code == 201, made.text
        posted = await client.post(
            "/ledger/transactions",
            json={
                "reference_id": "order_1",
                "entries": [
                    {"account_id": "cash", "amount": 500, "direction": "debit"},
                    {"account_id": "sales", "amount": 500, "direction": "credit"},
                ],
            },
            headers=identity_headers(),
        )
        assert posted.status_code == 201, posted.text
        master = aioredis.Redis(port=topology.master_port)
        try:

            async def streamed() -> bool:
                return bool(await master.xlen(ALL_STREAM))

            await _until(streamed)
        finally:
            await master.aclose()


async def test_the_gateway_relays_events_through_the_sentinel(topology: Topology) -> None:
    """The gateway opens three Redis clients of its own besides the app's (the relay's stream
    reader, its pub/sub hub, the credential-invalidation listener): all from the sentinel URL.
    Before, they read MICRO_REDIS_URL with redis-py's from_url, which has no sentinel scheme,
    so no event reached a `micro listen` behind a Sentinel."""
    tenant = new_tenant()
    master = aioredis.Redis(port=topology.master_port)
    try:
        async with (
            serve_with_uvicorn(gateway_app(topology.url)) as host,
            listening(host, tenant.token()) as listener,
        ):
            rows = await publish(master, tenant, 3)
            assert_delivered(await listener.events(3), rows, tenant.secret)
    finally:
        await master.aclose()


def test_an_unusable_sentinel_url_stops_the_app_at_start() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "cli", "serve", "ledger"],
        env={**os.environ, **TEST_SECRETS, "MICRO_REDIS_URL": "redis+sentinel://s0:26379"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert process.stderr.strip() == (
        "micro: ledger: redis_url: a Redis Sentinel URL names its master: "
        "redis+sentinel://HOST:PORT/MASTER"
    )
