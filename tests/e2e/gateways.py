"""Extra gateway processes beside the stack's own, with settings of a test's choosing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.stack.ports import free_port
from shared.settings import SERVICES
from tests.e2e.stack import RunningStack


@dataclass
class GatewayProcess:
    port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def metrics(self) -> str:
        """The internal listener's /metrics (the public port has none)."""
        response = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10)
        response.raise_for_status()
        return response.text


@contextlib.contextmanager
def extra_gateway(stack: RunningStack, **settings: str) -> Iterator[GatewayProcess]:
    """`micro serve gateway` on a free port, wired to the stack unless `settings` say not."""
    port, metrics_port = free_port(), free_port()
    env = {
        **stack.env,
        "MICRO_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/0",
        "MICRO_GATEWAY_PORT": str(port),
        "MICRO_GATEWAY_METRICS_PORT": str(metrics_port),
        **{f"MICRO_GATEWAY_{service.upper()}_URL": stack.url(service) for service in SERVICES},
        **{f"MICRO_GATEWAY_{name.upper()}": value for name, value in settings.items()},
    }
    log = stack.root / f"gateway-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "gateway"],
            env={k: v for k, v in env.items() if not k.startswith("MICRO_DEV_")}
            | {k: v for k, v in os.environ.items() if k.startswith("PATH")},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = GatewayProcess(port, metrics_port, process, log)
    try:
        _wait(gateway)
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(gateway: GatewayProcess) -> None:
    # The metrics listener opens once the app has started, whatever its upstreams' state.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"gateway exited:\n{gateway.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            url = f"http://127.0.0.1:{gateway.metrics_port}/metrics"
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"gateway not ready:\n{gateway.log.read_text()}")
