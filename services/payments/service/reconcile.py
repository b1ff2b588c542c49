"""The reconciliation job: what nobody told us, we go and ask.

Each round (every `reconcile_interval` seconds, in every replica) re-verifies with its
provider every hosted intent left in `requires_action`/`processing` and every payout left
`pending` for longer than `reconcile_after`, and cancels intents nobody finished within
`abandon_after` (cancellation_reason "abandoned", as Stripe does), including ones still
`processing` then whose provider has no payment for them. An intent a crash left
`processing` between its claim and its outcome is among them: its attempt's reference is
what the provider is asked about. The provider is asked with no connection held, and its
answer is applied under the row's lock, so two replicas asking about one object apply it
once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from services.payments import repository
from services.payments.service import intents, steps
from services.payments.service.accounts import ProviderSource, providers_of
from services.payments.service.ledger_relay import relay_of
from services.payments.settings import PaymentsSettings
from shared.aio import stop
from shared.db import Pool, transaction
from shared.state import AppState

log = logging.getLogger("micro.payments.reconcile")

_RECHECK = ("requires_action", "processing")


async def reconcile_once(
    pool: Pool, source: ProviderSource, settings: PaymentsSettings
) -> tuple[Counter[str], bool]:
    """One round: (what was done, counted; whether the ledger is owed something new)."""
    done: Counter[str] = Counter()
    owes = False
    async with transaction(pool) as conn:
        stuck = await repository.stale_intents(
            conn, statuses=_RECHECK, older_than=settings.reconcile_after
        )
        abandoned = await repository.stale_intents(
            conn, statuses=intents.ABANDONABLE, older_than=settings.abandon_after
        )
        # Processing this long and the provider still has no answer: the customer never
        # paid (a hosted page they never reached, say).
        silent = set(
            await repository.stale_intents(
                conn, statuses=("processing",), older_than=settings.abandon_after
            )
        )
        pending = await repository.stale_payouts(conn, older_than=settings.reconcile_after)
    for intent_id in stuck:
        # In steps (`service/steps.py`): the provider is asked with no connection held.
        reverified = await steps.reverify_intent(
            pool, source, intent_id, statuses=_RECHECK, abandon_if_pending=intent_id in silent
        )
        if reverified is None:
            continue
        result, what = reverified
        owes = owes or result.owes_ledger
        done[f"intent_{what}"] += 1
    for intent_id in abandoned:
        async with transaction(pool) as conn:
            row = await repository.lock_intent_by_id(conn, intent_id)
            if row is None or row["status"] not in intents.ABANDONABLE:
                continue
            await intents.abandon(conn, row)
            done["intent_abandoned"] += 1
    for payout_id in pending:
        payout_done = await steps.reverify_payout(pool, source, payout_id)
        if payout_done is None:
            continue
        payout_owes, what = payout_done
        owes = owes or payout_owes
        done[f"payout_{what}"] += 1
    return done, owes


@asynccontextmanager
async def reconciler(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, PaymentsSettings)

    async def loop() -> None:
        while True:
            await asyncio.sleep(settings.reconcile_interval)
            try:
                done, owes = await reconcile_once(state.db, providers_of(state), settings)
            except (OSError, asyncpg.PostgresError):
                log.warning("reconciliation round failed", exc_info=True)
                continue
            if owes:
                relay_of(state).wake()
            if done:
                log.info("reconciled", extra={"done": dict(done)})

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await stop(task)
