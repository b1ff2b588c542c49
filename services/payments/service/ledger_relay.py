"""Carries the outbox to the ledger until the ledger takes each posting, or refuses it.

A row is posted with its reference (the intent id), so a retry after a crash, a timeout or
a lost answer can never post twice: the ledger replays the original instead. The accounts
a posting names are created on first use, in the currency the row records (by code, which
is idempotent too).

An attempt holds no transaction across its call: it claims the row (its next attempt moved
past one call's time, so other relays leave it be; a relay that dies leaves it due again
then), posts it through the internal client, and records what happened:

- taken: posted;
- refused, a 4xx (an unknown account, not enough funds in a wallet): the same posting
  would be refused forever, so it is never sent again. It is marked failed with the
  ledger's error, announced as `ledger.posting.failed`, counted in
  `micro_ledger_postings_refused_total` and shown by `micro dev status`, for an operator
  (a simulator refund's refused posting also fails the refund itself, with its reason:
  `refunds.fail_refused_posting`);
- unavailable (no answer or a 5xx, after the client's own retries): tried again later,
  after an exponential backoff capped at five minutes.

A 401 is not the ledger refusing the posting but refusing us (identity keys out of step
during a rotation): the posting is kept and retried like an outage.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import replace
from datetime import timedelta
from enum import Enum
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge

from services.payments.repository import outbox as outbox_repo
from services.payments.repository.outbox import PostingRow
from services.payments.schemas import LedgerPosting
from services.payments.service import events, refunds
from services.payments.settings import PaymentsSettings
from shared.aio import wait_event
from shared.db import Pool, transaction
from shared.internal_client import (
    CallPolicy,
    Refused,
    Scope,
    Unavailable,
    Upstream,
)
from shared.ledger_contract import open_account, payments_accounts
from shared.tracing import resumed

log = logging.getLogger("micro.payments.ledger_relay")

_MAX_DELAY = 300.0
# How soon a request's own attempt that found the ledger away is tried again.
_DELIVER_RETRY = 0.5

REFUSED = Counter(
    "micro_ledger_postings_refused_total",
    "Postings the ledger refused (4xx), marked failed and never sent again, by the "
    "ledger's error code.",
    ["service", "code"],
)
FAILED = Gauge(
    "micro_ledger_postings_failed",
    "Postings marked failed after a ledger refusal, waiting for an operator (every "
    "replica reports the same count, read from the database).",
    ["service"],
)
# A label value must come from a small set: the ledger's error codes are snake_case words.
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Outcome(Enum):
    POSTED = "posted"
    REFUSED = "refused"
    LATER = "later"


class LedgerRelay:
    def __init__(self, pool: Pool, ledger: Upstream, settings: PaymentsSettings) -> None:
        self.pool = pool
        self.ledger = ledger
        self.settings = settings
        # Long enough for one attempt at a call; a second relay taking a row whose call
        # outlasts it only makes the ledger replay the posting.
        self.hold = timedelta(seconds=ledger.client.policy.timeout)
        self._wake = asyncio.Event()
        # (scope, currency) whose accounts this process has opened already.
        self._accounts_ready: set[tuple[Scope, str]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await wait_event(self._wake, self.settings.relay_interval)
            self._wake.clear()
            try:
                while await self.relay_one():
                    pass
                await self.count_failed()
            except (OSError, asyncpg.PostgresError):  # the database is away: next round
                log.warning("ledger relay round failed", exc_info=True)

    async def relay_one(self) -> bool:
        """Attempt the next due row; False when none was due."""
        async with transaction(self.pool) as conn:
            row = await outbox_repo.claim_due(conn, hold=self.hold)
        if row is None:
            return False
        await self._attempt(row, max_delay=_MAX_DELAY)
        return True

    async def deliver(self, reference_id: str, *, wait: float) -> bool:
        """Post one reference's row now, from the request that owes it, waiting at most
        about `wait` seconds; True once the ledger holds it. When the ledger cannot be
        reached (or refuses it) this gives up at once: the background relay keeps trying,
        and nothing waits on it."""
        deadline = time.monotonic() + wait
        while True:
            # Single statements, each atomic on its own: no BEGIN and COMMIT round trips
            # around them (a request's posting is claimed and marked once per payment).
            async with self.pool.acquire() as conn:
                row = await outbox_repo.claim_reference(conn, reference_id, hold=self.hold)
                state = None if row is not None else await outbox_repo.outbox_state(
                    conn, reference_id
                )  # fmt: skip
            left = deadline - time.monotonic()
            if row is not None:
                # One attempt, bounded by what is left of the wait: a request never waits
                # out the background relay's retries.
                policy = self.ledger.client.policy
                soon = replace(policy, attempts=1, timeout=min(policy.timeout, max(left, 0.05)))
                outcome = await self._attempt(row, max_delay=_DELIVER_RETRY, policy=soon)
                return outcome is Outcome.POSTED
            if state == "posted":
                return True
            if state != "pending" or left <= 0:
                return False
            # Another relay is posting it right now, or it waits out a backoff.
            await asyncio.sleep(0.02)

    async def count_failed(self) -> None:
        async with transaction(self.pool) as conn:
            failed = await outbox_repo.count_refused(conn)
        FAILED.labels(self.settings.service).set(failed)

    async def _attempt(
        self,
        row: PostingRow,
        *,
        max_delay: float,
        policy: CallPolicy | None = None,
    ) -> Outcome:
        """Post a claimed row, then record the outcome in a transaction of its own."""
        scope = Scope(row.tenant_id, row.livemode)
        try:
            # In the owing request's trace, from the request or from the background relay.
            with resumed(row.traceparent):
                await self._post(scope, row.body, row.currency, policy=policy)
        except Refused as refused:
            if refused.upstream_status != 401:
                await self._refused(row, refused)
                return Outcome.REFUSED
            reason = refused.message
        except Unavailable as unavailable:
            reason = unavailable.message
        else:
            async with self.pool.acquire() as conn:  # one statement: atomic on its own
                await outbox_repo.mark_posted(conn, row.id)
            return Outcome.POSTED
        retry_in = min(max_delay, 0.5 * 2**row.attempts)
        async with transaction(self.pool) as conn:
            await outbox_repo.mark_retry(conn, row.id, error=reason, delay=retry_in)
        log.warning(
            "ledger posting failed; will retry",
            extra={"reference_id": row.reference_id, "retry_in": retry_in, "reason": reason},
        )
        return Outcome.LATER

    async def _refused(self, row: PostingRow, refused: Refused) -> None:
        error = refused.answer.get("error")
        error = error if isinstance(error, dict) else {}
        failure = {
            "status": refused.upstream_status,
            "type": error.get("type"),
            "code": refused.reason_code,
            "message": refused.reason,
        }
        async with transaction(self.pool) as conn:
            failed = await outbox_repo.mark_refused(
                conn, row.id, error=refused.message, failure=failure
            )
            await events.emit(
                conn,
                "ledger.posting.failed",
                LedgerPosting.from_row(failed),
                tenant_id=failed.tenant_id,
                livemode=failed.livemode,
            )
            if row.reference_id.startswith("re_"):
                # A simulator refund out of a wallet emptied since its funds were checked
                # ends failed with the reason, rather than succeeded with no posting.
                await refunds.fail_refused_posting(conn, row.reference_id, code=refused.reason_code)
        code = refused.reason_code if _CODE.match(refused.reason_code) else "other"
        REFUSED.labels(self.settings.service, code).inc()
        FAILED.labels(self.settings.service).inc()
        log.error(
            "the ledger refused a posting; it will not be sent again",
            extra={"reference_id": row.reference_id, "status": refused.upstream_status,
                   "code": refused.reason_code, "reason": refused.reason},
        )  # fmt: skip

    async def _post(
        self, scope: Scope, body: dict[str, Any], currency: str, *, policy: CallPolicy | None
    ) -> None:
        await self._open_accounts(scope, currency, policy)
        await self.ledger.call("POST", "/ledger/transactions", scope, body=body, policy=policy)

    async def _open_accounts(self, scope: Scope, currency: str, policy: CallPolicy | None) -> None:
        """Payments' own accounts in the posting's currency, once per process."""
        if (scope, currency) in self._accounts_ready:
            return
        for account in payments_accounts(currency):
            await open_account(self.ledger, scope, account, policy=policy)
        self._accounts_ready.add((scope, currency))
