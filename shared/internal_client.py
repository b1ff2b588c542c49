"""The one HTTP client for calls from one Micro service to another
("A request" in docs/architecture.md, "Three paths").

A service calls another directly, never through the gateway, as itself (`principal` is its
name) acting for one tenant and mode (`Scope`). Per process there is one aiohttp session,
opened in the lifespan (`open_internal_client`); each call:

- carries an `X-Micro-Identity` token, signed once per identity and reused for half its
  life (`shared.identity.TokenCache`), and the `X-Request-Id` of the request being served;
- is bounded: `internal_timeout` per attempt, `internal_connect_timeout` to connect;
- refuses to start while the task holds a database transaction (`forbid_transaction`): a
  call made inside one keeps a pooled connection and its row locks for as long as the far
  side takes;
- ends in one of three ways: a 2xx `Answer`; `Refused` for a 4xx (the service understood
  and said no: asking again gets the same answer); `Unavailable` once `internal_attempts`
  attempts met no answer, a timeout or a 5xx, with exponential backoff and full jitter
  between them. Every caller makes only idempotent calls (an Idempotency-Key, a
  reference, a code), so an attempt whose answer was lost is safe to make again.
- goes to the service's replicas in turn when its URL setting lists several
  (`shared.balancer.Replicas`, docs/architecture.md "Replicas"), one attempt after another
  along `order()`, by the gateway's rule of when to move on: after a refused connection
  (nothing sent), at once and without the backoff while a replica is left untried; after
  an answer lost on the way back, only if the call is replay-safe (otherwise the repeat
  goes where the first was sent, as it always did); after a timeout, never (the same
  replica is asked again: it may still be working, and takes the repeat as the same
  call); after a 5xx or a "not now", on to the next. A replica that refused or dropped
  the connection is tried last for `replica_down_seconds`.

Two 4xx answers mean "not now" rather than "no", and are retried like a 5xx: 409
`idempotency_key_in_use` (the same call is still running there) and 429.

Exception tree::

    UpstreamError (shared.errors, 502)
    ├── Refused         the service answered 4xx; carries its error JSON (`answer`)
    └── Unavailable     503: no usable answer after every attempt
    TransactionHeldError (shared.db)   a call started inside a database transaction
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp
from prometheus_client import Counter

from shared.balancer import DOWN_SECONDS, Replicas, replay_safe
from shared.context import current_request_id
from shared.db import forbid_transaction
from shared.errors import UpstreamError
from shared.identity import Identity, TokenCache
from shared.scoped import Scope as Scope  # re-exported: what every call takes
from shared.settings import ServiceSettings
from shared.tracing import client_span, fail, inject, path_ids
from shared.tracing import enabled as tracing_enabled

log = logging.getLogger("micro.internal_client")

CALLS = Counter(
    "micro_internal_calls_total",
    "Calls to other Micro services, by caller, callee and how each attempt ended.",
    ["service", "upstream", "outcome"],
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


class Refused(UpstreamError):
    """A 4xx answer. Callers interpret the ones they expect (`reason_code`); any other
    reaches the client as a 502 rather than a bare 500."""

    def __init__(self, upstream: str, status: int, answer: dict[str, Any]) -> None:
        error = answer.get("error")
        error = error if isinstance(error, dict) else {}
        self.upstream = upstream
        self.upstream_status = status
        # The service's whole error JSON, as it sent it.
        self.answer = answer
        self.reason_code: str = str(error.get("code") or "unknown")
        self.reason: str = str(error.get("message") or f"answered {status}")
        super().__init__(
            f"The {upstream} service refused the call ({status} {self.reason_code}): {self.reason}",
            code="upstream_refused",
        )


class Unavailable(UpstreamError):
    status = 503

    def __init__(self, upstream: str, detail: str) -> None:
        self.upstream = upstream
        self.detail = detail
        super().__init__(f"The {upstream} service is unavailable: {detail}")


@dataclass(frozen=True, slots=True)
class CallPolicy:
    timeout: float
    connect_timeout: float
    attempts: int
    backoff: float
    backoff_max: float

    @classmethod
    def of(cls, settings: ServiceSettings) -> CallPolicy:
        return cls(
            timeout=settings.internal_timeout,
            connect_timeout=settings.internal_connect_timeout,
            attempts=settings.internal_attempts,
            backoff=settings.internal_backoff,
            backoff_max=settings.internal_backoff_max,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): full jitter, so
        callers that failed together do not come back together."""
        ceiling = min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    body: Mapping[str, Any] | None
    params: Mapping[str, str] | None
    idempotency_key: str | None


class _Failure(Enum):
    """How an attempt failed, which decides where the next one goes."""

    NOT_SENT = "not_sent"  # refused or never connected: the replica did nothing
    LOST = "lost"  # sent, then the connection broke: it may have done it
    TIMEOUT = "timeout"  # sent, and no answer in time: it may still be doing it
    ANSWERED = "answered"  # a 5xx or a "not now": it is up, and did not do it


class _NotNow(Exception):
    """One attempt met no usable answer; the next may."""

    def __init__(self, detail: str, failure: _Failure) -> None:
        super().__init__(detail)
        self.detail = detail
        self.failure = failure


class Upstream:
    """One service as this process calls it, over its replicas."""

    def __init__(
        self,
        client: InternalClient,
        *,
        name: str,
        base_url: str,
        down_seconds: float = DOWN_SECONDS,
    ) -> None:
        self.client = client
        self.name = name
        # `base_url` is the setting: one URL, or the replicas' comma-separated.
        self.replicas = Replicas.parse(name, base_url, down_seconds=down_seconds)

    async def call(
        self,
        method: str,
        path: str,
        scope: Scope | None,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        policy: CallPolicy | None = None,
    ) -> Answer:
        """The 2xx answer; Refused for a 4xx; Unavailable after the last attempt. `policy`
        replaces the process's for a caller that must answer sooner."""
        if not tracing_enabled():
            return await self._call(method, path, scope, body, params, idempotency_key, policy)
        attributes = {
            "http.request.method": method,
            "url.path": path.split("?")[0],
            "micro.upstream": self.name,
            **path_ids(path),
        }
        if scope is not None:
            attributes["micro.tenant_id"] = scope.tenant_id
            attributes["micro.mode"] = "live" if scope.livemode else "test"
        with client_span(f"{method} {self.name}", attributes=attributes) as span:
            try:
                answer = await self._call(
                    method, path, scope, body, params, idempotency_key, policy
                )
            except Refused as refused:
                if span is not None:
                    span.set_attribute("http.response.status_code", refused.upstream_status)
                raise
            except Unavailable:
                fail(span, "unavailable")
                raise
            if span is not None:
                span.set_attribute("http.response.status_code", answer.status)
            return answer

    async def _call(
        self,
        method: str,
        path: str,
        scope: Scope | None,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        idempotency_key: str | None,
        policy: CallPolicy | None,
    ) -> Answer:
        policy = policy or self.client.policy
        limits = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=policy.connect_timeout)
        request = _Request(method, path, body, params, idempotency_key)
        safe = replay_safe(method, idempotency_key=idempotency_key is not None)
        service = self.client.principal
        order = self.replicas.order()
        at = 0  # the replica of `order` this attempt goes to (wrapping round)
        for attempt in range(1, policy.attempts + 1):
            base_url = order[at % len(order)]
            forbid_transaction(f"a call to the {self.name} service ({method} {path})")
            try:
                answer = await self._attempt(base_url, request, scope, limits)
            except _NotNow as failed:
                CALLS.labels(service, self.name, "unavailable").inc()
                if failed.failure in (_Failure.NOT_SENT, _Failure.LOST):
                    self.replicas.failed(base_url)
                elif failed.failure is _Failure.ANSWERED:
                    self.replicas.succeeded(base_url)
                if attempt == policy.attempts:
                    raise Unavailable(self.name, failed.detail) from None
                log.info(
                    "internal call failed; retrying",
                    extra={"upstream": self.name, "path": path, "attempt": attempt,
                           "replica": base_url, "reason": failed.detail},
                )  # fmt: skip
                if failed.failure is _Failure.TIMEOUT or (
                    failed.failure is _Failure.LOST and not safe
                ):
                    next_at = at  # the same replica: see the module's docstring
                else:
                    next_at = at + 1
                # The backoff spares a struggling replica; one this call has not tried yet,
                # after one that did nothing at all, is owed no wait.
                if not (failed.failure is _Failure.NOT_SENT and next_at < len(order)):
                    await asyncio.sleep(policy.delay(attempt))
                at = next_at
            except Refused:
                self.replicas.succeeded(base_url)
                CALLS.labels(service, self.name, "refused").inc()
                raise
            else:
                self.replicas.succeeded(base_url)
                CALLS.labels(service, self.name, "ok").inc()
                return answer
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        base_url: str,
        request: _Request,
        scope: Scope | None,
        limits: aiohttp.ClientTimeout,
    ) -> Answer:
        # Signed per attempt: a retry late in a token's life gets a fresh one.
        headers = {"X-Micro-Identity": self.client.token(scope)}
        if request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        if request_id := current_request_id():
            headers["X-Request-Id"] = request_id
        inject(headers)
        try:
            async with self.client.http.request(
                request.method,
                base_url + request.path,
                json=request.body,
                params=request.params,
                headers=headers,
                timeout=limits,
            ) as response:
                status, raw = response.status, await response.read()
        except aiohttp.ConnectionTimeoutError:
            raise _NotNow(f"no connection in {limits.sock_connect:g}s", _Failure.NOT_SENT) from None
        except TimeoutError:
            raise _NotNow(f"no answer in {limits.total:g}s", _Failure.TIMEOUT) from None
        except aiohttp.ClientConnectorError as exc:
            raise _NotNow(str(exc) or type(exc).__name__, _Failure.NOT_SENT) from None
        except aiohttp.ClientError as exc:
            raise _NotNow(str(exc) or type(exc).__name__, _Failure.LOST) from None
        answer = _json_object(raw)
        if (
            status >= 500
            or status == 429
            or (status == 409 and _code(answer) == "idempotency_key_in_use")
        ):
            raise _NotNow(f"answered {status} {_code(answer) or ''}".rstrip(), _Failure.ANSWERED)
        if status >= 400:
            raise Refused(self.name, status, answer)
        return Answer(status, answer)


class InternalClient:
    """The process's calls to other services: one session, one token cache, one policy."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        principal: str,
        signing_key: str,
        policy: CallPolicy,
        down_seconds: float = DOWN_SECONDS,
    ) -> None:
        self.http = http
        self.principal = principal
        self.policy = policy
        self.down_seconds = down_seconds
        self._tokens = TokenCache(signing_key)

    def upstream(self, name: str, base_url: str) -> Upstream:
        """`base_url`: the service's URL setting, one URL or its replicas' comma-separated."""
        return Upstream(self, name=name, base_url=base_url, down_seconds=self.down_seconds)

    def token(self, scope: Scope | None) -> str:
        identity = Identity(
            principal=self.principal,
            principal_type="service",
            tenant_id=scope.tenant_id if scope else None,
            livemode=scope.livemode if scope else False,
        )
        return self._tokens.get(identity)


def signing_key(settings: ServiceSettings) -> str:
    """The key internal identity tokens are signed with."""
    return settings.identity_key


@asynccontextmanager
async def open_internal_client(settings: ServiceSettings) -> AsyncIterator[InternalClient]:
    """The process's client, for the lifespan; its connections close when the block ends."""
    # Bounded, so a slow upstream makes calls queue here rather than pile up there.
    connector = aiohttp.TCPConnector(limit=settings.internal_max_connections)
    async with aiohttp.ClientSession(connector=connector) as http:
        yield InternalClient(
            http,
            principal=settings.service,
            signing_key=signing_key(settings),
            policy=CallPolicy.of(settings),
            down_seconds=settings.replica_down_seconds,
        )


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
