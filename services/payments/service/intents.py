"""Payment intents: the changes Stripe's state machine allows (its rules, pure, are in
`service/lifecycle.py`), over a provider. How their money reaches the ledger:
docs/architecture.md, "Three paths" (a cent).

A declined confirmation leaves the intent in requires_payment_method with
`last_payment_error` and answers 402 (the state change is committed all the same). A
provider that does not answer in time leaves it `processing`, to be re-verified. A success
writes the ledger posting it owes into the outbox, in the same transaction; every status
change writes its event there too.

A confirmation through a real provider is an `Attempt`: the intent is claimed (`processing`,
the attempt counted, which names its provider reference) and committed, the provider is
asked with no connection held, and `apply_attempt` applies the answer in a second
transaction (see `service/steps.py`). The simulator answers in-process, so its confirmation
stays one transaction. Every attempt is recorded (`service/attempts.py`); a routed intent
(`service/routing.py`) moves to the provider of its current attempt (`service/failover.py`).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.payments import metrics
from services.payments.errors import (
    CardDeclinedError,
    PaymentIntentNotFoundError,
    PaymentMethodNotFoundError,
)
from services.payments.providers.base import Outcome, Payer, Provider, attempt_reference
from services.payments.repository import intents as intents_repo
from services.payments.repository import outbox as outbox_repo
from services.payments.repository import routes as routes_repo
from services.payments.repository import simulator_journal
from services.payments.repository.intents import IntentRow
from services.payments.schemas import (
    CancelIntentRequest,
    CaptureIntentRequest,
    ConfirmIntentRequest,
    CreateIntentRequest,
    IntentFilters,
    PaymentIntent,
    PaymentVolume,
    UpdateIntentRequest,
    VolumeDay,
)
from services.payments.service import attempts, customers, events, routing
from services.payments.service.changes import Changed
from services.payments.service.keys import creation_key, made_before
from services.payments.service.ledger_reader import LedgerAccounts
from services.payments.service.lifecycle import (
    CONFIRMABLE,
    CONFIRMED,
    action_token,
    check_action,
    current_reference,
    judge,
)
from services.payments.service.provider_accounts import ProviderSource
from shared.context import is_idempotent_rerun
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError
from shared.identity import Identity
from shared.ids import new_id
from shared.ledger_contract import Posting, balance_code, clearing_code, wallet_code
from shared.pagination import ListParams, page


@dataclass(frozen=True, slots=True)
class Attempt:
    """A confirmation claimed and committed: what to ask the provider, with no connection
    held, and which attempt the answer belongs to (a webhook, the customer's return or the
    reconciler may have settled it meanwhile)."""

    intent_id: str
    number: int  # the intent's `attempts` once claimed
    reference: str
    provider: Provider
    amount: int
    currency: str
    payment_method: str | None
    payer: Payer
    public_url: str
    # Where the intent goes back to when the provider refused the request outright.
    previous_status: str
    tenant_id: str
    livemode: bool
    # The `ch_` id (and payment_attempts row) of this attempt.
    charge: str
    # The return URL the client asked for (the payer's is built per provider otherwise).
    return_url: str | None
    # The route the intent was created on (`service/routing.py`): the providers it may be
    # failed over to; None when it named its provider.
    route: tuple[str, ...] | None = None

    async def call(self) -> Outcome:
        return await self.provider.authorize(
            reference=self.reference, amount=self.amount, currency=self.currency,
            payment_method=self.payment_method, payer=self.payer,
        )  # fmt: skip


async def check_new_intent(
    identity: Identity, request: CreateIntentRequest, *, ledger: LedgerAccounts
) -> None:
    """What a new intent is refused for before anything is written; asks the ledger about
    the wallet, so it runs before the transaction that creates the intent."""
    check_request(request)
    if request.wallet_id is not None:
        await _check_wallet(ledger, identity, request.wallet_id, request.currency)


def check_request(request: CreateIntentRequest) -> None:
    """What a new intent is refused for by its request alone (the provider filled in)."""
    if request.provider != "simulator":
        # The customer picks the method on the provider's page, which captures at once.
        if request.payment_method is not None:
            raise _hosted_method_error(request.provider)
        if request.capture_method == "manual":
            raise InvalidRequestError(
                f"{request.provider} does not support manual capture.", param="capture_method"
            )


async def create_intent(
    conn: Connection,
    identity: Identity,
    request: CreateIntentRequest,
    providers: ProviderSource,
    *,
    public_url: str = "",
    route: tuple[str, ...] | None = None,
) -> Changed[PaymentIntent] | Attempt:
    """Create it (checked by `check_new_intent` first) and, with `confirm`, confirm it.
    `route`: the providers it was routed over (`routing.routed_request`), its first one
    in `request.provider`."""
    provider, owner = await providers.choose(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
        provider=request.provider, payment_method=request.payment_method,
    )  # fmt: skip
    ready = request.payment_method is not None or provider.hosted
    if request.customer is not None:
        await customers.named_customer(conn, identity, request.customer)
    if request.payment_method is not None:
        await customers.card_to_charge(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode,
            method=request.payment_method, customer_id=request.customer,
        )  # fmt: skip
    scoped = creation_key(identity)
    row = await intents_repo.insert_intent(
        conn,
        id=new_id("pi"),
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        amount=request.amount,
        currency=request.currency,
        status="requires_confirmation" if ready else "requires_payment_method",
        capture_method=request.capture_method,
        provider=request.provider,
        payment_method=request.payment_method,
        description=request.description,
        metadata=request.metadata,
        receipt_email=request.receipt_email,
        wallet_id=request.wallet_id,
        provider_account=owner,
        idempotency_key=scoped,
        customer_id=request.customer,
    )
    if row is None:
        assert scoped is not None  # only a keyed create can meet its own key
        return await _made_before(conn, identity, scoped, request, provider, public_url)
    metrics.intent_moved(row.status, provider=row.provider, livemode=row.livemode)
    await _announce(conn, "payment_intent.created", row)
    if route is not None:
        await routes_repo.insert_intent_route(conn, intent_id=row.id, providers=list(route))
    if request.confirm:
        return await _confirm(
            conn, row, provider, payment_method=None, return_url=request.return_url,
            public_url=public_url, route=route,
        )  # fmt: skip
    return _shown(row)


async def _made_before(
    conn: Connection,
    identity: Identity,
    key: str,
    request: CreateIntentRequest,
    provider: Provider,
    public_url: str,
) -> Changed[PaymentIntent] | Attempt:
    """A create under a key an intent was already made with (services/payments/service/
    keys.py): that intent, confirmed now if the first run died before confirming it."""
    row = made_before(
        await intents_repo.lock_intent_by_key(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, idempotency_key=key
        )
    )
    if request.confirm and row.status in CONFIRMABLE:
        return await _confirm(
            conn, row, provider, payment_method=None, return_url=request.return_url,
            public_url=public_url, route=await routes_repo.intent_route(conn, row.id),
        )  # fmt: skip
    return _shown(row)


async def _check_wallet(
    ledger: LedgerAccounts, identity: Identity, wallet_id: str, currency: str
) -> None:
    account = await ledger.get_account(
        tenant_id=identity.tenant_scope, livemode=identity.livemode, code=wallet_code(wallet_id)
    )
    if account is None:
        raise InvalidRequestError(
            f"No such wallet: {wallet_id!r}.", code="resource_missing", param="wallet_id"
        )
    if account.get("currency") != currency:
        raise InvalidRequestError(
            f"Wallet {wallet_id!r} holds {account.get('currency')}, not {currency}.",
            code="currency_mismatch",
            param="wallet_id",
        )


async def update_intent(
    conn: Connection, identity: Identity, intent_id: str, request: UpdateIntentRequest
) -> Changed[PaymentIntent]:
    row = await _locked(conn, identity, intent_id)
    check_action(row, "update")
    changes: dict[str, Any] = request.model_dump(
        exclude_unset=True, exclude_none=True, exclude={"expand", "customer"}
    )
    customer_id = row.customer_id
    if request.customer is not None:
        customer_id = (await customers.named_customer(conn, identity, request.customer)).id
        if customer_id != row.customer_id:
            changes["customer_id"] = customer_id
    method = changes.get("payment_method", row.payment_method)
    if method is not None and row.provider == "simulator":
        await customers.card_to_charge(
            conn, tenant_id=row.tenant_id, livemode=row.livemode, method=method,
            customer_id=customer_id,
        )  # fmt: skip
    if row.wallet_id and changes.get("currency", row.currency) != row.currency:
        # The wallet's ledger account holds one currency, checked when the intent was made.
        raise InvalidRequestError(
            "The currency of a payment into a wallet cannot change.", param="currency"
        )
    if "payment_method" in changes:
        if row.provider != "simulator":
            raise _hosted_method_error(row.provider)
        changes["status"] = "requires_confirmation"
        changes["next_action"] = None
    if not changes:
        return _shown(row)
    return _shown(await _transition(conn, row, **changes))


def _hosted_method_error(provider: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{provider} collects the payment method on its own page; do not pass one.",
        param="payment_method",
    )


async def authenticate(
    conn: Connection, intent_id: str, *, token: str, approve: bool
) -> Changed[PaymentIntent]:
    """The customer's answer on the simulator's authentication page (3-D Secure's stand-in)."""
    row = await intents_repo.lock_intent_by_id(conn, intent_id)
    expected = action_token(row.next_action) if row is not None else None
    if row is None or expected is None or not hmac.compare_digest(expected, token):
        raise PaymentIntentNotFoundError(intent_id)
    check_action(row, "authenticate")
    # The simulator's page is its bank's: its own book learns the answer too.
    await simulator_journal.settle_charge(conn, current_reference(row), succeeded=approve)
    if not approve:
        updated = await _transition(
            conn,
            row,
            status="requires_payment_method",
            payment_method=None,
            next_action=None,
            last_payment_error={
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The customer failed to authenticate the payment.",
                "payment_method": {"id": row.payment_method},
            },
        )
        return _shown(updated)
    return await _authorized(conn, row, row.payment_method)


async def confirm_intent(
    conn: Connection,
    identity: Identity,
    intent_id: str,
    request: ConfirmIntentRequest,
    *,
    providers: ProviderSource,
    public_url: str = "",
) -> Changed[PaymentIntent] | Attempt:
    row = await _locked(conn, identity, intent_id)
    if is_idempotent_rerun() and row.status in CONFIRMED:
        # This confirm's first run died after its commit, before its answer was stored.
        return _shown(row)
    check_action(row, "confirm")
    route = await routes_repo.intent_route(conn, row.id)
    owner: str | None = None
    provider: Provider | None
    if route is not None:
        # A routed intent's confirm starts over at its route's first usable provider.
        provider, owner, _ = await routing.first_usable(
            conn, providers, route, tenant_id=row.tenant_id, livemode=row.livemode
        )
    else:
        provider = await providers.of(
            conn,
            tenant_id=row.tenant_id,
            livemode=row.livemode,
            provider=row.provider,
            owner=row.provider_account,
            payment_method=request.payment_method or row.payment_method,
        )
    if provider is None:
        raise InvalidRequestError(
            f"The {row.provider} account this PaymentIntent was created with is no longer "
            "configured.",
            code="provider_not_configured",
            param="provider",
        )
    if request.payment_method is not None and provider.hosted:
        raise _hosted_method_error(provider.name)
    return await _confirm(
        conn, row, provider, payment_method=request.payment_method,
        return_url=request.return_url, public_url=public_url, route=route, owner=owner,
    )  # fmt: skip


async def cancel_intent(
    conn: Connection, identity: Identity, intent_id: str, request: CancelIntentRequest
) -> Changed[PaymentIntent]:
    row = await _locked(conn, identity, intent_id)
    check_action(row, "cancel")
    return _shown(await _cancel(conn, row, request.cancellation_reason))


async def _cancel(conn: Connection, row: IntentRow, reason: str | None) -> IntentRow:
    return await _transition(
        conn,
        row,
        status="canceled",
        cancellation_reason=reason,
        canceled_at=datetime.now(UTC),
        amount_capturable=0,
        next_action=None,
    )


async def capture_intent(
    conn: Connection, identity: Identity, intent_id: str, request: CaptureIntentRequest
) -> Changed[PaymentIntent]:
    row = await _locked(conn, identity, intent_id)
    check_action(row, "capture")
    amount = request.amount_to_capture or row.amount_capturable
    if amount > row.amount_capturable:
        raise InvalidRequestError(
            f"amount_to_capture {amount} is more than the {row.amount_capturable} "
            "that can be captured.",
            code="amount_too_large",
            param="amount_to_capture",
        )
    return await _succeed(conn, row, amount)


async def get_intent(pool: Pool, identity: Identity, intent_id: str) -> PaymentIntent:
    async with transaction(pool) as conn:
        row = await intents_repo.get_intent(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
        )
    if row is None:
        raise PaymentIntentNotFoundError(intent_id)
    return PaymentIntent.from_row(row)


async def list_intents(
    pool: Pool,
    identity: Identity,
    *,
    params: ListParams,
    filters: IntentFilters | None = None,
) -> tuple[list[PaymentIntent], bool]:
    filters = filters or IntentFilters()
    async with transaction(pool) as conn:
        rows = await intents_repo.list_intents(
            conn,
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            params=params,
            status=filters.status,
            provider=filters.provider,
            created=filters.created_bounds(),
        )
    shown, has_more = page(rows, params)
    return [PaymentIntent.from_row(row) for row in shown], has_more


async def volume(pool: Pool, identity: Identity, *, days: int) -> PaymentVolume:
    """Succeeded payments of the last `days` UTC days (today included), per day and
    currency."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=days - 1)
    async with transaction(pool) as conn:
        found = await intents_repo.succeeded_volume(
            conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, since=since
        )
    return PaymentVolume(
        days=days,
        since=int(since.timestamp()),
        livemode=identity.livemode,
        data=[
            VolumeDay(date=r.day.isoformat(), currency=r.currency, count=r.count, amount=r.amount)
            for r in found
        ],
    )


# -- what a provider said, wherever it said it -------------------------------------------------


async def settle(
    conn: Connection, row: IntentRow, outcome: Outcome, *, reference: str
) -> tuple[Changed[PaymentIntent], str]:
    """Apply a provider's later word about one attempt (`reference`) to a locked intent, as
    `lifecycle.judge` rules. Returns the change and what was done, for the record."""
    verdict = judge(row, outcome, reference=reference)
    if verdict == "succeeded":
        return await _authorized(conn, row, row.payment_method), verdict
    if verdict == "payment_failed":
        # Recorded on the intent; nobody is answered with the decline.
        declined = await _declined(conn, row, outcome, row.payment_method)
        return Changed(declined.value), verdict
    return _shown(row), verdict


async def abandon(conn: Connection, row: IntentRow) -> Changed[PaymentIntent]:
    """Cancel an intent nobody finished (Stripe's cancellation_reason "abandoned")."""
    return _shown(await _cancel(conn, row, "abandoned"))


# -- internals ---------------------------------------------------------------------------------


async def _locked(conn: Connection, identity: Identity, intent_id: str) -> IntentRow:
    row = await intents_repo.lock_intent(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, intent_id=intent_id
    )
    if row is None:
        raise PaymentIntentNotFoundError(intent_id)
    return row


async def _confirm(
    conn: Connection,
    row: IntentRow,
    provider: Provider,
    *,
    payment_method: str | None,
    return_url: str | None,
    public_url: str = "",
    route: tuple[str, ...] | None = None,
    owner: str | None = None,
) -> Changed[PaymentIntent] | Attempt:
    """Confirm on `provider` (for a routed intent, its route's first usable one, whose
    account is `owner`)."""
    intent_id = row.id
    check_action(row, "confirm")
    method = payment_method or row.payment_method
    if method is None and not provider.hosted:
        raise InvalidRequestError(
            "You cannot confirm this PaymentIntent because it has no payment method; pass "
            "payment_method (for example pm_card_visa).",
            code="parameter_missing",
            param="payment_method",
        )
    if provider.hosted and not row.receipt_email:
        raise InvalidRequestError(
            f"{provider.name} needs the customer's email: set receipt_email.",
            code="parameter_missing",
            param="receipt_email",
        )
    if owner is not None and (provider.name, owner) != (row.provider, row.provider_account):
        # A routed intent starts over at its route's first usable provider.
        row = await intents_repo.update_intent(
            conn, intent_id, provider=provider.name, provider_account=owner
        )
    if not provider.in_process:
        return await claim(
            conn, row, provider, method=method, return_url=return_url, public_url=public_url,
            route=route, previous_status=row.status,
        )  # fmt: skip
    # The simulator: computed here, without I/O, so asked and applied in this one transaction.
    attempt = row.attempts + 1
    charge = new_id("ch")  # each attempt is shown as a charge of its own (`latest_charge`)
    await attempts.record(
        conn, row, attempt_id=charge, number=attempt, provider=provider.name, reference=intent_id
    )
    # A method attached to a customer is charged as the test card it was made from.
    card = method and await customers.card_to_charge(
        conn, tenant_id=row.tenant_id, livemode=row.livemode, method=method,
        customer_id=row.customer_id,
    )  # fmt: skip
    outcome = await provider.authorize(
        reference=intent_id, amount=row.amount, currency=row.currency, payment_method=card,
        payer=_payer(row, provider, return_url, public_url),
    )  # fmt: skip
    return await _apply(
        conn, row, outcome, method=method, hosted=False, public_url=public_url,
        attempts=attempt, latest_charge=charge,
    )  # fmt: skip


async def claim(
    conn: Connection,
    row: IntentRow,
    provider: Provider,
    *,
    method: str | None,
    return_url: str | None,
    public_url: str,
    route: tuple[str, ...] | None,
    previous_status: str,
) -> Attempt:
    """Claim the intent's next attempt at `provider` (the intent's provider already): the
    claim is committed before the provider is asked, so no transaction waits on it and a
    crash leaves the attempt `processing`, which the reconciler verifies by its reference.
    No intent event yet: the provider's answer, applied in a moment, is what the client
    hears of; the attempt is announced (`payment_attempt.created`)."""
    number = row.attempts + 1
    reference = attempt_reference(row.id, number) if provider.hosted else row.id
    # Each attempt is shown as a charge of its own (`latest_charge`).
    charge = new_id("ch")
    claimed = await intents_repo.update_intent(
        conn, row.id, status="processing", attempts=number, latest_charge=charge
    )
    _moved(row, claimed)
    await attempts.record(
        conn, row, attempt_id=charge, number=number, provider=provider.name, reference=reference
    )
    return Attempt(
        intent_id=row.id, number=number, reference=reference, provider=provider,
        amount=row.amount, currency=row.currency, payment_method=method,
        payer=_payer(row, provider, return_url, public_url), public_url=public_url,
        previous_status=previous_status, tenant_id=row.tenant_id, livemode=row.livemode,
        charge=charge, return_url=return_url, route=route,
    )  # fmt: skip


def _payer(row: IntentRow, provider: Provider, return_url: str | None, public_url: str) -> Payer:
    return Payer(
        email=row.receipt_email,
        return_url=return_url or f"{public_url}/webhooks/{provider.name}/return/{row.id}",
    )


async def apply_attempt(
    conn: Connection, attempt: Attempt, outcome: Outcome
) -> Changed[PaymentIntent]:
    """The provider's answer to a claimed attempt, unless the attempt was settled meanwhile
    (a webhook or the reconciler got there first, or a newer attempt began): then the
    intent is shown as it stands, and nothing is applied twice or undone."""
    row = await intents_repo.lock_intent_by_id(conn, attempt.intent_id)
    assert row is not None  # intents are never deleted
    if row.status != "processing" or row.attempts != attempt.number:
        return _shown(row)
    return await _apply(
        conn, row, outcome, method=attempt.payment_method, hosted=attempt.provider.hosted,
        public_url=attempt.public_url,
    )  # fmt: skip


async def release_attempt(conn: Connection, attempt: Attempt) -> None:
    """The provider refused the request itself (or was never reached): nothing happened
    there, so the intent goes back to where it was. The attempt stays counted: a reference
    once sent is never sent again."""
    row = await intents_repo.lock_intent_by_id(conn, attempt.intent_id)
    assert row is not None
    if row.status == "processing" and row.attempts == attempt.number:
        back = await intents_repo.update_intent(
            conn, attempt.intent_id, status=attempt.previous_status
        )
        _moved(row, back)


async def _apply(
    conn: Connection,
    row: IntentRow,
    outcome: Outcome,
    *,
    method: str | None,
    hosted: bool,
    public_url: str,
    **more: Any,
) -> Changed[PaymentIntent]:
    """What a provider answered to a confirmation, applied to the locked intent."""
    if outcome.kind == "declined":
        return await _declined(conn, row, outcome, method, **more)
    if outcome.kind == "pending":
        # The provider did not answer in time: it may have acted. Wait and re-verify.
        updated = await _transition(
            conn, row, status="processing", payment_method=method, last_payment_error=None,
            **more,
        )  # fmt: skip
        if row.status == "processing":
            # Claimed as `processing` already: the status did not change, but this is news.
            await _announce(conn, events.INTENT_STATUS_EVENTS["processing"], updated)
        return _shown(updated)
    if outcome.kind == "action_required":
        url = outcome.redirect_url or ""
        if not hosted:
            # The simulator's own page: on the gateway, unlocked by a one-time token.
            url = f"{public_url}{url}?token={secrets.token_urlsafe(16)}"
        updated = await _transition(
            conn,
            row,
            status="requires_action",
            payment_method=method,
            last_payment_error=None,
            next_action={"type": "redirect_to_url", "redirect_to_url": {"url": url}},
            **more,
        )
        return _shown(updated)
    return await _authorized(conn, row, method, **more)


async def _declined(
    conn: Connection, row: IntentRow, outcome: Outcome, method: str | None, **more: Any
) -> Changed[PaymentIntent]:
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": outcome.decline_code,
        "message": outcome.message,
        "payment_method": {"id": method} if method else None,
    }
    updated = await _transition(
        conn,
        row,
        status="requires_payment_method",
        payment_method=None,
        last_payment_error=error,
        next_action=None,
        **more,
    )
    intent = PaymentIntent.from_row(updated)
    return Changed(
        intent,
        error=CardDeclinedError(
            outcome.message or "Your card was declined.",
            decline_code=outcome.decline_code or "generic_decline",
            intent=intent.model_dump(),
            charge=updated.latest_charge,
            payment_method=await _method_shown(conn, updated, method),
        ),
    )


async def _method_shown(
    conn: Connection, row: IntentRow, method: str | None
) -> dict[str, Any] | None:
    """The payment method a decline names, as the object (Stripe's error carries it)."""
    if method is None:
        return None
    identity = Identity("payments", "service", tenant_id=row.tenant_id, livemode=row.livemode)
    try:
        return (await customers.method_of(conn, identity, method)).model_dump()
    except PaymentMethodNotFoundError:
        return None


async def _authorized(
    conn: Connection, row: IntentRow, method: str | None, **more: Any
) -> Changed[PaymentIntent]:
    if row.capture_method == "manual":
        updated = await _transition(
            conn,
            row,
            status="requires_capture",
            payment_method=method,
            amount_capturable=row.amount,
            last_payment_error=None,
            next_action=None,
            **more,
        )
        return _shown(updated)
    return await _succeed(conn, row, row.amount, payment_method=method, **more)


async def _succeed(
    conn: Connection,
    row: IntentRow,
    amount: int,
    *,
    payment_method: str | None = None,
    **more: Any,
) -> Changed[PaymentIntent]:
    intent_id, currency = row.id, row.currency
    updated = await _transition(
        conn,
        row,
        payment_method=payment_method or row.payment_method,
        status="succeeded",
        amount_received=amount,
        amount_capturable=0,
        last_payment_error=None,
        next_action=None,
        **more,
    )
    # Money held at the provider for the tenant: clearing (asset) against what is owed to
    # the tenant (liability), or to the wallet it was paid into. The reference makes the
    # ledger take it exactly once.
    posting = Posting(
        reference_id=intent_id,
        description=f"Payment {intent_id}",
        metadata={"payment_intent": intent_id},
        debit=clearing_code(currency),
        credit=wallet_code(row.wallet_id) if row.wallet_id else balance_code(currency),
        amount=amount,
        currency=currency,
    )
    await outbox_repo.insert_outbox(
        conn,
        outbox_id=new_id("obx"),
        tenant_id=row.tenant_id,
        livemode=row.livemode,
        reference_id=posting.reference_id,
        body=posting.body(),
        currency=posting.currency,
    )
    return Changed(PaymentIntent.from_row(updated), owes=(posting.reference_id,))


async def _transition(conn: Connection, row: IntentRow, **changes: Any) -> IntentRow:
    """Change a locked intent and announce it: one event per new status, and
    payment_failed whenever a failure is recorded."""
    updated = await intents_repo.update_intent(conn, row.id, **changes)
    _moved(row, updated)
    if changes.get("last_payment_error"):
        await _announce(conn, "payment_intent.payment_failed", updated)
    elif updated.status != row.status and updated.status in events.INTENT_STATUS_EVENTS:
        await _announce(conn, events.INTENT_STATUS_EVENTS[updated.status], updated)
    await attempts.follow(conn, updated)
    return updated


def _moved(before: IntentRow, after: IntentRow) -> None:
    if after.status != before.status:
        metrics.intent_moved(after.status, provider=after.provider, livemode=after.livemode)


async def _announce(conn: Connection, type: str, row: IntentRow) -> None:
    await events.emit(
        conn,
        type,
        PaymentIntent.from_row(row),
        tenant_id=row.tenant_id,
        livemode=row.livemode,
    )


def _shown(row: IntentRow) -> Changed[PaymentIntent]:
    """A change that owes nothing: the intent as it now stands."""
    return Changed(PaymentIntent.from_row(row))
