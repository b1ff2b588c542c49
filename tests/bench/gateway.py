"""Gateway overhead (issue: auth and gateway).

The same authenticated GET sent (a) straight to the ledger service, (b) through a bare
pass-through proxy on the gateway's HTTP client (aiohttp), and (c) through the gateway with
its key check and rate limit (limit set high so nothing is refused). Also (b') the same bare
proxy on httpx, which is why the gateway uses aiohttp. Figures are ratios from one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
import httpx

from cli.stack.ports import free_port
from tests.bench._load import Result, Send, run
from tests.bench._memory import record_memory
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls

CONCURRENCY = 32
SECONDS = 5.0
LATENCY_SECONDS = 3.0
PATH = "/ledger/accounts?limit=1"


@contextlib.asynccontextmanager
async def bare_proxy(client: str, upstream: str, identity: str) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench._proxy", "--client", client,
        "--upstream", upstream, "--port", str(port), "--identity", identity,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=1) as probe:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    await probe.get(f"{url}/ready")
                    break
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        await process.wait()


def getter(url: str, headers: dict[str, str]) -> Send:
    async def send(session: aiohttp.ClientSession) -> int:
        async with session.get(url, headers=headers) as response:
            await response.read()
            return response.status

    return send


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway, ledger = urls(stack)["gateway"], urls(stack)["ledger"]
        tenant = await onboard(stack)
        identity = tenant.direct_headers["X-Micro-Identity"]
        async with (
            bare_proxy("aiohttp", ledger, identity) as bare,
            bare_proxy("httpx", ledger, identity) as bare_httpx,
        ):
            targets = {
                "(a) direct to the ledger service": getter(
                    f"{ledger}{PATH}", {"X-Micro-Identity": identity}
                ),
                "(b) bare proxy, aiohttp client": getter(f"{bare}{PATH}", {}),
                "(b') bare proxy, httpx client": getter(f"{bare_httpx}{PATH}", {}),
                "(c) gateway: key check + rate limit": getter(
                    f"{gateway}{PATH}", tenant.api_headers
                ),
            }
            for send in targets.values():  # warm connections, caches and JITs of the world
                await run("warm-up", send, concurrency=4, seconds=0.5)
            print(f"throughput: {CONCURRENCY} concurrent clients, {SECONDS:.0f} s each")
            throughput: dict[str, Result] = {}
            for name, send in targets.items():
                throughput[name] = await run(name, send, concurrency=CONCURRENCY, seconds=SECONDS)
                print("  " + throughput[name].line(), flush=True)
            print(f"latency: one client, {LATENCY_SECONDS:.0f} s each")
            latency: dict[str, Result] = {}
            for name, send in targets.items():
                latency[name] = await run(name, send, concurrency=1, seconds=LATENCY_SECONDS)
                print("  " + latency[name].line(), flush=True)
        a, b, b2, c = (throughput[n] for n in targets)
        la, _, _, lc = (latency[n] for n in targets)
        print("figures:")
        record("gateway", "key check + rate limit, 32 clients", c.rate, "req/s",
               ceiling=b.rate, target=">= 0.85")  # fmt: skip
        record("gateway", "direct to the ledger service, 32 clients", a.rate, "req/s")
        record("gateway", "bare httpx proxy, 32 clients", b2.rate, "req/s", ceiling=b.rate)
        record("gateway", "p50 added over direct, 1 client", lc.percentile(50) - la.percentile(50),
               "ms", target="<= 1")  # fmt: skip
        record_memory("gateway", stack)
