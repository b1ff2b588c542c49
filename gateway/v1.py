"""What the gateway owes Stripe's clients on every `/v1` answer, beside the rewrite
(gateway/routing.py): the headers Stripe sends back.

- `Request-Id`: the request's id (the same as `X-Request-Id`). stripe-python reads
  `request-id` into its errors' `request_id` and a response's `request_id`.
- `Stripe-Version`: the version the client sent, echoed. Micro serves one shape whatever
  version is asked for, so any value is accepted (on every path); with none sent, none is
  echoed (Micro has no account default version to name).

It wraps the whole gateway, outside the request-id middleware, so every `/v1` answer has them:
the proxied ones, the gateway's own refusals (401, 404, 429) and its last-resort errors.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import v1
from shared.middleware import REQUEST_ID_HEADER

STRIPE_VERSION = b"stripe-version"
REQUEST_ID = b"request-id"


class StripeHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not v1.is_v1(scope["path"]):
            await self.app(scope, receive, send)
            return
        version = next((value for name, value in scope["headers"] if name == STRIPE_VERSION), None)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                request_id = next(
                    (value for name, value in headers if name == REQUEST_ID_HEADER), None
                )
                if request_id is not None:
                    headers.append((REQUEST_ID, request_id))
                if version is not None:
                    headers.append((STRIPE_VERSION, version))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
