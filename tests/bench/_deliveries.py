"""Endpoint deliveries against a running stack, for `tests/bench/events.py`.

Events are emitted with `shared.outbox.emit` into a service's database of the stack (one
transaction each, as a service would); the service's relay puts them on the stream, the
events service logs them and POSTs them, signed, to a local receiver that verifies every
signature. Measured in one run:

- latency from each emitting transaction's commit to its delivery arriving, p50/p99, at a
  steady `latency_rate` events/s;
- the highest rate of `rates` that is sustained with no loss: every event arrives, and the
  last one within `keep_up_seconds` of the last commit (the pipeline kept pace). If the
  emitters themselves fall short of a target, the rate they reached is the figure and
  `emitter_limited` says so.

Every run counts each event's verified arrivals: `lost` (never arrived within
`drain_seconds`) and `duplicates` (arrived more than once: at least once allows it, but a
healthy run has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from cli.stack.stack import Stack
from shared import outbox
from tests.bench._stack import Tenant, onboard, urls
from tests.support.webhook_receiver import Receiver, webhook_receiver

# Its own event type, so events the caller emitted for other measurements never count here.
EVENT_TYPE = "bench.endpoint_delivery"
# Concurrent emitting connections: each waits for its commit's fsync.
_EMITTERS = 16


@dataclass(frozen=True, slots=True)
class Run:
    target_rate: float
    emitted: int
    emit_seconds: float
    delivered: int
    lost: int
    # Arrivals beyond an event's first (the one endpoint is owed each event once).
    duplicates: int
    latencies_ms: list[float]
    # Seconds from the last commit to the last arrival.
    lag_seconds: float

    @property
    def emit_rate(self) -> float:
        return self.emitted / self.emit_seconds if self.emit_seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def measure_deliveries(
    stack: Stack,
    *,
    latency_rate: float = 100,
    latency_seconds: float = 5,
    rates: Sequence[float] = (200, 400, 800, 1600, 2400, 3200),
    step_seconds: float = 3,
    keep_up_seconds: float = 1.0,
    drain_seconds: float = 30,
    service: str = "payments",
    tenant: Tenant | None = None,
) -> dict[str, Any]:
    """Figures as a dict: latency p50/p99 (ms) at `latency_rate`, and the highest
    sustained events/s with no loss (0 if even the lowest rate was not). Events are
    emitted into `service`'s database, for `tenant` (a new one if not given)."""
    gateway = urls(stack)["gateway"]
    tenant = tenant or await onboard(stack)
    pool = await asyncpg.create_pool(stack.dsn(service), min_size=_EMITTERS, max_size=_EMITTERS)
    assert pool is not None
    try:
        async with webhook_receiver() as receiver, httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{gateway}/webhook_endpoints",
                json={"url": receiver.url, "enabled_events": [EVENT_TYPE]},
                headers=tenant.api_headers,
            )
            response.raise_for_status()
            receiver.secret = response.json()["secret"]
            await _run(pool, receiver, tenant.tenant_id, 20, 1.0, drain_seconds)  # warm-up
            steady = await _run(
                pool, receiver, tenant.tenant_id, latency_rate, latency_seconds, drain_seconds
            )
            runs = [steady]
            steps: dict[float, Run] = {}
            best = 0.0
            emitter_limited = False
            for rate in rates:
                run = await _run(
                    pool, receiver, tenant.tenant_id, rate, step_seconds, drain_seconds
                )
                steps[rate] = run
                runs.append(run)
                if run.lost or run.lag_seconds > keep_up_seconds:
                    break
                best = max(best, run.emit_rate)
                if run.emit_rate < 0.95 * rate:
                    # The emitting transactions, not the deliveries, set the pace: a higher
                    # target would measure the database's commits instead.
                    emitter_limited = True
                    break
            unverified = sum(1 for r in receiver.received if not r.verified)
    finally:
        await pool.close()
    return {
        "latency_rate": latency_rate,
        "latency_p50_ms": steady.percentile(50),
        "latency_p99_ms": steady.percentile(99),
        "latency_events": steady.emitted,
        "latency_lost": steady.lost,
        # Over the latency run and every step of the sweep.
        "lost": sum(run.lost for run in runs),
        "duplicates": sum(run.duplicates for run in runs),
        "max_sustained_events_per_s": best,
        # True when deliveries kept pace with everything the emitters could commit.
        "emitter_limited": emitter_limited,
        "steps": {
            rate: {
                "emitted_per_s": run.emit_rate,
                "lost": run.lost,
                "duplicates": run.duplicates,
                "lag_s": run.lag_seconds,
                "p50_ms": run.percentile(50),
                "p99_ms": run.percentile(99),
            }
            for rate, run in steps.items()
        },
        "unverified_signatures": unverified,
    }


async def _run(
    pool: asyncpg.Pool,
    receiver: Receiver,
    tenant_id: str,
    rate: float,
    seconds: float,
    drain_seconds: float,
) -> Run:
    """Emit `rate` events/s for `seconds`, then wait for them all (or `drain_seconds`)."""
    total = max(1, int(rate * seconds))
    before = len(receiver.received)
    committed: dict[str, float] = {}
    began = time.perf_counter()
    wall_began = time.time()

    async def emitter(offset: int) -> None:
        async with pool.acquire() as conn:
            for i in range(offset, total, _EMITTERS):
                delay = began + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                async with conn.transaction():
                    event_id = await outbox.emit(
                        conn,
                        None,
                        type=EVENT_TYPE,
                        data={"sequence": i},
                        tenant_id=tenant_id,
                        livemode=False,
                    )
                committed[event_id] = time.time()

    await asyncio.gather(*(emitter(k) for k in range(_EMITTERS)))
    emit_seconds = time.time() - wall_began
    last_commit = max(committed.values())

    found: dict[str, float] = {}
    duplicates = 0
    seen = before

    def all_arrived() -> bool:
        """Reads only the deliveries new since the last look: called on every arrival."""
        nonlocal seen, duplicates
        for r in receiver.received[seen:]:
            event_id = r.headers.get("webhook-id", "")
            if event_id in committed and r.verified:
                if event_id in found:
                    duplicates += 1
                else:
                    found[event_id] = r.at
        seen = len(receiver.received)
        return len(found) >= len(committed)

    with contextlib.suppress(TimeoutError):
        await receiver.wait_until(all_arrived, drain_seconds)
    all_arrived()
    latencies = [(found[e] - committed[e]) * 1000 for e in found]
    return Run(
        target_rate=rate,
        emitted=len(committed),
        emit_seconds=emit_seconds,
        delivered=len(found),
        lost=len(committed) - len(found),
        duplicates=duplicates,
        latencies_ms=latencies,
        lag_seconds=(max(found.values()) - last_commit) if found else float("inf"),
    )
