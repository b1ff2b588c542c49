"""`micro serve`: how the process meets its clients' connection pools."""

from __future__ import annotations

import http.client
import time

from cli.stack.ports import free_port
from tests.support.processes import gateway_env, serving

# Longer than uvicorn's own default (5 s), the time httpx keeps an idle connection for reuse.
IDLE = 6.5


def test_an_idle_connection_is_left_for_its_client_to_close(redis_url: str) -> None:
    # The gateway, whose callers (SDKs, a load balancer) reuse connections they kept idle.
    port = free_port()
    with serving(gateway_env(redis_url, port, free_port()), "gateway", port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/health")
            conn.getresponse().read()
            used = conn.sock
            time.sleep(IDLE)
            # A pool reuses the connection: it must still be open, not closed under the
            # request (http.client then raises RemoteDisconnected).
            conn.request("GET", "/health")
            again = conn.getresponse()
            again.read()
            assert conn.sock is used  # the same connection, not a new one
        finally:
            conn.close()
    assert again.status in (200, 503)  # alone, its /health says 503: no services behind it
