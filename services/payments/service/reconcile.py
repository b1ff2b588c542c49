"""The reconciliation job: what nobody told us, we go and ask.

Each round (every `reconcile_interval` seconds, in every replica) re-verifies with its
provider every hosted intent left in `requires_action`/`processing` and every payout left
`pending` for longer than `reconcile_after`, and every provider refund left `pending` that
long since last heard of (by the provider's refund id), and cancels intents nobody finished within
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
from typing import TYPE_CHECKING

import asyncpg

from services.payments.repository import intents as intents_repo
from services.payments.repository import payouts as payouts_repo
from services.payments.repository import refunds as refunds_repo
from services.payments.service import intents, steps
from services.payments.service.changes import Changed
from services.payments.service.lifecycle import ABANDONABLE
from services.payments.service.provider_accounts import ProviderSource
from services.payments.settings import PaymentsSettings
from shared.db import Pool, transaction

if TYPE_CHECKING:
    from services.payments.state import PaymentsState

log = logging.getLogger("micro.payments.reconcile")

_RECHECK = ("requires_action", "processing")


async def reconcile_once(
    pool: Pool, source: ProviderSource, settings: PaymentsSettings
) -> Changed[Counter[str]]:
    """One round: what was done, counted, and the postings it owes the ledger."""
    done: Counter[str] = Counter()
    owes: list[str] = []
    async with transaction(pool) as conn:
        stuck = await intents_repo.stale_intents(
            conn, statuses=_RECHECK, older_than=settings.reconcile_after
        )
        abandoned = await intents_repo.stale_intents(
            conn, statuses=ABANDONABLE, older_than=settings.abandon_after
        )
        # Processing this long and the provider still has no answer: the customer never
        # paid (a hosted page they never reached, say).
        silent = set(
            await intents_repo.stale_intents(
                conn, statuses=("processing",), older_than=settings.abandon_after
            )
        )
        pending = await payouts_repo.stale_payouts(conn, older_than=settings.reconcile_after)
        refunding = await refunds_repo.stale_refunds(conn, older_than=settings.reconcile_after)
    for intent_id in stuck:
        # In steps (`service/steps.py`): the provider is asked with no connection held.
        reverified = await steps.reverify_intent(
            pool, source, intent_id, statuses=_RECHECK, abandon_if_pending=intent_id in silent
        )
        if reverified is None:
            continue
        result, what = reverified
        owes.extend(result.owes)
        done[f"intent_{what}"] += 1
    for intent_id in abandoned:
        async with transaction(pool) as conn:
            row = await intents_repo.lock_intent_by_id(conn, intent_id)
            if row is None or row.status not in ABANDONABLE:
                continue
            await intents.abandon(conn, row)
            done["intent_abandoned"] += 1
    for payout_id in pending:
        reverified_payout = await steps.reverify_payout(pool, source, payout_id)
        if reverified_payout is None:
            continue
        settled, what = reverified_payout
        owes.extend(settled.owes)
        done[f"payout_{what}"] += 1
    for refund_id in refunding:
        reverified_refund = await steps.reverify_refund(pool, source, refund_id)
        if reverified_refund is None:
            continue
        refunded, what = reverified_refund
        owes.extend(refunded.owes)
        done[f"refund_{what}"] += 1
    return Changed(done, owes=tuple(owes))


async def reconcile_forever(payments: PaymentsState) -> None:
    """The job: a round every `reconcile_interval` seconds, until cancelled."""
    settings = payments.settings
    while True:
        await asyncio.sleep(settings.reconcile_interval)
        try:
            reconciled = await reconcile_once(payments.pool, payments.providers, settings)
        except (OSError, asyncpg.PostgresError):
            log.warning("reconciliation round failed", exc_info=True)
            continue
        await steps.hand_over(payments.relay, reconciled.owes)
        if reconciled.value:
            log.info("reconciled", extra={"done": dict(reconciled.value)})
