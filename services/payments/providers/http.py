"""One bounded HTTP call to a provider, sorted by what its failure means for the money.

- `ProviderUnreachable`: the request never left (connection refused, DNS): nothing happened,
  so the caller may fail cleanly.
- `ProviderRateLimited` (an answer of 429, raised by a provider's `authorize`): turned away
  unprocessed, so as safe as unreachable.
- `ProviderTimeout`: the request may have arrived and acted: the outcome is unknown and must
  be re-verified later, never assumed.
- An answer, whatever its status, is returned with its JSON body (decimals as `Decimal`:
  money never passes through a float).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

import aiohttp

from services.payments.providers.base import RefundOutcome
from shared.db import forbid_transaction
from shared.errors import InvalidRequestError, UpstreamError


class ProviderUnreachable(UpstreamError):
    status = 502
    default_code = "provider_unavailable"


class ProviderRateLimited(ProviderUnreachable):
    """The provider answered 429: it turned the request away unprocessed (nothing
    happened), so another provider may be asked at once."""

    status = 503
    default_code = "provider_rate_limited"


class ProviderRequestError(InvalidRequestError):
    """The provider refused the request itself (not a decline): nothing happened."""

    default_code = "provider_error"


class ProviderTimeout(Exception):
    """The provider did not answer in time; what it did is unknown."""


# Set around one provider operation by `services.payments.metrics.MeasuredProvider`: a call
# that timed out (or failed with a 5xx: "error") is marked here, since the providers turn
# a timeout into a `pending` answer.
timed_out: ContextVar[list[str] | None] = ContextVar("micro_provider_timed_out", default=None)


def _timed_out(error: str, *, outcome: str = "timeout") -> ProviderTimeout:
    cell = timed_out.get()
    if cell is not None:
        cell.append(outcome)
    return ProviderTimeout(error)


class ProviderClient:
    def __init__(
        self, http: aiohttp.ClientSession, *, base_url: str, headers: dict[str, str],
        timeout: float, name: str,
    ) -> None:  # fmt: skip
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.name = name

    async def call(
        self, method: str, path: str, *, body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:  # fmt: skip
        # A provider may take `timeout` seconds to answer: a transaction held meanwhile keeps
        # its pooled connection and row locks, and a few slow calls would stall the service.
        forbid_transaction(f"{self.name} {method} {path}")
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.http.request(
                method, self.base_url + path, data=data, params=params, headers=headers,
                timeout=self.timeout,
            ) as response:  # fmt: skip
                text = await response.text()
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            raise ProviderUnreachable(
                f"{self.name} could not be reached: {exc.strerror or exc}"
            ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _timed_out(f"{self.name}: {type(exc).__name__}") from None
        try:
            parsed = json.loads(text, parse_float=Decimal) if text else {}
        except ValueError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        if status >= 500:
            # A provider's own failure: it may have acted before failing, so ask again later.
            raise _timed_out(f"{self.name} answered {status}", outcome="error")
        return status, parsed


async def ask_refund(
    client: ProviderClient,
    path: str,
    provider_id: str,
    outcome: Callable[[dict[str, Any]], RefundOutcome],
) -> RefundOutcome:
    """A provider's refund, read by its id: pending while the provider gives no answer to go
    by (a timeout, an error status), else what its refund object says (`outcome` of its
    `data`)."""
    try:
        status, answer = await client.call("GET", path)
    except ProviderTimeout:
        return RefundOutcome("pending")
    data = answer.get("data")
    if status >= 400 or not isinstance(data, dict):
        return RefundOutcome("pending", provider_id=provider_id)
    return outcome(data)
