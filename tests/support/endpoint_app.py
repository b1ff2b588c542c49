"""A tenant's webhook endpoint for the end-to-end tests, as a thread beside them (a real HTTP
server checking each signature with the public standardwebhooks verifier), and the payment
that makes an event for it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    url: str = ""
    secret: str | None = None
    received: list[tuple[bytes, dict[str, str], bool]] = field(default_factory=list)

    def ids(self, *, verified: bool = True) -> list[str]:
        return [h["webhook-id"] for _, h, ok in self.received if ok or not verified]


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    """A tenant's app: a real HTTP server that checks each signature with standardwebhooks."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            ok = False
            if state.secret is not None:
                with contextlib.suppress(WebhookVerificationError):
                    Webhook(state.secret).verify(body, headers)
                    ok = True
            state.received.append((body, headers, ok))
            self.send_response(200 if ok else 400)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def pay(gw: httpx.Client, headers: dict[str, str]) -> str:
    response = gw.post(
        "/payments/payment_intents",
        json={"amount": 1200, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    intent_id: str = response.json()["id"]
    return intent_id
