"""`micro listen --signature stripe|standard` as a real subprocess against a real gateway (and
auth behind it) on free ports: each forward arrives signed the chosen way and the local app
verifies it with that scheme's own library (stripe-python's `construct_event`, or
`standardwebhooks`); the option's bad values; `--print-secret` is unchanged by it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
import stripe
from typer.testing import CliRunner

from cli.apps import app_factory, settings_class
from cli.main import app
from tests.support.asgi import serve_with_uvicorn
from tests.support.listen import READY, Listen, Received, Receiver, receiver, wait_for_deliveries
from tests.support.relay import Stack, Tenant, api_key, gateway_app, owner, publish
from tests.support.secrets import TEST_SECRET_FIELDS
from tests.support.servers import CreateDb


@pytest.fixture
async def stack(create_db: CreateDb, redis_url: str) -> AsyncIterator[Stack]:
    auth_settings = settings_class("auth").model_validate(
        {
            "redis_url": redis_url,
            "database_url": await create_db("auth"),
            "bcrypt_rounds": 4,
            **TEST_SECRET_FIELDS,
        }
    )
    async with serve_with_uvicorn(app_factory("auth")(auth_settings)) as auth_host:
        auth_url = f"http://{auth_host}"
        async with (
            serve_with_uvicorn(gateway_app(redis_url, auth_url=auth_url)) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as client,
        ):
            yield Stack(host, client, auth_url, redis_url)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("MICRO_API_KEY", None)
    return env


async def developer(stack: Stack) -> tuple[Tenant, str]:
    """A new tenant and a test API key of its."""
    who = await owner(stack.client)
    return Tenant(who["user"]["tenant_id"]), await api_key(stack.client, who["access_token"])


async def forwarded(
    stack: Stack,
    redis: aioredis.Redis,
    app: Receiver,
    tmp_path: Path,
    *options: str,
    count: int = 2,
) -> list[Received]:
    """`micro listen` with `options` forwarding `count` new events of a new tenant to `app`,
    which verifies with the secret of the Ready line."""
    tenant, key = await developer(stack)
    args = ["--forward-to", app.url, "--api-key", key, "--api-base", f"http://{stack.host}"]
    listen = Listen([*args, *options], cli_env(tmp_path))
    try:
        # The gateway runs in this event loop: wait in threads, never block it.
        ready = await asyncio.to_thread(listen.wait_for, READY.pattern)
        app.secret = ready.group(1)
        rows = await publish(redis, tenant, count)
        got = await asyncio.to_thread(wait_for_deliveries, app, count)
    finally:
        assert listen.stop() == 0
    assert [r.event_id for r in got] == [row["event_id"] for row in rows]
    assert [r.body for r in got] == [row["payload"].encode() for row in rows]
    return got


class TestSignature:
    async def test_stripe_the_sdks_verifier_accepts_every_forward(
        self, stack: Stack, redis: aioredis.Redis, tmp_path: Path
    ) -> None:
        with receiver(signature="stripe", failures=1) as app:
            got = await forwarded(stack, redis, app, tmp_path, "--signature", "stripe")
            attempts = list(app.attempts)
        assert all(r.verified for r in got)
        for delivery in got:
            assert "webhook-signature" not in delivery.headers
            header = delivery.headers["stripe-signature"]
            assert header.count("v1=") == 1
            event = stripe.Webhook.construct_event(delivery.body, header, app.secret)
            assert isinstance(event, stripe.Event)
            assert event.id == delivery.event_id
        # The first forward failed (500) and was retried, signed again.
        assert not attempts[0].ok
        assert attempts[0].verified
        assert attempts[1].event_id == attempts[0].event_id
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(
                got[0].body, got[0].headers["stripe-signature"], "whsec_" + "B" * 44
            )

    async def test_standard_is_the_default_and_unchanged(
        self, stack: Stack, redis: aioredis.Redis, tmp_path: Path
    ) -> None:
        with receiver() as app:
            got = await forwarded(stack, redis, app, tmp_path, count=1)
        assert got[0].verified
        assert got[0].headers["webhook-id"] == got[0].event_id
        assert "stripe-signature" not in got[0].headers
        with receiver() as app:
            named = await forwarded(stack, redis, app, tmp_path, "--signature", "standard", count=1)
        assert named[0].verified
        assert "stripe-signature" not in named[0].headers

    async def test_a_standard_listener_does_not_pass_a_stripe_verifier(
        self, stack: Stack, redis: aioredis.Redis, tmp_path: Path
    ) -> None:
        # The app expects Stripe's header: without `--signature stripe` what arrives does not
        # verify (the option is what makes the difference).
        with receiver(signature="stripe") as app:
            tenant, key = await developer(stack)
            args = ["--forward-to", app.url, "--api-key", key, "--api-base", f"http://{stack.host}"]
            listen = Listen(args, cli_env(tmp_path))
            try:
                app.secret = (await asyncio.to_thread(listen.wait_for, READY.pattern)).group(1)
                await publish(redis, tenant, 1)
                [got] = await asyncio.to_thread(wait_for_deliveries, app, 1)
            finally:
                assert listen.stop() == 0
            assert not got.verified
            assert "stripe-signature" not in got.headers

    async def test_print_secret_is_the_same_whatever_the_scheme(
        self, stack: Stack, tmp_path: Path
    ) -> None:
        _, key = await developer(stack)

        def secret(*options: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "cli", "listen", "--print-secret", "--api-key", key,
                 "--api-base", f"http://{stack.host}", *options],
                env=cli_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        plain = await asyncio.to_thread(secret)
        assert plain.startswith("whsec_")
        assert await asyncio.to_thread(secret, "--signature", "stripe") == plain


class TestBadOption:
    @pytest.mark.parametrize("value", ["hmac", "Stripe", ""])
    def test_an_unknown_scheme_is_refused_before_connecting(self, value: str) -> None:
        result = CliRunner().invoke(
            app,
            ["listen", "--forward-to", "http://127.0.0.1:9/x", "--api-key", "sk_test_x",
             "--api-base", "http://127.0.0.1:9", "--signature", value],
        )  # fmt: skip
        assert result.exit_code == 2
        assert "--signature" in result.output
        assert "Ready" not in result.output
