"""stripe-python (the real SDK) against the events service in-process: an `HTTPClient` that
does what the gateway does for a `/v1` path (shared/v1.native_path, and an identity of the
stripe dialect) and hands the request to the service's ASGI app. The SDK's async methods
(`create_async`, `auto_paging_iter` with `async for`) run in the test's event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import stripe

from shared.v1 import native_path
from tests.support.events import stripe_key


class InProcess(stripe.HTTPClient):
    name = "micro-in-process"

    def __init__(self, client: httpx.AsyncClient, tenant_id: str, *, livemode: bool) -> None:
        super().__init__()
        self.client = client
        self.identity = stripe_key(tenant_id, livemode=livemode)
        # Every request the SDK made, as (method, path asked for): what its pagination walks.
        self.asked: list[tuple[str, str]] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        parts = urlsplit(url)
        self.asked.append((method.upper(), parts.path))
        native = native_path(parts.path)
        assert native is not None, f"the SDK asked for {parts.path}, which Micro does not serve"
        target = native + (f"?{parts.query}" if parts.query else "")
        response = await self.client.request(
            method.upper(),
            target,
            headers={**headers, **self.identity},
            content=post_data,
        )
        return response.content, response.status_code, response.headers

    def request(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError("use the SDK's *_async methods in-process")

    def request_stream(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError

    async def close_async(self) -> None:
        return None


def stripe_client(
    client: httpx.AsyncClient, tenant_id: str, *, livemode: bool = False
) -> tuple[stripe.StripeClient, InProcess]:
    transport = InProcess(client, tenant_id, livemode=livemode)
    key = "sk_live_in_process" if livemode else "sk_test_in_process"
    sdk = stripe.StripeClient(
        key,
        http_client=transport,
        base_addresses={"api": "http://service"},
        max_network_retries=0,
    )
    return sdk, transport
