"""The gateway's /metrics lives on its internal listener only, in the one gateway process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx

from cli.stack.ports import free_port, port_is_free
from tests.support.processes import gateway_env, serving


def test_metrics_only_on_the_internal_port(redis_url: str) -> None:
    port, metrics_port = free_port(), free_port()
    with serving(gateway_env(redis_url, port, metrics_port), "gateway", port) as process:
        public = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        internal = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        # The internal listener serves metrics and nothing else of the gateway.
        other = httpx.get(f"http://127.0.0.1:{metrics_port}/health", timeout=5)
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    assert public.status_code == 404
    assert public.json()["error"]["code"] == "route_not_found"
    assert "micro_gateway" not in public.text
    assert internal.status_code == 200
    assert internal.headers["content-type"].startswith("text/plain")
    # The public request above was counted there, with its 404.
    assert any(
        line.startswith("micro_http_requests_total{")
        and 'service="gateway"' in line
        and 'status="404"' in line
        for line in internal.text.splitlines()
    ), internal.text
    assert other.status_code == 404
    # One process, both listeners gone with it.
    assert port_is_free(port)
    assert port_is_free(metrics_port)


def serve_until_it_stops(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`micro serve gateway` with `env`, expected to stop on its own at start-up."""
    return subprocess.run(
        [sys.executable, "-m", "cli", "serve", "gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_metrics_port_cannot_be_the_public_port(redis_url: str) -> None:
    port = free_port()
    result = serve_until_it_stops(gateway_env(redis_url, port, port))
    assert result.returncode != 0
    assert "metrics port must not be the public port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_taken_metrics_port_stops_the_whole_gateway(redis_url: str) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = serve_until_it_stops(gateway_env(redis_url, port, busy.getsockname()[1]))
    assert result.returncode == 1
    assert "address already in use" in result.stderr
    assert port_is_free(port)  # the public listener was shut too, not left behind
