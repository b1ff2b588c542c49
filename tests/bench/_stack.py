"""A throwaway whole stack for a benchmark, on free ports, via the `micro dev up` code."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from cli.stack.config import DevSettings
from cli.stack.ports import free_port
from cli.stack.stack import Stack
from shared.settings import APPS, SERVICES
from tests.support.servers import scratch_dir


@contextlib.asynccontextmanager
async def bench_stack(*, durable: bool = True, **env: str) -> AsyncIterator[Stack]:
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
