"""The payment intent's state machine, as pure rules (no I/O): which action each status
allows, and what a provider's word about an attempt does to an intent.

    requires_payment_method -> requires_confirmation -> (requires_action) -> (processing) ->
    succeeded | requires_capture -> succeeded;   any of the unfinished ones -> canceled.

`service/intents.py` applies these under the intent's row lock.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from services.payments.errors import UnexpectedStateError
from services.payments.providers.base import Outcome, attempt_reference
from services.payments.repository.intents import IntentRow

Action = Literal["update", "confirm", "authenticate", "cancel", "capture", "refund"]

CONFIRMABLE = frozenset({"requires_payment_method", "requires_confirmation"})
# What a confirm leaves an intent in.
CONFIRMED = frozenset({"requires_action", "processing", "requires_capture", "succeeded"})
UPDATABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})
CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)
# Where a provider's late word may still move an intent (success from any of them; a
# failure never undoes a success or a cancellation).
OPEN = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)
ABANDONABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

# The statuses each action may start from.
ALLOWED: dict[Action, frozenset[str]] = {
    "update": UPDATABLE,
    "confirm": CONFIRMABLE,
    "authenticate": frozenset({"requires_action"}),
    "cancel": CANCELABLE,
    "capture": frozenset({"requires_capture"}),
    "refund": frozenset({"succeeded"}),
}


def check_action(intent: IntentRow, action: Action) -> None:
    """Refuse an action the intent's status does not allow (400
    payment_intent_unexpected_state)."""
    if intent.status not in ALLOWED[action]:
        raise UnexpectedStateError(intent.id, intent.status, action)


def current_reference(intent: IntentRow) -> str:
    """The provider reference of the intent's latest attempt."""
    return attempt_reference(intent.id, intent.attempts)


def judge(intent: IntentRow, outcome: Outcome, *, reference: str) -> str:
    """A provider's later word (webhook, re-verification, the customer's return) about one
    attempt (`reference`). Tolerates any order: a success lands from any open state and any
    attempt (the money moved), a failure only for the current attempt while nothing better
    is known, and nothing moves a finished intent.

    The verdict: "succeeded" and "payment_failed" change the intent; every other one leaves
    it as it is, and is recorded as what was done."""
    if outcome.kind not in ("authorized", "declined"):
        return "still_pending"
    if intent.status not in OPEN:
        return f"ignored_{intent.status}"
    if outcome.kind == "authorized":
        if outcome.amount != intent.amount or outcome.currency != intent.currency:
            # Never count money the intent did not ask for (or a provider did not state):
            # leave it for a human to look at.
            return "amount_mismatch"
        return "succeeded"
    if reference != current_reference(intent):
        return "ignored_old_attempt"
    if intent.status == "requires_payment_method" and intent.last_payment_error:
        return "already_failed"
    return "payment_failed"


def action_token(next_action: dict[str, Any] | None) -> str | None:
    """The one-time token in the simulator's authentication URL, if the intent has one."""
    if not next_action:
        return None
    url = next_action.get("redirect_to_url", {}).get("url", "")
    tokens = parse_qs(urlparse(url).query).get("token")
    return tokens[0] if tokens else None
