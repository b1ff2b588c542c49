"""A Redis server of our own, run in the foreground."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cli.stack.binaries import Binaries
from cli.stack.errors import StackError


@dataclass(slots=True)
class RedisServer:
    data_dir: Path
    port: int
    binaries: Binaries
    persistent: bool = True
    name: str = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(self.binaries.redis_server),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--loglevel", "warning",
        ]  # fmt: skip

    async def wait_ready(self, process: asyncio.subprocess.Process, within: float = 30) -> None:
        client = aioredis.Redis.from_url(self.url)
        deadline = asyncio.get_running_loop().time() + within
        try:
            while True:
                if process.returncode is not None:
                    raise StackError(f"redis exited with code {process.returncode} during start-up")
                try:
                    await client.ping()
                    return
                except (RedisError, OSError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise StackError(f"redis did not answer within {within:.0f}s") from None
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()
