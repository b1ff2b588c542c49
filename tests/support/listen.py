"""What a developer runs beside Micro to see its webhooks: a local app that checks every
signature with the public `standardwebhooks` verifier (or, `signature="stripe"`, with
stripe-python's `construct_event`), and `micro listen` as a subprocess."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

READY = re.compile(r"Ready! Your webhook signing secret is (whsec_\S+) \(\^C to quit\)")


# -- the developer's local app ---------------------------------------------------------------


@dataclass
class Received:
    event_id: str
    type: str
    body: bytes
    headers: dict[str, str]
    verified: bool
    ok: bool


@dataclass
class Receiver:
    """A local webhook endpoint; answers `failures` 500s first, sleeps `delay` per request."""

    secret: str = ""
    # Which scheme the app verifies: Standard Webhooks, or Stripe's `Stripe-Signature`.
    signature: str = "standard"
    failures: int = 0
    delay: float = 0.0
    slow_requests: int = 0
    attempts: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def delivered(self) -> list[Received]:
        """Each event's successful delivery, in arrival order."""
        with self.lock:
            return [a for a in self.attempts if a.ok]

    def verify(self, body: bytes, headers: dict[str, str]) -> bool:
        if self.signature == "stripe":
            # Imported here: only the tests of Stripe's scheme need the SDK.
            import stripe

            try:
                stripe.Webhook.construct_event(body, headers.get("stripe-signature"), self.secret)
            except (stripe.SignatureVerificationError, ValueError):
                return False
            return True
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        verified = self.verify(body, headers)
        event = json.loads(body)
        with self.lock:
            slow = self.slow_requests > 0
            self.slow_requests -= 1 if slow else 0
            fail = self.failures > 0
            self.failures -= 1 if fail else 0
        if slow:
            time.sleep(self.delay)
        with self.lock:
            self.attempts.append(
                Received(event["id"], event["type"], body, headers, verified, ok=not fail)
            )
        return 500 if fail else 200


@contextlib.contextmanager
def receiver(**settings: Any) -> Iterator[Receiver]:
    app = Receiver(**settings)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = app.handle(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    app.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()


# -- `micro listen` as a subprocess -----------------------------------------------------------


class Listen:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "listen", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, within: float = 30) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := regex.search(line):
                    return match
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r} in:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(10)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def wait_for_deliveries(app: Receiver, count: int, within: float = 60) -> list[Received]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = app.delivered()
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"{len(app.delivered())} of {count} events arrived")
