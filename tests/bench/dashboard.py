"""Dashboard pages with 10,000 payments in the tenant (issue #17: under 300 ms each).

One stack; a tenant is given PAYMENTS payment intents through the API (create+confirm over
the simulator, as its integration would); a tenant admin signs in to the dashboard; each
page is fetched ROUNDS times, one at a time, on the loopback (so the time is the server's).
Beside each page, in the same run: the API call that page's main table comes from, through
the gateway with the same session, so the figure shows what rendering and the page's other
calls add.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import time
from html import unescape

import httpx

from tests.bench._stack import BENCH_ENV, bench_stack, urls

PAYMENTS = 10_000
WRITERS = 16
ROUNDS = 30
TARGET_MS = 300.0
_counter = itertools.count()


async def _fill(gateway: str, key: str) -> str:
    """PAYMENTS succeeded intents; the id of one of them."""
    last = ""

    async def writer(client: httpx.AsyncClient) -> None:
        nonlocal last
        while (n := next(_counter)) < PAYMENTS:
            answer = await client.post(
                "/payments/payment_intents",
                json={"amount": 100 + n % 5000, "currency": "usd", "confirm": True,
                      "payment_method": "pm_card_visa"},
                headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"fill-{n}"},
            )  # fmt: skip
            answer.raise_for_status()
            last = answer.json()["id"]

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
        await asyncio.gather(*(writer(client) for _ in range(WRITERS)))
    took = time.perf_counter() - began
    print(f"{PAYMENTS} payments made in {took:.0f} s ({PAYMENTS / took:.0f}/s)", flush=True)
    return last


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = (await client.get("/dashboard/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:500]
    answer = await client.post(
        "/dashboard/login",
        data={"csrf_token": unescape(token.group(1)), "email": email, "password": password},
    )
    assert answer.url.path == "/dashboard/", answer.text[:500]


async def _timed(client: httpx.AsyncClient, path: str, **kwargs: object) -> tuple[float, int]:
    times = []
    status = 0
    for _ in range(ROUNDS):
        began = time.perf_counter()
        answer = await client.get(path, **kwargs)  # type: ignore[arg-type]
        times.append((time.perf_counter() - began) * 1000)
        status = answer.status_code
    return statistics.median(times), status


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway = urls(stack)["gateway"]
        email, password = f"dash-{time.time_ns()}@example.com", "benchmark1"
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as api:
            owner = (
                await api.post("/auth/register", json={"email": email, "password": password})
            ).json()
            session = {"Authorization": f"Bearer {owner['access_token']}"}
            key = (
                await api.post("/auth/api_keys", json={"environment": "test"}, headers=session)
            ).json()["secret"]
        one = await _fill(gateway, key)
        pages = {
            "home": ("/dashboard/", "/payments/payment_intents?limit=10"),
            "payments list": ("/dashboard/payments", "/payments/payment_intents?limit=25"),
            "payments, filtered": (
                "/dashboard/payments?status=succeeded",
                "/payments/payment_intents?limit=25&status=succeeded",
            ),
            "payment detail": (f"/dashboard/payments/{one}", f"/payments/payment_intents/{one}"),
            "ledger": ("/dashboard/ledger", "/ledger/accounts?limit=25"),
            "events": ("/dashboard/events", "/events?limit=25"),
        }
        async with (
            httpx.AsyncClient(base_url=gateway, timeout=60, follow_redirects=True) as browser,
            httpx.AsyncClient(base_url=gateway, timeout=60) as api,
        ):
            await _sign_in(browser, email, password)
            print(f"median of {ROUNDS} sequential GETs each; target {TARGET_MS:.0f} ms per page")
            print(f"{'page':<20} {'dashboard':>10} {'its API call':>13}  status")
            for name, (page, call) in pages.items():
                took, status = await _timed(browser, page)
                ceiling, _ = await _timed(api, call, headers={"Authorization": f"Bearer {key}"})
                verdict = "ok" if took <= TARGET_MS and status == 200 else "OVER"
                print(
                    f"{name:<20} {took:>8.1f}ms {ceiling:>11.1f}ms  {status} {verdict}", flush=True
                )
