"""A webhook receiver for the tests: a real HTTP server on a free port that checks every
delivery's signature as a tenant's app would: with the public `standardwebhooks` library, or
(`signature="stripe"`) with stripe-python's `stripe.Webhook.construct_event`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhooks import Scheme
from tests.support.aiohttp_server import serving


@dataclass(frozen=True, slots=True)
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool
    status: int
    at: float


@dataclass
class Receiver:
    url: str = ""
    # The secret the receiver verifies with (None: it does not check, and answers `status`).
    secret: str | None = None
    # Which scheme it verifies: Standard Webhooks, or Stripe's `Stripe-Signature`.
    signature: Scheme = "standard"
    # What it answers a verified delivery with; a bad signature always gets 400.
    status: int = 200
    # Sent as `Location` with the answer (a receiver that redirects).
    location: str | None = None
    received: list[Received] = field(default_factory=list)
    # Seconds it takes to answer (a slow tenant app), and how many requests it held at once.
    delay: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        verified = False
        if self.secret is not None:
            verified = self.verify(body, headers, self.secret)
        status = self.status if verified or self.secret is None else 400
        self.received.append(Received(body, headers, verified, status, time.time()))
        async with self._arrived:
            self._arrived.notify_all()
        if self.delay:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(self.delay)
            self.in_flight -= 1
        answer = web.Response(status=status, text="ok" if status < 300 else "nope")
        if self.location:
            answer.headers["Location"] = self.location
        return answer

    def verify(self, body: bytes, headers: dict[str, str], secret: str) -> bool:
        if self.signature == "stripe":
            # Imported here: only the tests of Stripe's scheme need the SDK.
            import stripe

            try:
                stripe.Webhook.construct_event(body, headers.get("Stripe-Signature"), secret)
            except (stripe.SignatureVerificationError, ValueError):
                return False
            return True
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def accepted_ids(self) -> list[str]:
        return [event_id(r) for r in self.accepted()]

    async def wait_for(self, count: int, *, accepted: bool = False, within: float = 20) -> None:
        """Until `count` deliveries (or accepted ones) have arrived."""
        await self.wait_until(
            lambda: len(self.accepted() if accepted else self.received) >= count, within
        )

    async def wait_until(self, condition: Callable[[], bool], within: float = 20) -> None:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(condition)


@contextlib.asynccontextmanager
async def webhook_receiver(secret: str | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(secret=secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with serving(app) as url:
        receiver.url = f"{url}/hook"
        yield receiver


def event_id(received: Received) -> str:
    """The delivered event's id: its `webhook-id` header (Standard Webhooks) or, when signed
    Stripe's way (no such header), the body's `id`."""
    found = received.headers.get("webhook-id")
    if found is None:
        found = str(json.loads(received.body)["id"])
    return found
