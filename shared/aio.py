"""Small asyncio helpers the background loops share."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("micro.aio")


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; True if it was set.

    Not `asyncio.wait_for(event.wait(), ...)`: on Python 3.11 a cancellation that arrives
    just as the event fires is swallowed (CPython gh-86296, fixed in 3.12), so a background
    loop built on it can survive its own shutdown and hang the process that stops it.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def stop(*tasks: asyncio.Task[Any], every: float = 0.5) -> None:
    """Cancel background `tasks` and wait until each has ended, cancelling again while one
    lingers.

    On Python 3.11 a cancellation can be absorbed by a timeout inside a driver call that
    expires at the same moment (redis-py's blocking reads, asyncpg's queries); the loop then
    runs on. The next cancellation lands at its next await, so asking again ends it.
    """
    for task in tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=every)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())
