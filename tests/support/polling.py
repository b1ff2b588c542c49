"""Waiting, in a test, for something a background process will do: a deadline, never a
timing (an assertion that fails only when the thing never happens)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, within: float = 60, what: str = "it") -> T:
    """`check()`'s first truthy answer; fails naming `what` if none came `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)
