"""Open `/cli/listen` sockets close when their credential, session or tenant ends (4403),
within a second.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

from services.auth.settings import DEV_ADMIN_EMAIL
from tests.support.relay import (
    Listener,
    Stack,
    Tenant,
    assert_delivered,
    bearer,
    enable_live_mode,
    error_of,
    listening,
    owner,
    publish,
)
from tests.support.secrets import TEST_ADMIN_PASSWORD

# -- sockets closed when their credential or tenant ends ------------------------------------


async def new_key(client: httpx.AsyncClient, access_token: str, environment: str = "test") -> Key:
    response = await client.post(
        "/auth/api_keys", json={"environment": environment}, headers=bearer(access_token)
    )
    assert response.status_code == 201, response.text
    return Key(response.json()["id"], response.json()["secret"])


@dataclass
class Key:
    id: str
    secret: str


async def cli_session(client: httpx.AsyncClient, credential: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/cli/sessions", headers=bearer(credential), json=body)
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()
    return session


async def closes_within(listener: Listener, seconds: float = 1.0) -> tuple[int, str]:
    began = time.monotonic()
    code, reason = await listener.closed(timeout=seconds)
    assert time.monotonic() - began < seconds
    return code, reason


async def still_open(listener: Listener, redis: aioredis.Redis, tenant: Tenant) -> None:
    rows = await publish(redis, tenant)
    assert_delivered(await listener.events(1), rows, tenant.secret)


async def platform_admin_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/auth/admin", json={"email": DEV_ADMIN_EMAIL, "password": TEST_ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


class TestClosedWhenTheCredentialEnds:
    async def test_revoking_a_key_closes_its_sockets_within_a_second(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        tenant = Tenant(who["user"]["tenant_id"])
        doomed, other = (
            await new_key(client, who["access_token"]),
            await new_key(client, who["access_token"]),
        )
        session = await cli_session(client, doomed.secret)
        async with (
            listening(with_auth.host, session["websocket_token"]) as first,
            listening(with_auth.host, session["websocket_token"]) as second,
            listening(
                with_auth.host, (await cli_session(client, other.secret))["websocket_token"]
            ) as bystander,
        ):
            revoked = await client.delete(
                f"/auth/api_keys/{doomed.id}", headers=bearer(who["access_token"])
            )
            assert revoked.status_code == 200
            for listener in (first, second):
                assert await closes_within(listener) == (
                    4403,
                    "api_key_revoked: this API key was revoked",
                )
            # Another key of the same tenant keeps its socket.
            await still_open(bystander, redis, tenant)
        # The token handed out before the revocation opens nothing any more.
        async with listening(with_auth.host, session["websocket_token"], ready=False) as late:
            code, reason = await closes_within(late)
        assert code == 4403
        assert reason.startswith("revoked:")

    async def test_signing_out_closes_the_sessions_sockets(self, with_auth: Stack) -> None:
        client = with_auth.client
        who = await owner(client)
        session = await cli_session(client, who["access_token"])
        async with listening(with_auth.host, session["websocket_token"]) as listener:
            out = await client.post("/auth/logout", headers=bearer(who["access_token"]))
            assert out.status_code == 200, out.text
            assert await closes_within(listener) == (
                4403,
                "session_ended: this session was signed out",
            )

    async def test_disabling_the_tenant_closes_every_socket_of_it(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who, neighbour = await owner(client), await owner(client)
        key = await new_key(client, who["access_token"])
        theirs = await new_key(client, neighbour["access_token"])
        by_key = await cli_session(client, key.secret)
        by_session = await cli_session(client, who["access_token"])
        async with (
            listening(with_auth.host, by_key["websocket_token"]) as one,
            listening(with_auth.host, by_session["websocket_token"]) as two,
            listening(
                with_auth.host, (await cli_session(client, theirs.secret))["websocket_token"]
            ) as other_tenant,
        ):
            admin = bearer(await platform_admin_token(client))
            deleted = await client.delete(f"/tenants/{who['user']['tenant_id']}", headers=admin)
            assert deleted.status_code == 200, deleted.text
            for listener in (one, two):
                assert await closes_within(listener) == (
                    4403,
                    "tenant_disabled: this tenant was disabled",
                )
            await still_open(other_tenant, redis, Tenant(neighbour["user"]["tenant_id"]))

    async def test_switching_live_mode_off_closes_the_live_sockets_only(
        self, with_auth: Stack, redis: aioredis.Redis
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        tenant_id = who["user"]["tenant_id"]
        await enable_live_mode(client, tenant_id)
        live_key = await new_key(client, who["access_token"], "live")
        live = await cli_session(client, live_key.secret)
        by_admin = await cli_session(client, who["access_token"], livemode=True)
        test = await cli_session(client, (await new_key(client, who["access_token"])).secret)
        async with (
            listening(with_auth.host, live["websocket_token"]) as live_one,
            listening(with_auth.host, by_admin["websocket_token"]) as live_two,
            # (auth's own tenant.updated event reaches the test stream too)
            listening(
                with_auth.host, test["websocket_token"], events="payment_intent.*"
            ) as test_one,
        ):
            await still_open(live_one, redis, Tenant(tenant_id, livemode=True))
            await enable_live_mode(client, tenant_id, enabled=False)
            for listener in (live_one, live_two):
                assert await closes_within(listener) == (
                    4403,
                    "live_mode_disabled: live mode is not enabled for this tenant",
                )
            await still_open(test_one, redis, Tenant(tenant_id))
        # A live token from before opens nothing now, and no new session is handed out.
        async with listening(with_auth.host, live["websocket_token"], ready=False) as late:
            assert (await closes_within(late))[0] == 4403
        refused = await client.post("/cli/sessions", headers=bearer(live_key.secret))
        assert error_of(refused)["code"] == "live_mode_disabled"

    async def test_micro_listen_prints_the_reason_and_exits_1(
        self, with_auth: Stack, tmp_path: Path
    ) -> None:
        client = with_auth.client
        who = await owner(client)
        key = await new_key(client, who["access_token"])
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "NO_COLOR": "1"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "listen", "--api-key", key.secret,
            "--api-base", f"http://{with_auth.host}", "--forward-to", "http://127.0.0.1:9/hook",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.startswith(b"Ready!"), line
            revoked = await client.delete(
                f"/auth/api_keys/{key.id}", headers=bearer(who["access_token"])
            )
            assert revoked.status_code == 200
            _, stderr = await asyncio.wait_for(process.communicate(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 1
        assert stderr.decode().strip() == (
            "micro: the gateway closed the connection (4403): "
            "api_key_revoked: this API key was revoked"
        )
