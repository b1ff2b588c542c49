"""Small asyncio helpers the background loops share."""

from __future__ import annotations

import asyncio


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
