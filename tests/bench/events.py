"""Events end to end (issue: events): commit -> outbox relay -> Redis -> gateway ->
`micro listen` -> the forwarded POST at a local receiver.

In one run, on one durable stack:
1. latency from the payments service's commit of an event to its forwarded POST arriving at
   the receiver (p50/p99), at a steady 100 events/s, one event per transaction;
2. the highest sustained events/s one listener forwards with no loss: a backlog committed in
   one transaction (so its emitting does not set the pace), drained by `micro listen` (one
   event at a time, in order, acked after its POST), rate = events / (last arrival - first
   arrival); every event must arrive, once. With it, the CPU time the listener and the
   gateway spent per event of the backlog (from /proc): figures the machine's other load
   hardly moves, to compare commits on a busy machine;
3. the same for webhook-endpoint deliveries (`_deliveries.py`): latency at 100/s and the
   highest rate sustained with none lost; a lost delivery fails the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg
from aiohttp import web

from shared import outbox
from tests.bench._deliveries import measure_deliveries
from tests.bench._memory import record_memory
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls
from tests.bench.gateway_cpu import cpu_seconds, listening_pid

NAME = "events"
STEADY_RATE = 100
STEADY_SECONDS = 10.0
BACKLOG = 3000


@dataclass
class Receiver:
    arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        event_id = request.headers.get("webhook-id", "")
        if event_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[event_id] = time.time()
        return web.Response(status=200)

    async def wait_for(self, ids: list[str], within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if all(i in self.arrivals for i in ids):
                return True
            await asyncio.sleep(0.05)
        return False


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/webhook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield receiver
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def micro_listen(gateway: str, key: str, forward_to: str) -> AsyncIterator[int]:
    """`micro listen` as a developer runs it, until it is Ready; its pid."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "listen", "--forward-to", forward_to,
        "--api-key", key, "--api-base", gateway, "--format", "json",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    line = await asyncio.wait_for(process.stderr.readline(), 60)
    if not line.startswith(b"Ready!"):
        raise RuntimeError(f"micro listen did not start: {line!r}")
    try:
        yield process.pid
    finally:
        process.terminate()
        await process.wait()


async def emit(conn: asyncpg.Connection, tenant_id: str, n: int) -> str:
    return await outbox.emit(
        conn,
        None,
        type="payment_intent.succeeded",
        data={"object": "payment_intent", "n": n},
        tenant_id=tenant_id,
        livemode=False,
    )


async def steady(conn: asyncpg.Connection, tenant_id: str, receiver: Receiver) -> list[float]:
    """One event per transaction at STEADY_RATE; commit->arrival latencies in seconds."""
    committed: dict[str, float] = {}
    interval = 1 / STEADY_RATE
    start = time.monotonic()
    for n in range(int(STEADY_RATE * STEADY_SECONDS)):
        await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        async with conn.transaction():
            event_id = await emit(conn, tenant_id, n)
        committed[event_id] = time.time()
    if not await receiver.wait_for(list(committed), within=60):
        raise RuntimeError("events were lost at the steady rate")
    return [receiver.arrivals[i] - at for i, at in committed.items()]


@dataclass
class Drain:
    rate: float  # events/s
    # CPU seconds per event, by process.
    cpu: dict[str, float]


async def backlog(
    conn: asyncpg.Connection, tenant_id: str, receiver: Receiver, pids: dict[str, int]
) -> Drain:
    async with conn.transaction():
        ids = [await emit(conn, tenant_id, n) for n in range(BACKLOG)]
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if not await receiver.wait_for(ids, within=300):
        missing = sum(i not in receiver.arrivals for i in ids)
        raise RuntimeError(f"{missing} of {BACKLOG} events never arrived")
    spent = {name: (cpu_seconds(pid) - before[name]) / len(ids) for name, pid in pids.items()}
    times = sorted(receiver.arrivals[i] for i in ids)
    return Drain(len(ids) / (times[-1] - times[0]), spent)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack, receiving() as receiver:
        gateway = urls(stack)["gateway"]
        tenant = await onboard(stack)
        forward_to = f"http://127.0.0.1:{receiver.port}/webhook"
        conn = await asyncpg.connect(stack.dsn("payments"))
        try:
            async with micro_listen(gateway, tenant.secret, forward_to) as listener:
                latencies = await steady(conn, tenant.tenant_id, receiver)
                pids = {"listener": listener, "gateway": listening_pid(gateway.rsplit(":")[-1])}
                drain = await backlog(conn, tenant.tenant_id, receiver, pids)

            # Endpoint deliveries on the same stack and tenant (their own event type), so
            # both paths are measured in one run.
            deliveries = await measure_deliveries(stack, tenant=tenant)
            record_memory(NAME, stack)
        finally:
            await conn.close()

    ms = sorted(x * 1000 for x in latencies)
    print(
        f"micro listen, commit -> forwarded POST at {STEADY_RATE} events/s "
        f"({len(ms)} events, one per transaction): max {ms[-1]:.1f} ms; backlog of {BACKLOG}: "
        f"{receiver.duplicates} duplicates"
    )
    steps = ", ".join(
        f"{rate:g}/s: {step['emitted_per_s']:,.0f}/s emitted, lag {step['lag_s']:.2f} s, "
        f"p99 {step['p99_ms']:.0f} ms"
        for rate, step in deliveries["steps"].items()
    )
    limited = " (the emitting commits set the pace)" if deliveries["emitter_limited"] else ""
    print(f"endpoint deliveries, the sweep{limited}: {steps}")
    print("figures:")
    record(NAME, f"micro listen commit -> forwarded POST p50 at {STEADY_RATE}/s",
           percentile(ms, 50), "ms")  # fmt: skip
    record(NAME, f"micro listen commit -> forwarded POST p99 at {STEADY_RATE}/s",
           percentile(ms, 99), "ms", target="<= 10")  # fmt: skip
    record(NAME, "one listener draining a backlog", drain.rate, "events/s", target=">= 3000")
    for process, seconds in drain.cpu.items():
        record(NAME, f"{process} CPU per event of the backlog", seconds * 1e6, "us")
    record(NAME, f"endpoint deliveries p50 at {deliveries['latency_rate']:.0f}/s",
           deliveries["latency_p50_ms"], "ms")  # fmt: skip
    record(NAME, f"endpoint deliveries p99 at {deliveries['latency_rate']:.0f}/s",
           deliveries["latency_p99_ms"], "ms")  # fmt: skip
    record(NAME, "endpoint deliveries sustained with none lost",
           deliveries["max_sustained_events_per_s"], "events/s", target=">= 1500")  # fmt: skip
    record(NAME, "endpoint deliveries lost", deliveries["lost"], "events", target="<= 0")
    record(NAME, "endpoint deliveries delivered twice", deliveries["duplicates"], "events")
    record(NAME, "endpoint delivery signatures failing verification",
           deliveries["unverified_signatures"], "deliveries", target="<= 0")  # fmt: skip
    # At least once, never lost: a lost delivery fails the benchmark, whatever its figures.
    if deliveries["lost"] or deliveries["unverified_signatures"]:
        raise RuntimeError(
            f"{deliveries['lost']} endpoint deliveries lost, "
            f"{deliveries['unverified_signatures']} signatures failed verification"
        )
