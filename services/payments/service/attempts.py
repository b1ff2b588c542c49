"""Payment attempts: every time an intent is sent to a provider, recorded and announced.

An attempt is recorded `pending` when it is claimed (`payment_attempt.created`), in the
transaction of the claim. From then on it follows its intent: whenever the intent changes
while the attempt is its latest (`latest_charge`), `follow` reads the attempt's status off
the intent and, when it changed, records it (`payment_attempt.updated`). An attempt failed
over to the next provider is ended by `fail` with why. Final states (succeeded, failed,
canceled) stay final, but for a success (money that moved is never unsaid).
"""

from __future__ import annotations

from services.payments.errors import PaymentIntentNotFoundError
from services.payments.repository import attempts as attempts_repo
from services.payments.repository import intents as intents_repo
from services.payments.repository.attempts import AttemptRow
from services.payments.repository.intents import IntentRow
from services.payments.schemas import PaymentAttempt
from services.payments.service import events
from shared.db import Connection, Pool, transaction
from shared.identity import Identity

CREATED = "payment_attempt.created"
UPDATED = "payment_attempt.updated"
_FINAL = frozenset({"succeeded", "failed", "canceled"})
_BY_INTENT_STATUS = {
    "processing": "pending",
    "requires_action": "requires_action",
    "requires_capture": "succeeded",
    "succeeded": "succeeded",
    "canceled": "canceled",
}


async def record(
    conn: Connection, intent: IntentRow, *, attempt_id: str, number: int, provider: str,
    reference: str,
) -> AttemptRow:  # fmt: skip
    made = await attempts_repo.insert_attempt(
        conn, id=attempt_id, intent_id=intent.id, tenant_id=intent.tenant_id,
        livemode=intent.livemode, number=number, provider=provider,
        provider_reference=reference,
    )  # fmt: skip
    await _announce(conn, CREATED, made)
    return made


async def follow(conn: Connection, intent: IntentRow) -> None:
    """Bring the intent's latest attempt in line with what just happened to the intent."""
    if intent.latest_charge is None:
        return
    status, code, message = _status_of(intent)
    if status is None:
        return
    # Unless it is there already, or final (only a success changes a final attempt): one
    # statement, read and written together.
    updated = await attempts_repo.follow_attempt(
        conn, intent.latest_charge, status=status, error_code=code, error_message=message,
        final=_FINAL,
    )  # fmt: skip
    if updated is not None:
        await _announce(conn, UPDATED, updated)


async def fail(conn: Connection, attempt_id: str, *, code: str, message: str) -> None:
    """End an attempt that took no money at its provider (before trying the next one)."""
    attempt = await attempts_repo.get_attempt(conn, attempt_id)
    if attempt is not None and attempt.status not in _FINAL:
        await _update(conn, attempt, "failed", code, message)


async def list_attempts(pool: Pool, identity: Identity, intent_id: str) -> list[PaymentAttempt]:
    async with transaction(pool) as conn:
        intent = await intents_repo.get_intent(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
        )
        if intent is None:
            raise PaymentIntentNotFoundError(intent_id)
        found = await attempts_repo.list_attempts(conn, intent_id)
    return [PaymentAttempt.from_row(attempt) for attempt in found]


def _status_of(intent: IntentRow) -> tuple[str | None, str | None, str | None]:
    error = intent.last_payment_error
    if intent.status == "requires_payment_method" and error:
        return "failed", error.get("decline_code") or error.get("code"), error.get("message")
    return _BY_INTENT_STATUS.get(intent.status), None, None


async def _update(
    conn: Connection, attempt: AttemptRow, status: str, code: str | None, message: str | None
) -> None:
    updated = await attempts_repo.update_attempt(
        conn, attempt.id, status=status, error_code=code, error_message=message
    )
    await _announce(conn, UPDATED, updated)


async def _announce(conn: Connection, type: str, attempt: AttemptRow) -> None:
    await events.emit(
        conn, type, PaymentAttempt.from_row(attempt), tenant_id=attempt.tenant_id,
        livemode=attempt.livemode,
    )  # fmt: skip
