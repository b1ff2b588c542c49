"""Spreading calls to a service over its replicas ("Replicas" in docs/architecture.md).

Every upstream URL setting (`MICRO_GATEWAY_PAYMENTS_URL`, `MICRO_WALLET_LEDGER_URL`, ...)
takes a comma-separated list of base URLs, one per replica. The gateway's proxy and
`shared.internal_client` ask `Replicas.order()` once per request for the replicas to try,
in turn:

- round-robin: each request starts one replica further on, so load spreads evenly;
- a replica `failed()` (it refused a connection, or dropped one) goes to the end of the
  order for `down_seconds`, then takes its turn again: a restarted replica is found
  without anyone telling the callers;
- never dropped: when every replica is down the request still tries them all, the least
  recently failed first among equals, rather than failing without trying.

Which failures may move a request on to the next replica is the callers' rule, the same in
both: nothing sent yet (refused, never connected) always; sent and then lost only when a
replay is safe (`replay_safe`); a timeout never (the first replica may still be working).

Pure: no I/O, and the clock is a parameter, so tests move time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

DOWN_SECONDS = 2.0

# Methods that mean the same when sent twice (RFC 9110 §9.2.2), so one whose answer was lost
# may be sent to another replica; any other request only with an Idempotency-Key, which
# every Micro service honours (shared/idempotency.py) across its replicas, since the stored
# answers live in the service's one database.
REPLAY_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def replay_safe(method: str, *, idempotency_key: bool) -> bool:
    """Whether a request that reached a replica and lost its answer may go to another."""
    return idempotency_key or method in REPLAY_SAFE_METHODS


def parse_urls(value: str) -> tuple[str, ...]:
    """The base URLs of a comma-separated setting, without trailing slashes; ValueError,
    saying which item is wrong, for anything a request could not be sent to."""
    items = [item.strip() for item in value.split(",")]
    seen: set[str] = set()
    urls = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise ValueError(
                f"item {position} of {value!r} is empty: give base URLs separated by commas"
            )
        if any(char.isspace() for char in item):
            raise ValueError(f"{item!r} has a space in it: separate base URLs with commas")
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{item!r} is not an http:// or https:// base URL")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
        except ValueError:
            raise ValueError(f"{item!r} has an unusable port") from None
        if parts.query or parts.fragment:
            raise ValueError(f"{item!r} is a base URL: paths are added to it, a query cannot be")
        url = item.rstrip("/")
        if url in seen:
            raise ValueError(f"{item!r} is listed twice")
        seen.add(url)
        urls.append(url)
    return tuple(urls)


class Replicas:
    """The replicas of one service as one process calls it (one instance per process and
    upstream, shared by every request: the round-robin position and the down marks are
    this process's view)."""

    __slots__ = ("_clock", "_down_until", "_next", "_only", "down_seconds", "name", "urls")

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        *,
        down_seconds: float = DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError(f"{name}: no replica URL")
        self.name = name
        self.urls: tuple[str, ...] = tuple(urls)
        self.down_seconds = down_seconds
        self._clock = clock
        self._next = 0
        # url -> the clock reading until which it is tried last. Empty nearly always, which
        # is what keeps `order()` and `succeeded()` cheap on the gateway's per-request path.
        self._down_until: dict[str, float] = {}
        # One replica (the usual case): every order is the same, so the same list is handed
        # out rather than one built per request. Callers only read it.
        self._only: list[str] | None = [self.urls[0]] if len(self.urls) == 1 else None

    @classmethod
    def parse(
        cls,
        name: str,
        urls: str,
        *,
        down_seconds: float = DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> Replicas:
        """The replicas of a comma-separated setting; ValueError naming `name` if unusable."""
        try:
            parsed = parse_urls(urls)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        return cls(name, parsed, down_seconds=down_seconds, clock=clock)

    def order(self) -> list[str]:
        """The base URLs to try for one request, first to last. Read it, do not change it."""
        if self._only is not None:
            return self._only
        start = self._next
        self._next = (start + 1) % len(self.urls)
        order = [*self.urls[start:], *self.urls[:start]]
        if self._down_until:
            now = self._clock()
            down = [url for url in order if self._is_down(url, now)]
            if down:
                # Down ones last, least recently failed first: the one most likely back.
                down.sort(key=self._down_until.__getitem__)
                order = [url for url in order if url not in down] + down
        return order

    def failed(self, url: str) -> None:
        """`url` refused or dropped a connection: try it last for `down_seconds`."""
        self._down_until[url] = self._clock() + self.down_seconds

    def succeeded(self, url: str) -> None:
        """`url` answered: it takes its normal turn again."""
        if self._down_until:
            self._down_until.pop(url, None)

    def _is_down(self, url: str, now: float) -> bool:
        until = self._down_until.get(url)
        if until is None:
            return False
        if until <= now:
            del self._down_until[url]
            return False
        return True

    def __repr__(self) -> str:
        down = [url for url in self.urls if url in self._down_until]
        return f"Replicas({self.name!r}, {list(self.urls)!r}, down={down!r})"
