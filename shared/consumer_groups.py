"""What every Redis consumer group in Micro does besides reading: forgetting its dead.

Each replica joins a group under a name of its own (a restart is a new name), and takes over
what a silent member held (XAUTOCLAIM). A member that holds nothing and has been silent for
long is a process that is gone: removing it keeps the group from growing with every restart.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


async def forget_departed(
    redis: aioredis.Redis, stream: str, group: str, *, me: str, silent_ms: int
) -> list[str]:
    """Remove the members other than `me` that hold no entry and were idle `silent_ms`;
    their names."""
    members: Any = await redis.xinfo_consumers(stream, group)
    gone = []
    for member in members:
        name = member["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        if name != me and member["pending"] == 0 and member["idle"] >= silent_ms:
            await redis.xgroup_delconsumer(stream, group, name)
            gone.append(name)
    return gone
