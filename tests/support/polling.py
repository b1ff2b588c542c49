"""Waiting, in a test, for something a background process will do: a deadline, never a
timing (an assertion that fails only when the thing never happens)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

# What to say when the deadline passes: a fixed phrase, or a function read only then (the
# state at that moment, a process's log) so a passing test never builds it.
What = str | Callable[[], str]


def _said(what: What) -> str:
    return what if isinstance(what, str) else what()


def eventually(check: Callable[[], T | None], *, within: float = 60, what: What = "it") -> T:
    """`check()`'s first truthy answer; fails saying `what` (what was awaited, or
    the state to show) if none came `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {within:g} s: {_said(what)}"
        time.sleep(0.1)


@overload
async def until(
    check: Callable[[], Awaitable[T | None]], *, within: float = ..., what: What = ...
) -> T: ...
@overload
async def until(check: Callable[[], T | None], *, within: float = ..., what: What = ...) -> T: ...
async def until(check: Callable[[], Any], *, within: float = 30, what: What = "it") -> Any:
    """`eventually` on the event loop, never blocking it: `check` may be a coroutine function
    or a plain one reading what an in-process task (a fake provider) changes."""
    deadline = time.monotonic() + within
    while True:
        answer = check()
        found = await answer if inspect.isawaitable(answer) else answer
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {within:g} s: {_said(what)}"
        await asyncio.sleep(0.05)
