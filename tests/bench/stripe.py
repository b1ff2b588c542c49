"""The Stripe-compatible API's overhead (issue #15, point 5): `make bench BENCH=stripe`.

The official stripe-python SDK (16.x, its async aiohttp client) makes payment intents and
confirms them through the gateway on Stripe's path (`POST /v1/payment_intents`, `POST
/v1/payment_intents/{id}/confirm`) and on Micro's own (`/payments/payment_intents...`), in
one run, with the same client. Both sides make the identical SDK call, `raw_request_async`
then `deserialize` into a `PaymentIntent` (what the SDK's typed methods do), so the only
difference is what Micro does for a `/v1` path: the gateway's rewrite and the stripe dialect
carried to the service (and whatever the service does differently for it).

The two sides run at once, interleaved: every client does its operations on `/v1` and on the
native path by turns, so both see the same machine at every moment (on a shared machine,
rounds of one side and then the other measured the load of the moment more than the path).

Overhead = how much longer an operation (create + confirm) takes on `/v1`: its mean time over
the native one's, less one, with 16 clients (the mean is what sets a closed loop's
throughput) and with one (p50). Target: <= 5%.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.bench._load import Result, measure
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

CONCURRENCY = 16
SECONDS = 20.0
LATENCY_SECONDS = 8.0
TARGET = 0.05
INTENT = {"amount": 5000, "currency": "usd", "description": "bench"}
CARD = "pm_card_visa"

Operation = Callable[[int], Awaitable[object]]


def sdk_client(gateway: str, secret: str) -> tuple[Any, Any]:
    """(its HTTP client, to close; the SDK's client)."""
    try:
        import stripe
    except ImportError:
        raise SystemExit(
            "bench stripe: the stripe SDK is missing; `.venv/bin/pip install stripe==16.1.0`"
        ) from None
    # aiohttp: the SDK's httpx client posts with httpx's deprecated `data=<text>`.
    http_client = stripe.AIOHTTPClient(timeout=60)
    client = stripe.StripeClient(
        secret,
        base_addresses={"api": gateway},
        http_client=http_client,
        # A failure must show, not be retried away.
        max_network_retries=0,
    )
    return http_client, client


def create_and_confirm(client: Any, prefix: str) -> Operation:
    async def operation(worker: int) -> object:
        created = client.deserialize(
            await client.raw_request_async("post", prefix, **INTENT), api_mode="V1"
        )
        confirmed = client.deserialize(
            await client.raw_request_async(
                "post", f"{prefix}/{created.id}/confirm", payment_method=CARD
            ),
            api_mode="V1",
        )
        if confirmed.status != "succeeded":
            raise AssertionError(f"{prefix}: {confirmed.id} is {confirmed.status}")
        return confirmed

    return operation


async def check_the_sdk_speaks_both(client: Any) -> None:
    """Before measuring: the SDK's own typed call on `/v1` gives what the native path gives."""
    typed = await client.v1.payment_intents.create_async(
        params={**INTENT, "payment_method": CARD, "confirm": True}
    )
    native = client.deserialize(
        await client.raw_request_async("get", f"/payments/payment_intents/{typed.id}"),
        api_mode="V1",
    )
    if type(typed).__name__ != "PaymentIntent" or typed.status != "succeeded":
        raise AssertionError(f"/v1 create answered {type(typed).__name__} {typed.status}")
    if native.to_dict() != typed.to_dict():
        raise AssertionError(f"{typed.id} differs on the native path")


async def interleaved(
    sides: dict[str, Operation], *, concurrency: int, seconds: float
) -> dict[str, Result]:
    """`concurrency` clients for `seconds`, each doing one side's operation, then the
    other's; half of them start on each side. An exception fails the benchmark."""
    names = list(sides)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        turn = n % len(names)
        while time.perf_counter() < deadline:
            name = names[turn]
            began = time.perf_counter()
            await sides[name](n)
            latencies[name].append((time.perf_counter() - began) * 1000)
            turn = (turn + 1) % len(names)

    began = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - began
    found = {
        name: Result(name, len(latencies[name]), 0, elapsed, latencies[name]) for name in names
    }
    for result in found.values():
        line = result.line().replace("req/s", "op/s ")
        print(f"  {line}   mean {mean(result):6.2f} ms", flush=True)
    return found


def mean(result: Result) -> float:
    return statistics.fmean(result.latencies_ms)


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway = urls(stack)["gateway"]
        tenant = await onboard(stack)
        http_client, client = sdk_client(gateway, tenant.secret)
        try:
            await compare(client)
        finally:
            await http_client.close_async()


async def compare(client: Any) -> None:
    await check_the_sdk_speaks_both(client)
    sides = {
        "stripe-python on /v1/payment_intents": create_and_confirm(client, "/v1/payment_intents"),
        "stripe-python on /payments/payment_intents": create_and_confirm(
            client, "/payments/payment_intents"
        ),
    }
    for operation in sides.values():
        await measure("warm-up", operation, concurrency=4, seconds=0.5)
    print("create+confirm (2 requests each) through the gateway, the sides interleaved")
    print(f"{CONCURRENCY} concurrent clients, {SECONDS:.0f} s")
    busy = await interleaved(sides, concurrency=CONCURRENCY, seconds=SECONDS)
    print(f"one client, {LATENCY_SECONDS:.0f} s")
    alone = await interleaved(sides, concurrency=1, seconds=LATENCY_SECONDS)
    v1, native = busy.values()
    v1_alone, native_alone = alone.values()
    overhead = mean(v1) / mean(native) - 1
    p50 = v1_alone.percentile(50) / native_alone.percentile(50) - 1
    verdict = "within" if overhead <= TARGET else "OVER"
    print("overhead of the Stripe-compatible path over the native one:")
    print(
        f"  mean time, {CONCURRENCY} clients: {overhead:+6.1%}  (target <= {TARGET:.0%}: {verdict})"
    )
    print(f"  p50, one client:         {p50:+6.1%}")
