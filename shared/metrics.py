"""Prometheus metrics: requests by route template, status and latency; `/metrics`.

Gauges read from a database (backlogs, ages, counts waiting for an operator) are refreshed by
the `/metrics` handler itself, before the text is rendered, so every replica reports the same
figure. Each refresh is bounded by `REFRESH_TIMEOUT`: a slow or absent database never hangs
a scrape; a refresh that fails or times out leaves its gauges at their last value and is
logged. The names and labels are documented in the README ("Operations").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from shared.state import STATE_KEY, AppState

log = logging.getLogger("micro.metrics")

REFRESH_TIMEOUT = 2.0

REQUESTS = Counter(
    "micro_http_requests_total",
    "HTTP requests served, by route template and status.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "micro_http_request_duration_seconds",
    "Time from request start to the end of the response.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_PENDING = Gauge(
    "micro_outbox_pending", "Event-outbox rows committed and not yet published.", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "micro_outbox_oldest_pending_seconds",
    "Age of the oldest unpublished event-outbox row (0 when none).",
    ["service"],
)
# Payments and the wallet each owe the ledger postings (shared/ledger_contract.py).
POSTINGS_PENDING = Gauge(
    "micro_ledger_postings_pending",
    "Postings owed to the ledger and not yet posted (read from the database at scrape).",
    ["service"],
)
POSTINGS_OLDEST = Gauge(
    "micro_ledger_postings_oldest_pending_seconds",
    "Age of the oldest posting owed to the ledger (0 when none).",
    ["service"],
)
EVENT_LAG = Histogram(
    "micro_event_lag_seconds",
    "Seconds from an event's commit to Redis (published) and to a 2xx delivery (delivered).",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)

# Reads the database (or anything slow) and sets gauges; run at every scrape.
Refresh = Callable[[AppState], Awaitable[None]]


def observe(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, method, route).observe(seconds)


async def refresh_outbox(state: AppState) -> None:
    from shared.outbox import backlog  # outbox imports this module for the lag histogram

    pending, oldest = await backlog(state.db)
    OUTBOX_PENDING.labels(state.settings.service).set(pending)
    OUTBOX_OLDEST.labels(state.settings.service).set(oldest or 0.0)


async def _refresh(state: AppState, refresh: Refresh, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await refresh(state)
    except Exception:  # the last value stays; the scrape goes on
        log.warning(
            "metrics refresh failed", exc_info=True, extra={"refresh": refresh.__qualname__}
        )


def metrics_handler(
    refreshes: Sequence[Refresh] = (), *, timeout: float = REFRESH_TIMEOUT
) -> Callable[[Request], Awaitable[Response]]:
    """The `/metrics` endpoint, running `refreshes` (concurrently, each bounded) first."""

    async def endpoint(request: Request) -> Response:
        state = getattr(request.state, STATE_KEY, None)
        if refreshes and isinstance(state, AppState):
            await asyncio.gather(*(_refresh(state, r, timeout) for r in refreshes))
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


metrics_endpoint = metrics_handler()
