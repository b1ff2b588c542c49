"""When the local stack restarts a child that exited, and when it calls that a crash loop.

Pure: the supervisor tells a child's `RestartPolicy` when it started, became ready and
exited, and the policy answers with how long to wait before the next start. As compose's
`restart: unless-stopped` with Docker's own backoff: the wait doubles from `first_delay` up
to `max_delay`, and starts over once the child has stayed up `stable_after` seconds. A child
that restarts `loop_restarts` times within `loop_window`, or exits during start-up (before it
answered ready) `loop_start_failures` times in a row, is in a crash loop: it is still
restarted, every `max_delay`, and said so, never hidden.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RestartRules:
    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 60.0
    loop_restarts: int = 5
    loop_window: float = 60.0
    loop_start_failures: int = 3


@dataclass(frozen=True, slots=True)
class Restart:
    """The answer to one exit: the restart's number (1 for the first), the seconds to wait
    before it, and why the child is in a crash loop (None when it is not)."""

    number: int
    delay: float
    crash_loop: str | None


@dataclass(slots=True)
class RestartPolicy:
    rules: RestartRules = field(default_factory=RestartRules)
    clock: Callable[[], float] = time.monotonic
    restarts: int = 0
    crash_loop: str | None = None
    _attempt: int = 0
    _started: float | None = None
    _ready: bool = False
    _start_failures: int = 0
    _recent: deque[float] = field(default_factory=deque)

    def started(self) -> None:
        self._started = self.clock()
        self._ready = False

    def ready(self) -> None:
        self._ready = True

    def settle(self) -> bool:
        """Forget past failures if the child has stayed up long enough; True if that ended
        a crash loop (the supervisor then says so and records it)."""
        if self._started is None or self.clock() - self._started < self.rules.stable_after:
            return False
        self._attempt = 0
        self._start_failures = 0
        self._recent.clear()
        ended = self.crash_loop is not None
        self.crash_loop = None
        return ended

    def exited(self) -> Restart:
        now = self.clock()
        self.settle()
        self._start_failures = 0 if self._ready else self._start_failures + 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > self.rules.loop_window:
            self._recent.popleft()
        self.restarts += 1
        delay = min(self.rules.first_delay * 2**self._attempt, self.rules.max_delay)
        self._attempt += 1
        if self._start_failures >= self.rules.loop_start_failures:
            self.crash_loop = f"exited during start-up {self._start_failures} times in a row"
        elif len(self._recent) >= self.rules.loop_restarts:
            window = self.rules.loop_window
            self.crash_loop = f"{len(self._recent)} restarts within {window:g} s"
        if self.crash_loop is not None:
            delay = self.rules.max_delay
        self._started = None
        return Restart(self.restarts, delay, self.crash_loop)
