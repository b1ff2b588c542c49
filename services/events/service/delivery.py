"""Signed deliveries to webhook endpoints, retried on `RETRY_SCHEDULE` (settings.py).

A worker claims due deliveries in small batches (`FOR UPDATE SKIP LOCKED` plus a lease, so
two replicas never run the same attempt), POSTs the event's stored bytes signed in the
endpoint's scheme (Standard Webhooks headers, or `Stripe-Signature`: shared/webhooks.py), and
records the attempt. 2xx is delivered; anything else is tried again
after the next delay of the schedule until it runs out. 410 Gone disables the endpoint at
once; an endpoint that has failed without a single success for `disable_after_seconds` is
disabled too. Either way the tenant gets a `webhook_endpoint.disabled` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from services.events import metrics
from services.events.repository import deliveries as deliveries_repo
from services.events.repository import endpoints as endpoints_repo
from services.events.service import urls
from services.events.service.endpoints import disable_endpoint
from services.events.service.signing import signing_secrets
from services.events.settings import RETRY_SCHEDULE, EventsSettings
from shared import webhooks
from shared.aio import wait_event
from shared.cipher import Cipher
from shared.db import Connection, Pool, forbid_transaction, in_transaction, transaction
from shared.errors import MicroError
from shared.ids import new_id
from shared.tracing import TRACEPARENT, client_span, current_traceparent, fail

log = logging.getLogger("micro.events.delivery")

ATTEMPT_PREFIX = "whatt"
USER_AGENT = "Micro-Webhooks/1.0"
_MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def next_attempt_at(attempt: int, outcome: Outcome, *, scale: float) -> datetime | None:
    """When to try again after attempt number `attempt` (1-based); None: never."""
    if outcome.succeeded or outcome.gone or attempt >= len(RETRY_SCHEDULE):
        return None
    return outcome.finished_at + timedelta(seconds=RETRY_SCHEDULE[attempt] * scale)


def _attempt_row(
    claimed: deliveries_repo.Claimed, outcome: Outcome, retry_at: datetime | None
) -> deliveries_repo.Attempt:
    return deliveries_repo.Attempt(
        id=new_id(ATTEMPT_PREFIX),
        delivery_id=claimed.id,
        event_id=claimed.event_id,
        endpoint_id=claimed.endpoint_id,
        tenant_id=claimed.tenant_id,
        livemode=claimed.livemode,
        attempt=claimed.attempts,
        url=claimed.url,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        next_attempt_at=retry_at,
    )


async def record(
    conn: Connection,
    claimed: deliveries_repo.Claimed,
    outcome: Outcome,
    *,
    settings: EventsSettings,
) -> None:
    """Write down one attempt and what follows from it, in one transaction."""
    attempt = claimed.attempts
    retry_at = next_attempt_at(attempt, outcome, scale=settings.retry_scale)
    if outcome.succeeded:
        status = "succeeded"
    elif retry_at is not None:
        status = "pending"
    else:
        status = "failed"
    await deliveries_repo.finish(
        conn, claimed.id, attempt=attempt, status=status, next_attempt_at=retry_at
    )
    await deliveries_repo.insert_attempt(conn, _attempt_row(claimed, outcome, retry_at))
    if outcome.succeeded:
        await endpoints_repo.clear_failing(conn, claimed.endpoint_id)
        metrics.attempted("succeeded", payload=claimed.payload)
        return
    disabled = False
    if outcome.gone:
        disabled = await disable_endpoint(conn, claimed.endpoint_id, reason="gone")
    else:
        since = await endpoints_repo.mark_failing(conn, claimed.endpoint_id)
        failing_for = (outcome.finished_at - since).total_seconds() if since else 0.0
        if failing_for >= settings.disable_after_seconds:
            disabled = await disable_endpoint(conn, claimed.endpoint_id, reason="failing")
    if disabled:
        metrics.attempted("disabled")
    else:
        metrics.attempted("retrying" if status == "pending" else "failed")


Finished = tuple[deliveries_repo.Claimed, Outcome]


async def record_many(
    conn: Connection, finished: Sequence[Finished], *, settings: EventsSettings
) -> None:
    """`record` for many attempts in one transaction, with the same result as recording
    them one after the other in this order: each run of successes in three statements,
    each failure (rare, and what retries and disabling follow from) on its own."""
    successes: list[Finished] = []
    for claimed, outcome in finished:
        if outcome.succeeded:
            successes.append((claimed, outcome))
            continue
        await _record_succeeded(conn, successes)
        successes = []
        await record(conn, claimed, outcome, settings=settings)
    await _record_succeeded(conn, successes)


async def _record_succeeded(conn: Connection, successes: Sequence[Finished]) -> None:
    if not successes:
        return
    await deliveries_repo.finish_succeeded(
        conn, [(claimed.id, claimed.attempts) for claimed, _ in successes]
    )
    await deliveries_repo.insert_attempts(
        conn, [_attempt_row(claimed, outcome, None) for claimed, outcome in successes]
    )
    # Sorted: replicas clearing the same endpoints lock them in one order.
    await endpoints_repo.clear_failing_many(
        conn, sorted({claimed.endpoint_id for claimed, _ in successes})
    )
    for claimed, _ in successes:
        metrics.attempted("succeeded", payload=claimed.payload)


class Recorder:
    """Records finished attempts in batches: one transaction (one commit to wait for) for
    every attempt that finished while the previous batch was being written, rather than one
    each. `record` returns once the attempt is committed, so an attempt's slot is freed only
    after its outcome is durable; a batch that fails is recorded again one attempt per
    transaction, and an attempt that cannot be recorded at all is made again when its lease
    runs out (at least once, never lost)."""

    def __init__(self, pool: Pool, settings: EventsSettings) -> None:
        self.pool = pool
        self.settings = settings
        self._queue: list[tuple[Finished, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, claimed: deliveries_repo.Claimed, outcome: Outcome) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queue.append(((claimed, outcome), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a cancelled attempt (shutdown) leaves its batch to finish for the others.
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._queue:
            batch = self._queue[: self.settings.delivery_record_batch]
            del self._queue[: len(batch)]
            finished = [item for item, _ in batch]
            try:
                await in_transaction(
                    self.pool,
                    functools.partial(record_many, finished=finished, settings=self.settings),
                )
            except Exception:
                if len(finished) > 1:
                    log.warning("could not record a batch of attempts; one by one", exc_info=True)
                await self._one_by_one(finished)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _one_by_one(self, finished: Sequence[Finished]) -> None:
        for claimed, outcome in finished:
            try:
                async with transaction(self.pool) as conn:
                    await record(conn, claimed, outcome, settings=self.settings)
            except Exception:
                # The lease runs out and the attempt is made again: at least once, never lost.
                log.exception("could not record a delivery attempt")

    async def stop(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


class Deliverer:
    def __init__(
        self, pool: Pool, settings: EventsSettings, sessions: Sessions, *, cipher: Cipher
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.sessions = sessions
        self.cipher = cipher
        self.recorder = Recorder(pool, settings)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        # Attempts under way per endpoint, for the per-endpoint cap.
        self._per_endpoint: dict[str, int] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await wait_event(self._wake, self.settings.delivery_poll_interval)
            self._wake.clear()
            try:
                await self.pump()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("delivery round failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
            except Exception:
                # A bug must not stop deliveries for good; what was claimed is retried later.
                log.exception("delivery round failed unexpectedly")
                await asyncio.sleep(1.0)

    async def pump(self) -> None:
        """Start attempts for due deliveries until none is due or every slot is busy."""
        while True:
            room = self.settings.delivery_concurrency - len(self._running)
            if room <= 0:
                return  # a finishing attempt wakes the worker
            lease = self.settings.delivery_timeout + self.settings.delivery_lease_margin
            # One statement, so no explicit transaction: it commits (or not) as a whole.
            async with self.pool.acquire() as conn:
                claimed = await deliveries_repo.claim_due(
                    conn,
                    limit=room,
                    lease_seconds=lease,
                    per_endpoint=self.settings.endpoint_concurrency,
                    running=self._per_endpoint,
                )
            for delivery in claimed:
                endpoint_id = delivery.endpoint_id
                self._per_endpoint[endpoint_id] = self._per_endpoint.get(endpoint_id, 0) + 1
                task = asyncio.create_task(self._attempt(delivery))
                self._running.add(task)
                task.add_done_callback(functools.partial(self._finished, endpoint_id))
            if len(claimed) < room:
                return

    def _finished(self, endpoint_id: str, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        left = self._per_endpoint.pop(endpoint_id, 1) - 1
        if left > 0:
            self._per_endpoint[endpoint_id] = left
        self.wake()

    async def drain(self) -> None:
        """Wait for the attempts under way (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def stop(self, *, grace: float) -> None:
        """Let the attempts under way finish for up to `grace` seconds, then cancel them
        (their leases run out and they are made again later)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.drain()
        for task in list(self._running):
            task.cancel()
        await self.drain()
        await self.recorder.stop()

    async def _attempt(self, claimed: deliveries_repo.Claimed) -> None:
        outcome = await self.send(claimed)
        await self.recorder.record(claimed, outcome)

    async def send(self, claimed: deliveries_repo.Claimed) -> Outcome:
        """One attempt; with tracing on, a CLIENT span of the event's trace."""
        attributes = {
            "micro.tenant_id": claimed.tenant_id,
            "micro.mode": "live" if claimed.livemode else "test",
            "micro.event_id": claimed.event_id,
            "micro.webhook_endpoint_id": claimed.endpoint_id,
            "micro.delivery_id": claimed.id,
            "micro.attempt": claimed.attempts,
        }
        with client_span(
            "webhook deliver", parent=claimed.traceparent, attributes=attributes
        ) as span:
            outcome = await self._send(claimed, current_traceparent() or claimed.traceparent)
            if span is not None:
                if outcome.status_code is not None:
                    span.set_attribute("http.response.status_code", outcome.status_code)
                if not outcome.succeeded:
                    # Ours, never the receiver's answer (its body is the tenant's).
                    fail(span, "no answer" if outcome.status_code is None else "not 2xx")
            return outcome

    async def _send(self, claimed: deliveries_repo.Claimed, traceparent: str | None) -> Outcome:
        body = claimed.payload.encode()
        guarded = claimed.livemode and not self.settings.allow_private_live_urls
        forbid_transaction("a webhook delivery")
        started, clock = datetime.now(UTC), time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            secrets = signing_secrets(claimed, self.cipher)
            headers = {
                **webhooks.signed_headers(claimed.signature, secrets, claimed.event_id, body),
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            }
            if traceparent:
                headers[TRACEPARENT] = traceparent
            if guarded:
                # aiohttp connects to an IP-literal host without asking the resolver.
                urls.refuse_host(urls.host_of(claimed.url))
            timeout = aiohttp.ClientTimeout(total=self.settings.delivery_timeout)
            session = self.sessions.guarded if guarded else self.sessions.open
            async with session.post(
                claimed.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                if 300 <= status < 400:
                    # Never followed (as Stripe): the receiver must give its final URL.
                    location = response.headers.get("Location", "")
                    error = f"HTTP {status}: redirect to {location!r} not followed"
                elif not 200 <= status < 300:
                    error = f"HTTP {status}: {await _snippet(response)}"
        except MicroError as exc:  # a secret the configured keys cannot decrypt
            error = exc.message
        except urls.DestinationRefusedError as exc:
            error = f"refused: {exc}"
        except aiohttp.ClientConnectorDNSError as exc:
            refused = isinstance(exc.os_error, urls.DestinationRefusedError)
            error = f"refused: {exc.os_error}" if refused else f"DNS lookup failed: {exc}"
        except TimeoutError:
            error = f"timed out after {self.settings.delivery_timeout:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception:
            log.exception("delivery attempt failed unexpectedly")
            error = "internal error while sending"
        elapsed = time.perf_counter() - clock
        return Outcome(
            started_at=started,
            finished_at=started + timedelta(seconds=elapsed),
            duration_ms=round(elapsed * 1000),
            status_code=status,
            error=error[:_MAX_ERROR] if error else None,
        )


async def _snippet(response: aiohttp.ClientResponse) -> str:
    """The start of an error answer, for the attempt log (never the whole of it)."""
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, UnicodeDecodeError):
        chunk = await response.content.read(200)
        return chunk.decode("utf-8", errors="replace").strip() or response.reason or ""
    return response.reason or ""


@dataclass(frozen=True, slots=True)
class Sessions:
    """One HTTP client for test mode, one for live mode that only reaches allowed addresses."""

    open: aiohttp.ClientSession
    guarded: aiohttp.ClientSession


@asynccontextmanager
async def http_sessions(
    concurrency: int, *, resolver: AbstractResolver | None = None
) -> AsyncIterator[Sessions]:
    """`resolver`: how names are looked up (tests pass one they control); live mode's session
    checks what it answers before connecting."""

    def session(resolver: AbstractResolver) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=concurrency, resolver=resolver)
        # No cookie jar: one tenant's endpoint must not set cookies another's requests send.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    lookup = resolver or DefaultResolver()
    async with (
        session(lookup) as open_session,
        session(urls.GuardedResolver(lookup)) as guarded,
    ):
        yield Sessions(open=open_session, guarded=guarded)
