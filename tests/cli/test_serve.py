"""`micro serve`: how the process meets its clients' connection pools."""

from __future__ import annotations

import os
import socket
import time

from cli.stack.ports import free_port
from shared import secrets
from tests.support.processes import serving

REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# Longer than uvicorn's own default (5 s), the time httpx keeps an idle connection for reuse.
IDLE = 6.5


def answer(conn: socket.socket) -> bytes:
    """One whole response (head and Content-Length body), or what came before the close."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = conn.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_idle_connection_is_left_for_its_client_to_close(redis_url: str) -> None:
    # The gateway, whose callers (SDKs, a load balancer) reuse connections they kept idle.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    env |= secrets.generate() | {
        "MICRO_REDIS_URL": redis_url,
        "MICRO_GATEWAY_PORT": str(port),
        "MICRO_GATEWAY_METRICS_PORT": str(free_port()),
    }
    with serving(env, "gateway", port), socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(30)
        conn.sendall(REQUEST)
        assert answer(conn).startswith(b"HTTP/1.1 ")
        time.sleep(IDLE)
        # A pool reuses the connection: it must still be open, not closed under the request.
        conn.sendall(REQUEST)
        again = answer(conn)
    assert again.startswith(b"HTTP/1.1 "), again
