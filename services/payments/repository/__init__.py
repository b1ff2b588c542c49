"""All SQL of payments, one module per table family; imported from here as `repository`."""

from __future__ import annotations

from services.payments.repository.intents import (
    get_payment_intent,
    insert_intent,
    list_payment_intents,
    lock_intent,
    lock_intent_by_id,
    lock_intent_for_account,
    stale_intents,
    update_intent,
)
from services.payments.repository.outbox import (
    OutboxState,
    claim_due,
    claim_reference,
    count_refused,
    insert_outbox,
    mark_posted,
    mark_refused,
    mark_retry,
    outbox_state,
)
from services.payments.repository.payouts import (
    get_payout,
    insert_payout,
    list_payouts,
    lock_payout,
    lock_payout_for_account,
    stale_payouts,
    update_payout,
)
from services.payments.repository.providers import (
    delete_credentials,
    get_credentials,
    list_credentials,
    record_provider_event,
    set_event_outcome,
    tenant_credentials,
    upsert_credentials,
)
from services.payments.repository.refunds import (
    get_refund,
    insert_refund,
    list_refunds,
    refunded_total,
)

__all__ = [
    "OutboxState",
    "claim_due",
    "claim_reference",
    "count_refused",
    "delete_credentials",
    "get_credentials",
    "get_payment_intent",
    "get_payout",
    "get_refund",
    "insert_intent",
    "insert_outbox",
    "insert_payout",
    "insert_refund",
    "list_credentials",
    "list_payment_intents",
    "list_payouts",
    "list_refunds",
    "lock_intent",
    "lock_intent_by_id",
    "lock_intent_for_account",
    "lock_payout",
    "lock_payout_for_account",
    "mark_posted",
    "mark_refused",
    "mark_retry",
    "outbox_state",
    "record_provider_event",
    "refunded_total",
    "set_event_outcome",
    "stale_intents",
    "stale_payouts",
    "tenant_credentials",
    "update_intent",
    "update_payout",
    "upsert_credentials",
]
