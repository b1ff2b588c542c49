"""A throwaway whole stack for a benchmark, on free ports, via the `micro dev up` code."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import httpx

from cli.stack.config import DevSettings
from cli.stack.ports import free_port
from cli.stack.stack import Stack
from shared import secrets
from shared.identity import Identity, mint
from shared.settings import APPS, SERVICES
from tests.support.servers import scratch_dir


@contextlib.asynccontextmanager
async def bench_stack(env: Mapping[str, str], *, durable: bool = True) -> AsyncIterator[Stack]:
    """`env` are extra MICRO_* settings for the apps (e.g. a high gateway rate limit).

    Durable by default (fsync on, as in production), so figures are not flattered."""
    previous = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with scratch_dir("micro-bench-") as root:
            settings = DevSettings(
                dir=root / ".micro",
                http_ports={app: free_port() for app in APPS},
                db_ports={service: free_port() for service in SERVICES},
                redis_port=free_port(),
                metrics_port=free_port(),
                ephemeral=not durable,
            )
            stack = Stack(settings, echo=False)
            await stack.start()
            try:
                yield stack
            finally:
                await stack.stop()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True, slots=True)
class Tenant:
    """A registered tenant with a test-mode key, and an identity a service accepts directly."""

    tenant_id: str
    secret: str
    direct_headers: dict[str, str]

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


# Benchmarks push the gateway and bcrypt out of the way of what they measure.
BENCH_ENV = {
    "MICRO_GATEWAY_RATE_LIMIT": "1000000000",
    "MICRO_AUTH_BCRYPT_ROUNDS": "4",
    "MICRO_LOG_LEVEL": "WARNING",
}


def urls(stack: Stack) -> dict[str, str]:
    return {app: f"http://127.0.0.1:{port}" for app, port in stack.settings.http_ports.items()}


async def onboard(stack: Stack) -> Tenant:
    """Register and make a key through the gateway, as a user would."""
    async with httpx.AsyncClient(base_url=urls(stack)["gateway"], timeout=60) as client:
        owner = (
            await client.post(
                "/auth/register",
                json={"email": f"bench-{time.time_ns()}@example.com", "password": "benchmark1"},
            )
        ).json()
        key = (
            await client.post(
                "/auth/api_keys",
                json={"environment": "test"},
                headers={"Authorization": f"Bearer {owner['access_token']}"},
            )
        ).json()["secret"]
    tenant_id = owner["user"]["tenant_id"]
    identity = Identity(principal="key_bench", principal_type="api_key", tenant_id=tenant_id)
    # Signed with the stack's own identity key (generated in its .micro/secrets.env).
    signing_key = stack.secrets()[secrets.IDENTITY.env].split(",")[0]
    token = mint(identity, signing_key, ttl=3600)
    return Tenant(tenant_id, key, {"X-Micro-Identity": token})
