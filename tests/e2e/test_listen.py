"""`micro listen` as a developer runs it: a real subprocess against the running stack,
forwarding to a local app that checks every signature with the public `standardwebhooks`.

Events come from the payments service's own outbox (`shared.outbox.emit` into its database,
published by its relay) or from real API calls, so they travel the whole path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from cli.stack.ports import free_port
from shared import outbox
from shared.settings import SERVICES
from tests.e2e.accounts import PASSWORD, create_key, key_headers, platform_admin, register
from tests.e2e.stack import RunningStack
from tests.support.listen import READY, Listen, receiver, wait_for_deliveries

pytestmark = pytest.mark.e2e


@dataclass
class Developer:
    stack: RunningStack
    tenant_id: str
    key: str
    env: dict[str, str]
    email: str

    def listen(self, forward_to: str, *args: str, api_base: str | None = None) -> Listen:
        base = api_base or self.stack.gateway
        return Listen(
            ["--forward-to", forward_to, "--api-key", self.key, "--api-base", base, *args],
            self.env,
        )

    def secret(self, api_base: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "listen", "--print-secret", "--api-key", self.key,
             "--api-base", api_base or self.stack.gateway],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def emit(self, count: int, type: str = "payment_intent.succeeded") -> list[str]:
        """Events written by the payments service's outbox, each in its own transaction."""
        return asyncio.run(self._emit(count, type))

    async def _emit(self, count: int, type: str) -> list[str]:
        conn = await asyncpg.connect(self.stack.dsn("payments"))
        try:
            ids = []
            for n in range(count):
                async with conn.transaction():
                    ids.append(
                        await outbox.emit(
                            conn,
                            None,
                            type=type,
                            data={"object": "test", "n": n},
                            tenant_id=self.tenant_id,
                            livemode=False,
                        )
                    )
            return ids
        finally:
            await conn.close()


@pytest.fixture
def dev(stack: RunningStack, tmp_path: Path) -> Developer:
    with stack.client() as gw:
        owner = register(gw)
        key = create_key(gw, owner)["secret"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("MICRO_API_KEY", None)
    return Developer(stack, owner.tenant_id, key, env, owner.email)


# -- a gateway of our own, to kill -------------------------------------------------------------


@dataclass
class OwnGateway:
    stack: RunningStack
    port: int
    settings: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **{k: v for k, v in self.stack.env.items() if not k.startswith("MICRO_DEV_")},
            "MICRO_REDIS_URL": f"redis://127.0.0.1:{self.stack.redis_port}/0",
            "MICRO_GATEWAY_PORT": str(self.port),
            "MICRO_GATEWAY_METRICS_PORT": str(self.metrics_port),
            **{f"MICRO_GATEWAY_{s.upper()}_URL": self.stack.url(s) for s in SERVICES},
            **{f"MICRO_GATEWAY_{k.upper()}": v for k, v in self.settings.items()},
        }
        log = open(self.stack.root / f"listen-gateway-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "gateway"], env=env, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                url = f"http://127.0.0.1:{self.metrics_port}/metrics"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@contextlib.contextmanager
def own_gateway(stack: RunningStack, **settings: str) -> Iterator[OwnGateway]:
    gateway = OwnGateway(stack, free_port(), settings)
    gateway.start()
    try:
        yield gateway
    finally:
        if gateway.process is not None and gateway.process.poll() is None:
            gateway.process.terminate()
            gateway.process.wait(15)


# -- the tests ---------------------------------------------------------------------------------


class TestListen:
    def test_a_real_payment_reaches_the_local_app_signed(self, dev: Developer) -> None:
        secret = dev.secret()
        assert secret.startswith("whsec_")
        assert dev.secret() == secret  # the same for every session of the tenant and mode
        with receiver(secret=secret) as app:
            listen = dev.listen(app.url, "-H", "X-Test: yes")
            try:
                assert listen.wait_for(READY.pattern).group(1) == secret
                with dev.stack.client() as gw:
                    created = gw.post(
                        "/payments/payment_intents",
                        json={"amount": 2000, "currency": "usd"},
                        headers=key_headers(dev.key),
                    )
                assert created.status_code in (200, 201), created.text
                [got] = wait_for_deliveries(app, 1)
                assert got.verified
                assert got.type == "payment_intent.created"
                assert json.loads(got.body)["data"]["object"]["id"] == created.json()["id"]
                assert got.headers["content-type"] == "application/json"
                assert got.headers["x-test"] == "yes"
                listen.wait_for(rf"^--> payment_intent\.created \[{got.event_id}\]$")
                listen.wait_for(rf"^<-- \[200\] POST {re.escape(app.url)} \[{got.event_id}\]$")
            finally:
                assert listen.stop() == 0

    def test_a_burst_of_1000_arrives_complete_in_order(self, dev: Developer) -> None:
        with receiver(secret=dev.secret()) as app:
            listen = dev.listen(app.url)
            try:
                listen.wait_for(READY.pattern)
                ids = dev.emit(1000)
                got = wait_for_deliveries(app, 1000, within=90)
            finally:
                assert listen.stop() == 0
        assert [r.event_id for r in got] == ids
        assert all(r.verified for r in got)

    def test_a_failed_forward_is_retried_and_reported(self, dev: Developer) -> None:
        with receiver(secret=dev.secret(), failures=2) as app:
            listen = dev.listen(app.url)
            try:
                listen.wait_for(READY.pattern)
                [event_id] = dev.emit(1)
                [got] = wait_for_deliveries(app, 1)
                listen.wait_for(rf"^<-- \[200\] POST .* \[{event_id}\]$")
            finally:
                assert listen.stop() == 0
        assert got.event_id == event_id
        assert len(app.attempts) == 3
        retries = [line for line in listen.lines if line.startswith("<-- [500]")]
        assert len(retries) == 2
        assert all("retrying in" in line for line in retries)

    def test_an_unreachable_app_is_reported_then_given_up_and_the_next_event_goes(
        self, dev: Developer
    ) -> None:
        dead = f"http://127.0.0.1:{free_port()}/webhook"
        listen = dev.listen(dead, "--timeout", "2")
        try:
            listen.wait_for(READY.pattern)
            first, second = dev.emit(2)
            listen.wait_for(rf"^<-- \[ERR\] POST .* \[{first}\] connection refused; gave up")
            listen.wait_for(rf"^<-- \[ERR\] POST .* \[{second}\] connection refused; gave up")
        finally:
            assert listen.stop() == 0
        assert sum(first in line and "[ERR]" in line for line in listen.lines) == 4
        assert sum("retrying in" in line for line in listen.lines) == 6

    def test_type_filter_and_json_format(self, dev: Developer) -> None:
        with receiver(secret=dev.secret()) as app:
            listen = dev.listen(app.url, "--events", "refund.*", "--format", "json")
            try:
                listen.wait_for(READY.pattern)
                dev.emit(2, "payment_intent.succeeded")
                [refund] = dev.emit(1, "refund.created")
                [got] = wait_for_deliveries(app, 1)
                line = json.loads(listen.wait_for(r'^\{"stream_id"').string)
            finally:
                assert listen.stop() == 0
        assert got.event_id == refund
        assert line["id"] == refund
        assert line["type"] == "refund.created"
        assert line["forward"]["status"] == 200
        assert line["event"]["id"] == refund
        assert not any(x.startswith("-->") for x in listen.lines)

    def test_ctrl_c_exits_0_at_once(self, dev: Developer) -> None:
        listen = dev.listen("http://127.0.0.1:9/webhook")
        listen.wait_for(READY.pattern)
        started = time.monotonic()
        listen.process.send_signal(signal.SIGINT)
        assert listen.process.wait(10) == 0
        assert time.monotonic() - started < 5
        assert listen.stop() == 0

    def test_unreachable_gateway_and_bad_key_are_one_line_and_exit_1(self, dev: Developer) -> None:
        down = Listen(
            ["--forward-to", "http://127.0.0.1:9/", "--api-key", dev.key,
             "--api-base", f"http://127.0.0.1:{free_port()}"],
            dev.env,
        )  # fmt: skip
        assert down.process.wait(30) == 1
        down.stop()
        assert len(down.lines) == 1
        assert "unreachable" in down.output
        bad = Listen(
            ["--forward-to", "http://127.0.0.1:9/", "--api-key", "sk_test_" + "0" * 40,
             "--api-base", dev.stack.gateway],
            dev.env,
        )  # fmt: skip
        assert bad.process.wait(30) == 1
        bad.stop()
        assert len(bad.lines) == 1
        assert "Invalid API key" in bad.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            ([], "--forward-to is required"),
            (["--forward-to", "localhost:4242/webhook"], "needs an http:// or https:// URL"),
            (["--forward-to", "http://127.0.0.1:9/", "-H", "no colon"], 'use "Key: Value"'),
            (["--forward-to", "http://127.0.0.1:9/", "--events", "Bad Type"], "bad event type"),
        ],
    )
    def test_bad_options_are_one_line_and_exit_1(
        self, dev: Developer, args: list[str], message: str
    ) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "listen", *args,
             "--api-key", dev.key, "--api-base", dev.stack.gateway],
            env=dev.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

    def test_live_needs_a_live_credential(self, dev: Developer) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "listen", "--print-secret", "--live",
             "--api-key", dev.key, "--api-base", dev.stack.gateway],
            env=dev.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert "test-mode API key cannot listen to live-mode events" in done.stderr

    def test_after_micro_login_the_profile_is_used(self, dev: Developer) -> None:
        login = subprocess.run(
            [sys.executable, "-m", "cli", "login", "--email", dev.email, "--password-stdin",
             "--api-base", dev.stack.gateway],
            input=PASSWORD + "\n", env=dev.env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert login.returncode == 0, login.stderr

        def listen(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "cli", "listen", "--print-secret", *args],
                env=dev.env, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        def secret(*args: str) -> str:
            done = listen(*args)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        # The profile's own test key and the key made earlier: the same tenant, one secret.
        assert secret() == dev.secret()
        # Live mode is off until a platform admin turns it on.
        refused = listen("--live")
        assert refused.returncode == 1
        assert "Live mode is not enabled" in refused.stderr
        with dev.stack.client() as gw:
            enabled = gw.post(
                f"/auth/tenants/{dev.tenant_id}/live_mode",
                json={"enabled": True},
                headers=platform_admin(gw).headers,
            )
            assert enabled.status_code == 200, enabled.text
        time.sleep(1)  # the gateway evicts the "off" it cached within a second
        # --live goes through the signed-in admin's session: the live secret, another one.
        live = secret("--live")
        assert live.startswith("whsec_")
        assert live != dev.secret()

    def test_no_profile_says_to_log_in(self, dev: Developer) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "listen", "--forward-to", "http://127.0.0.1:9/"],
            env=dev.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert "micro login" in done.stderr


class TestResume:
    def test_kill_9_and_restart_the_gateway_while_events_are_produced(self, dev: Developer) -> None:
        with own_gateway(dev.stack) as gateway, receiver(secret=dev.secret()) as app:
            listen = dev.listen(app.url, api_base=gateway.url)
            produced: list[str] = []
            try:
                listen.wait_for(READY.pattern)
                producer = threading.Thread(target=lambda: produced.extend(_trickle(dev, 150)))
                producer.start()
                time.sleep(0.5)
                gateway.kill()
                time.sleep(1.0)
                gateway.start()
                producer.join(60)
                got = wait_for_deliveries(app, len(produced), within=60)
                listen.wait_for(r"^Connection lost")
                listen.wait_for(r"^Reconnected; resuming after \d+-\d+")
            finally:
                assert listen.stop() == 0
        assert len(produced) == 150
        assert [r.event_id for r in got] == produced
        assert all(r.verified for r in got)

    def test_a_slow_local_app_is_dropped_with_the_reason_and_loses_nothing(
        self, dev: Developer
    ) -> None:
        with (
            own_gateway(dev.stack, relay_window_events="5", relay_slow_seconds="1") as gateway,
            receiver(secret=dev.secret(), delay=1.5, slow_requests=2) as app,
        ):
            listen = dev.listen(app.url, api_base=gateway.url)
            try:
                listen.wait_for(READY.pattern)
                ids = dev.emit(20)
                got = wait_for_deliveries(app, 20, within=60)
                listen.wait_for(r"listener too slow: resume from last acknowledged event")
            finally:
                assert listen.stop() == 0
        assert [r.event_id for r in got] == ids

    def test_a_redis_restart_loses_nothing(self, dev: Developer, tmp_path: Path) -> None:
        """The stack's own Redis cannot be restarted alone (the stack stops when a child
        exits), so this gateway runs on a Redis of its own, and events go into it as a
        service's outbox relay puts them (`outbox.publish`)."""
        with (
            own_redis(tmp_path) as redis,
            own_gateway(dev.stack, redis_url=redis.url) as gateway,
            receiver(secret=dev.secret()) as app,
        ):
            listen = dev.listen(app.url, api_base=gateway.url)
            try:
                listen.wait_for(READY.pattern)
                before = _publish(redis.url, dev.tenant_id, 5)
                wait_for_deliveries(app, 5)
                redis.restart()
                after = _publish(redis.url, dev.tenant_id, 5)
                got = wait_for_deliveries(app, 10)
            finally:
                assert listen.stop() == 0
        assert [r.event_id for r in got] == before + after
        assert all(r.verified for r in got)


@dataclass
class OwnRedis:
    argv: list[str]
    url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(redis.RedisError):
                    client.ping()
                    return
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis finishes its append-only file
            self.process.wait(15)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def own_redis(root: Path) -> Iterator[OwnRedis]:
    from cli.stack.binaries import ensure_binaries
    from cli.stack.redis import RedisServer

    server = RedisServer(data_dir=root / "redis", port=free_port(), binaries=ensure_binaries())
    # Every write on disk before it is acknowledged: the restart must not lose the stream.
    redis = OwnRedis([*server.command(), "--appendfsync", "always"], server.url)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def _publish(redis_url: str, tenant_id: str, count: int) -> list[str]:
    import redis.asyncio as aioredis

    from shared.ids import new_id

    async def publish() -> list[str]:
        client = aioredis.Redis.from_url(redis_url)
        rows: list[dict[str, Any]] = []
        for n in range(count):
            event_id = new_id("evt")
            payload = outbox.encode_event(
                event_id=event_id,
                type="payment_intent.succeeded",
                tenant_id=tenant_id,
                livemode=False,
                data={"n": n},
                request_id=None,
                idempotency_key=None,
            )
            rows.append(
                {
                    "event_id": event_id,
                    "type": "payment_intent.succeeded",
                    "tenant_id": tenant_id,
                    "livemode": False,
                    "payload": payload,
                }
            )
        try:
            await outbox.publish(client, rows, retention_seconds=7 * 86400)
        finally:
            await client.aclose()
        return [row["event_id"] for row in rows]

    return asyncio.run(publish())


def _trickle(dev: Developer, count: int) -> list[str]:
    """`count` events at about 100 a second, each committed on its own."""
    ids: list[str] = []
    for _ in range(count // 10):
        ids += dev.emit(10)
        time.sleep(0.1)
    return ids
