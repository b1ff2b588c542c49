"""Redis from one URL, the way every Micro app opens it: `redis://`, `rediss://`, `unix://`
(redis-py's own schemes), and Redis Sentinel, which redis-py speaks but has no URL for:

    redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]

The sentinels are asked where MASTER is; after a failover the client finds the new master
by itself (a connection to the old one is dropped and the sentinels asked again). The
password is the master's; sentinels that want one of their own are not supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "redis+sentinel://"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel(url: str) -> SentinelUrl | None:
    """The parts of a `redis+sentinel://` URL; None for any other scheme. ValueError, naming
    what is wrong, for a sentinel URL that cannot be used."""
    if not url.startswith(SENTINEL_SCHEME):
        return None
    rest = url.removeprefix(SENTINEL_SCHEME)
    userinfo, at, rest = rest.rpartition("@")
    if not at:
        userinfo = ""
    hosts, _, path = rest.partition("/")
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise ValueError("a Redis Sentinel URL names its master: redis+sentinel://HOST:PORT/MASTER")
    sentinels = []
    for host in hosts.split(","):
        name, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
        if not name or (colon and not port.isdigit()):
            raise ValueError(f"a Redis Sentinel URL has an unusable sentinel address: {host!r}")
        sentinels.append((name, int(port) if port else DEFAULT_SENTINEL_PORT))
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError(f"a Redis Sentinel URL's database is a number, not {parts[1]!r}")
    username, _, password = userinfo.partition(":")
    return SentinelUrl(
        sentinels=tuple(sentinels),
        master=unquote(parts[0]),
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


class _MasterClient(aioredis.Redis):
    """The master's client, which closes the sentinel connections it asked through too
    (redis-py leaves those to whoever made the Sentinel)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        if isinstance(self.connection_pool, SentinelConnectionPool):
            await self.connection_pool.sentinel_manager.aclose()


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for `url`; `options` are redis-py's (timeouts, retry, health checks)."""
    sentinel = parse_sentinel(url)
    if sentinel is None:
        return aioredis.Redis.from_url(url, **options)
    # The sentinels answer with the same timeouts as the master, never longer.
    manager = Sentinel(  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        list(sentinel.sentinels),
        sentinel_kwargs={k: v for k, v in options.items() if k.startswith("socket_")},
    )
    client: aioredis.Redis = manager.master_for(
        sentinel.master,
        redis_class=_MasterClient,
        db=sentinel.db,
        username=sentinel.username,
        password=sentinel.password,
        **options,
    )
    return client
