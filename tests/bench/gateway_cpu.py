"""Gateway CPU time per request: the gateway process's user + system time (from /proc) over
the requests it served, at 16 clients. Unlike throughput, the machine's other load hardly
moves it, so two commits can be compared on a busy machine (#13: before and after a refactor).
"""

from __future__ import annotations

import os
import re
import subprocess

from tests.bench._load import run
from tests.bench._results import record
from tests.bench._stack import BENCH_ENV, bench_stack, onboard, urls
from tests.bench.gateway import PATH, getter

ROUNDS = 3
SECONDS = 6.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: str) -> int:
    found = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"pid=(\d+)", found)
    assert match is not None, f"nothing listens on :{port}"
    return int(match.group(1))


async def main() -> None:
    async with bench_stack(BENCH_ENV) as stack:
        gateway = urls(stack)["gateway"]
        tenant = await onboard(stack)
        pid = listening_pid(gateway.rsplit(":", 1)[1])
        send = getter(f"{gateway}{PATH}", tenant.api_headers)
        await run("warm-up", send, concurrency=4, seconds=1)
        spent: list[float] = []
        for _ in range(ROUNDS):
            before = cpu_seconds(pid)
            result = await run("gateway", send, concurrency=16, seconds=SECONDS)
            spent.append(1e6 * (cpu_seconds(pid) - before) / result.requests)
        record("gateway_cpu", "CPU per request, best of 3", min(spent), "us")
