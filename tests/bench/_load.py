"""A small closed-loop load generator: N workers, each sending its next request when the
last one answered, for a fixed time. Reports requests/s and latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

Send = Callable[[aiohttp.ClientSession], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<44} {self.rate:>9.0f} req/s   p50 {self.percentile(50):6.2f} ms   "
            f"p99 {self.percentile(99):6.2f} ms   errors {self.errors}"
        )


async def measure(
    name: str, operation: Callable[[int], Awaitable[object]], *, concurrency: int, seconds: float
) -> Result:
    """`run` for work that is not an HTTP request (SQL, Redis): `operation(worker)` over
    and over on `concurrency` workers for `seconds`; an exception fails the benchmark."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await operation(n)
            latencies.append((time.perf_counter() - began) * 1000)

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return Result(name, len(latencies), 0, time.perf_counter() - began, latencies)


async def run(name: str, send: Send, *, concurrency: int, seconds: float) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    status = await send(session)
                except aiohttp.ClientError:
                    status = 0
                latencies.append((time.perf_counter() - began) * 1000)
                if status >= 400 or status == 0:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Result(name, len(latencies), errors, elapsed, latencies)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
