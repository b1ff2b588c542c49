"""What tracing costs the gateway (#18.1: "off by default and then close to free ... ≤ 3% with
tracing off, report the cost on").

The figure is the gateway process's CPU time per request (user + system from /proc, as in
`gateway_cpu`, the exporter thread's included), for the gateway benchmark's request (an
authenticated `GET /ledger/accounts?limit=1` through the gateway to the bench stack's
ledger), on three gateway processes started beside the bench stack, against the same ledger,
auth and Redis:

- **untraced**: the gateway's code with its tracing hooks taken out (`serve-untraced`
  below): `request_span` (the middleware's per-request span, which off only keeps an
  incoming `traceparent`) is a bare `nullcontext`, `finish_request` does nothing, the
  proxy's and the handler's `enabled()` are constant False. The gateway as it would be
  without #18.1: the baseline.
- **off**: the gateway as shipped, `MICRO_OTEL_ENDPOINT` unset (the default).
- **on**: the gateway as shipped with `MICRO_GATEWAY_OTEL_ENDPOINT` pointing at an OTLP/HTTP
  sink in another process (`python -m tests.support.otlp`), so spans are really encoded and
  POSTed by the SDK's batch exporter. The sink's count of spans is checked (two per
  request: the SERVER span and the proxied CLIENT span): "on" is proven, not assumed.

Every request carries a sampled `traceparent`: the most the off gateway ever does (keep the
header in a context variable, pass it up) and the most the on gateway records. Only the
gateway is traced, the ledger behind it runs as in every other bench: the gateway's cost.

A/B, paired: each round loads two gateways at once (CONCURRENCY clients each, SECONDS), so
both see the same machine, and takes the ratio of their CPU per request; ROUNDS rounds of
untraced/off, then of off/on; the median ratio is the figure, its range the spread.

On a busy machine that A/B's spread (±10 % and more, other helpers' load) is wider than the
3 % it must show. So the target is also held against a direct measure of the only code that
differs: the off hooks (with this bench's request headers) against the untraced gateway's
`nullcontext`, timed in this process (CPU time, best of 5 runs of HOOK_CALLS), divided by the
untraced gateway's CPU per request measured in the same run. The A/B is then the check that
nothing else differs; the direct measure is the figure precise enough for the target.

Figures, all ratios in %: off over untraced (direct, and A/B), target `<= 3` (the issue's
"≤ 3% with tracing off"); on over off (A/B), no target, reported; spans per request on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from cli.stack.ports import free_port
from cli.stack.stack import Stack
from shared import tracing
from tests.bench._load import run
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard
from tests.bench.gateway import PATH, getter
from tests.bench.gateway_cpu import cpu_seconds

BENCHMARK = "tracing"
ROUNDS = 5
SECONDS = 4.0
CONCURRENCY = 8  # per gateway: two are loaded at once
# The on gateway's exporter sends a batch every 500 ms (OTEL_BSP_SCHEDULE_DELAY) or at 512
# spans: waiting this long after a round charges the round for its spans' export.
EXPORT_WAIT = 1.5
HOOK_CALLS = 200_000
# A caller's sampled context, the same on every request.
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
VARIANTS = ("untraced", "off", "on")


@dataclass
class Gateway:
    name: str
    port: int
    process: asyncio.subprocess.Process
    spent_us: list[float] = field(default_factory=list)
    requests: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def gateway_env(stack: Stack, port: int, **settings: str) -> dict[str, str]:
    env = {**stack.app_env(), "MICRO_GATEWAY_PORT": str(port)}
    env["MICRO_GATEWAY_METRICS_PORT"] = str(free_port())
    for name in ("MICRO_OTEL_ENDPOINT", "MICRO_GATEWAY_OTEL_ENDPOINT"):
        env.pop(name, None)
    env.update(settings)
    return env


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"the gateway at {url} exited {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the gateway at {url} did not start")


@contextlib.asynccontextmanager
async def started_gateway(stack: Stack, name: str, sink: str) -> AsyncIterator[Gateway]:
    port = free_port()
    if name == "untraced":
        command = [sys.executable, "-m", "tests.bench.tracing", "serve-untraced"]
        env = gateway_env(stack, port)
    else:
        command = [sys.executable, "-m", "cli", "serve", "gateway"]
        env = gateway_env(
            stack,
            port,
            **(
                {"MICRO_GATEWAY_OTEL_ENDPOINT": sink, "OTEL_BSP_SCHEDULE_DELAY": "500"}
                if name == "on"
                else {}
            ),
        )
    process = await asyncio.create_subprocess_exec(*command, env=env, stdin=subprocess.DEVNULL)
    try:
        found = Gateway(name, port, process)
        await wait_ready(found.url, process)
        yield found
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


@contextlib.contextmanager
def sink_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.otlp", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/count", timeout=1)
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the OTLP sink did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def spans_received(sink: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        return int((await client.get(f"{sink}/count")).json()["spans"])


async def paired_round(a: Gateway, b: Gateway, headers: dict[str, str]) -> float:
    """Load on `a` and `b` at once, CONCURRENCY clients each, for SECONDS: both see the same
    machine. Each one's CPU per request is kept; returns b's over a's."""
    before = {g.name: cpu_seconds(g.process.pid) for g in (a, b)}
    results = await asyncio.gather(
        *(run(g.name, getter(f"{g.url}{PATH}", headers), concurrency=CONCURRENCY,
              seconds=SECONDS) for g in (a, b))
    )  # fmt: skip
    if "on" in (a.name, b.name):
        await asyncio.sleep(EXPORT_WAIT)  # the on gateway's exporter sends the round's spans
    for found, result in zip((a, b), results, strict=True):
        if result.errors:
            raise RuntimeError(f"{found.name}: {result.errors} of {result.requests} failed")
        spent = cpu_seconds(found.process.pid) - before[found.name]
        found.spent_us.append(1e6 * spent / result.requests)
        found.requests += result.requests
    ratio = b.spent_us[-1] / a.spent_us[-1]
    rates = f"{results[0].rate:.0f}, {results[1].rate:.0f} req/s"
    print(f"  {a.name} {a.spent_us[-1]:7.1f} us/request, {b.name} {b.spent_us[-1]:7.1f}: "
          f"{ratio - 1:+.1%}   ({rates})", flush=True)  # fmt: skip
    return ratio


def hooks_cost_us(headers: dict[str, str]) -> tuple[float, float]:
    """CPU microseconds per request of what the off gateway runs and the untraced one does
    not, in this process (tracing off here too): the middleware's `request_span` with the
    bench request's headers (a `traceparent` kept in a context variable) and
    `finish_request`, and the handler's and proxy's `enabled()`; against the untraced
    gateway's `nullcontext`. Best of 5 runs of HOOK_CALLS each: (off, untraced)."""
    assert not tracing.enabled()
    scope: dict[str, Any] = {
        "type": "http", "method": "GET", "path": PATH.split("?")[0],
        "headers": [(k.lower().encode(), v.encode()) for k, v in
                    {"host": "127.0.0.1", "accept": "*/*", **headers}.items()],
    }  # fmt: skip

    def off() -> None:
        with tracing.request_span(scope, service="gateway") as span:
            tracing.enabled()
            tracing.enabled()
            tracing.finish_request(span, scope, route="/ledger", status=200)

    def untraced() -> None:
        with contextlib.nullcontext(None):
            pass

    def best(work: Callable[[], None]) -> float:
        spent = []
        for _ in range(5):
            began = time.process_time()
            for _ in range(HOOK_CALLS):
                work()
            spent.append(time.process_time() - began)
        return 1e6 * min(spent) / HOOK_CALLS

    return best(off), best(untraced)


async def main() -> None:
    async with (
        bench_stack(BENCH_ENV) as stack,
        contextlib.AsyncExitStack() as started,
    ):
        tenant = await onboard(stack)
        headers = {**tenant.api_headers, "traceparent": TRACEPARENT}
        sink = started.enter_context(sink_process())
        gateways = {
            name: await started.enter_async_context(started_gateway(stack, name, sink))
            for name in VARIANTS
        }
        for found in gateways.values():  # the key cached, the connections open
            await run("warm-up", getter(f"{found.url}{PATH}", headers), concurrency=4, seconds=1)
        await asyncio.sleep(EXPORT_WAIT)  # the warm-up's spans exported before counting
        spans_before = await spans_received(sink)
        on, off, untraced = gateways["on"], gateways["off"], gateways["untraced"]
        off_ratios, on_ratios = [], []
        for _ in range(ROUNDS):
            off_ratios.append(await paired_round(untraced, off, headers))
        for _ in range(ROUNDS):
            on_ratios.append(await paired_round(off, on, headers))
        spans = await spans_received(sink) - spans_before
        hooks_off, hooks_untraced = hooks_cost_us(headers)
    on_requests = on.requests
    if spans < 2 * on_requests * 0.99:
        raise RuntimeError(f"tracing on: the sink got {spans} spans for {on_requests} requests")
    for name in VARIANTS:
        spent = gateways[name].spent_us
        record(BENCHMARK, f"gateway CPU per request, {name} (median; {min(spent):.0f}-"
               f"{max(spent):.0f})", statistics.median(spent), "us")  # fmt: skip
    baseline = statistics.median(untraced.spent_us)
    record(BENCHMARK, "tracing off: its hooks' CPU per request", hooks_off - hooks_untraced,
           "us")  # fmt: skip
    record(BENCHMARK, "tracing off: its hooks' CPU per request over the untraced gateway's",
           100 * (hooks_off - hooks_untraced) / baseline, "%", target="<= 3")  # fmt: skip
    record(BENCHMARK, "tracing off: gateway CPU per request over untraced, A/B median "
           f"({min(off_ratios) - 1:+.1%} to {max(off_ratios) - 1:+.1%})",
           100 * (statistics.median(off_ratios) - 1), "%", target="<= 3")  # fmt: skip
    record(BENCHMARK, "tracing on: gateway CPU per request over off, A/B median "
           f"({min(on_ratios) - 1:+.1%} to {max(on_ratios) - 1:+.1%})",
           100 * (statistics.median(on_ratios) - 1), "%")  # fmt: skip
    record(BENCHMARK, "tracing on: spans received by the sink per request",
           spans / on_requests, "spans")  # fmt: skip


# -- the untraced gateway ----------------------------------------------------------------------


def serve_untraced() -> None:
    """`micro serve gateway` with the tracing hooks of the gateway's request path taken out."""
    import typer

    import gateway.handler
    import gateway.proxy
    import shared.middleware
    from cli.serve import serve

    def no_span(scope: Any, *, service: str) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext(None)

    def no_finish(*args: Any, **kwargs: Any) -> None:
        return None

    def never() -> bool:
        return False

    assert not tracing.enabled()
    # The names as the gateway's modules imported them (`from shared.tracing import ...`).
    setattr(shared.middleware, "request_span", no_span)  # noqa: B010
    setattr(shared.middleware, "finish_request", no_finish)  # noqa: B010
    setattr(gateway.proxy, "enabled", never)  # noqa: B010
    setattr(gateway.handler, "tracing", _Untraced())  # noqa: B010
    try:
        serve("gateway")
    except typer.Exit as done:
        sys.exit(done.exit_code)


class _Untraced:
    """What the gateway's handler reads of `shared.tracing`: never on."""

    @staticmethod
    def enabled() -> bool:
        return False

    @staticmethod
    def annotate_scope(tenant_id: str | None, livemode: bool) -> None:
        return None


if __name__ == "__main__" and sys.argv[1:] == ["serve-untraced"]:
    os.environ.pop("MICRO_OTEL_ENDPOINT", None)
    serve_untraced()
