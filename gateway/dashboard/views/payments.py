"""Payments: the list (filters by status, provider and date, keyset pages), a payment's
page (fields, timeline, provider attempts, ledger postings, refunds, events and their
webhook deliveries; refund, capture and cancel), and a test payment form (test mode only).

Every figure comes from the public API as the signed-in admin: `GET
/payments/payment_intents` (its `status`, `provider` and `created[gte|lte]` filters),
`.../{id}/attempts`, `/payments/refunds?payment_intent=`, `/ledger/transactions?
reference_id=`, `/events?object_id=` and `/events/{id}/deliveries`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dashboard.api import ApiFailure
from gateway.dashboard.formats import ZERO_DECIMAL, money
from gateway.dashboard.web import TENANT_ADMINS, Page, not_found, page, query

PAGE_SIZE = 25
STATUSES = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "succeeded",
    "canceled",
)
PROVIDERS = ("simulator", "paystack", "flutterwave")
# The simulator's test payment methods (services/payments/providers/simulator.py).
TEST_METHODS = (
    ("pm_card_visa", "Visa: succeeds"),
    ("pm_card_mastercard", "Mastercard: succeeds"),
    ("pm_card_amex", "American Express: succeeds"),
    ("pm_card_chargeDeclined", "Declined (generic_decline)"),
    ("pm_card_visa_chargeDeclinedInsufficientFunds", "Declined: insufficient funds"),
    ("pm_card_chargeDeclinedExpiredCard", "Declined: expired card"),
    ("pm_card_chargeDeclinedIncorrectCvc", "Declined: incorrect CVC"),
    ("pm_card_chargeDeclinedFraudulent", "Declined: fraudulent"),
    ("pm_card_authenticationRequired", "Requires authentication (3D Secure)"),
)
CURRENCIES = ("usd", "eur", "gbp", "ngn", "ghs", "kes", "zar")
_AMOUNT = re.compile(r"^\d{1,15}(\.\d{1,2})?$")
_INTENT_ID = re.compile(r"^pi_[A-Za-z0-9]{1,64}$")
_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)


def parse_amount(text: str, currency: str) -> int | None:
    """`"12.50"` (major units as a person writes them) -> 1250 minor units; None if it is
    no positive amount. How large an amount may be is the API's to say."""
    cleaned = text.replace(",", "").strip()
    if not _AMOUNT.match(cleaned):
        return None
    whole, _, cents = cleaned.partition(".")
    if currency.lower() in ZERO_DECIMAL:
        if cents.strip("0"):
            return None
        value = int(whole)
    else:
        value = int(whole) * 100 + int((cents + "00")[:2])
    return value if value > 0 else None


def _day(text: str, *, end: bool) -> int | None:
    """A `YYYY-MM-DD` date as unix seconds: its first second, or its last (`end`)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min, tzinfo=dt.UTC)
    return int(moment.timestamp())


def _filters(request: Request) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """The list's filters as the page shows them, the API's query, and what is wrong."""
    shown = dict(query(request, ("status", "provider", "from", "to", "starting_after")))
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    problems: list[str] = []
    for name in ("status", "provider", "starting_after"):
        if name in shown:
            params[name] = shown[name]
    for name, key, end in (("from", "created[gte]", False), ("to", "created[lte]", True)):
        if name in shown:
            seconds = _day(shown[name], end=end)
            if seconds is None:
                problems.append(f"“{shown[name]}” is not a date: write it as YYYY-MM-DD.")
            else:
                params[key] = seconds
    start, until = params.get("created[gte]"), params.get("created[lte]")
    if start is not None and until is not None and start > until:
        problems.append("The “from” date is after the “to” date.")
    return shown, params, " ".join(problems) or None


@page(TENANT_ADMINS)
async def list_payments(request: Request, ctx: Page) -> Response:
    shown, params, problem = _filters(request)
    if problem is not None:
        return _list_page(ctx, shown, [], has_more=False, error=problem, status=400)
    answer = await ctx.api.call("GET", "/payments/payment_intents", params=params)
    if answer.status == 400:
        # A filter the API refused (a status or provider it does not know): said as it said it.
        return _list_page(ctx, shown, [], has_more=False, error=answer.message, status=400)
    if not answer.ok:
        raise ApiFailure(answer)
    found = answer.body["data"]
    return _list_page(ctx, shown, found, has_more=bool(answer.body["has_more"]))


def _list_page(
    ctx: Page,
    shown: dict[str, str],
    found: list[dict[str, Any]],
    *,
    has_more: bool,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    form_error: str | None = None,
) -> Response:
    kept = {k: v for k, v in shown.items() if k != "starting_after"}
    next_query = None
    if has_more and found:
        next_query = {**kept, "starting_after": found[-1]["id"]}
    return ctx.render(
        "payments/list.html",
        status,
        title="Payments",
        recent=found,
        filters=shown,
        kept=kept,
        next_query=next_query,
        paged="starting_after" in shown,
        error=error,
        statuses=STATUSES,
        providers=PROVIDERS,
        methods=TEST_METHODS,
        currencies=CURRENCIES,
        test_form=form or {},
        form_error=form_error,
    )


@page(TENANT_ADMINS)
async def test_payment(request: Request, ctx: Page) -> Response:
    """Create and confirm a PaymentIntent with one of the simulator's test methods."""
    if ctx.session.mode != "test":
        return ctx.render(
            "error.html", 403, title="Test mode only",
            message="Test payments are made in test mode only. Switch to test mode first.",
        )  # fmt: skip
    form = {n: ctx.field(n) for n in ("amount", "currency", "payment_method", "capture_method")}
    currency = form["currency"].lower() or "usd"
    problem = None
    amount = parse_amount(form["amount"], currency)
    if not form["amount"]:
        problem = "Enter an amount, for example 25.00."
    elif amount is None:
        problem = f"“{form['amount']}” is not an amount: write a positive number like 25.00."
    elif form["payment_method"] not in {m for m, _ in TEST_METHODS}:
        problem = "Choose one of the test payment methods."
    elif form["capture_method"] not in ("automatic", "manual"):
        problem = "Choose automatic or manual capture."
    if problem is not None:
        return await _form_again(ctx, form, problem, 400)
    body = {
        "amount": amount,
        "currency": currency,
        "payment_method": form["payment_method"],
        "capture_method": form["capture_method"],
        "confirm": True,
        "description": "Dashboard test payment",
    }
    answer = await ctx.api.call(
        "POST", "/payments/payment_intents", json=body, idempotency_key=ctx.form_key()
    )
    if answer.ok:
        intent = answer.body
        return ctx.redirect(
            f"/payments/{intent['id']}",
            f"Test payment {intent['id']} of {money(intent['amount'], intent['currency'])}: "
            f"{intent['status']}.",
        )
    declined = answer.error.get("payment_intent")
    if answer.status == 402 and isinstance(declined, dict) and "id" in declined:
        code = answer.error.get("decline_code") or answer.error.get("code") or "declined"
        return ctx.redirect(f"/payments/{declined['id']}", f"Declined: {answer.message} ({code})")
    return await _form_again(
        ctx, form, answer.message, answer.status if answer.status < 500 else 502
    )


async def _form_again(ctx: Page, form: dict[str, str], problem: str, status: int) -> Response:
    """The list's first page with the test payment form as it was sent, and what is wrong."""
    first = await ctx.api.get("/payments/payment_intents", limit=PAGE_SIZE)
    return _list_page(
        ctx, {}, first["data"], has_more=bool(first["has_more"]), status=status,
        form=form, form_error=problem,
    )  # fmt: skip


@page(TENANT_ADMINS)
async def payment(request: Request, ctx: Page) -> Response:
    intent_id = request.path_params["intent_id"]
    if not _INTENT_ID.match(intent_id):
        return not_found(ctx)
    intent = await ctx.api.get(f"/payments/payment_intents/{intent_id}")
    attempts = await ctx.api.get(f"/payments/payment_intents/{intent_id}/attempts", limit=100)
    refunds = (await ctx.api.get("/payments/refunds", payment_intent=intent_id, limit=100))["data"]
    objects = [intent_id, *(r["id"] for r in refunds)]
    postings: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for object_id in objects:
        found = await ctx.api.get("/ledger/transactions", reference_id=object_id, limit=100)
        postings.extend(found["data"])
        events.extend((await ctx.api.get("/events", object_id=object_id, limit=100))["data"])
    events.sort(key=lambda e: (e["created"], e["id"]))
    postings.sort(key=lambda t: (t["created"], t["id"]))
    deliveries: list[dict[str, Any]] = []
    for event in events:
        answer = await ctx.api.call(
            "GET", f"/events/{event['id']}/deliveries", params={"limit": 100}
        )
        if answer.ok:
            deliveries.extend({**d, "event_type": event["type"]} for d in answer.body["data"])
    refunded = sum(r["amount"] for r in refunds if r["status"] != "failed")
    return ctx.render(
        "payments/detail.html",
        title=f"Payment {intent['id']}",
        intent=intent,
        attempts=attempts["data"],
        refunds=refunds,
        postings=postings,
        events=events,
        deliveries=deliveries,
        refundable=intent["status"] == "succeeded" and refunded < intent["amount_received"],
        left_to_refund=intent["amount_received"] - refunded,
        cancelable=intent["status"] in _CANCELABLE,
    )


@page(TENANT_ADMINS)
async def refund(request: Request, ctx: Page) -> Response:
    intent_id = request.path_params["intent_id"]
    if not _INTENT_ID.match(intent_id):
        return not_found(ctx)
    intent = await ctx.api.get(f"/payments/payment_intents/{intent_id}")
    body: dict[str, Any] = {"payment_intent": intent["id"]}
    text = ctx.field("amount")
    if text:
        amount = parse_amount(text, intent["currency"])
        if amount is None:
            return ctx.redirect(
                f"/payments/{intent['id']}",
                f"Not refunded: “{text}” is not an amount (write a positive number like 5.00).",
            )
        body["amount"] = amount
    answer = await ctx.api.call(
        "POST", "/payments/refunds", json=body, idempotency_key=ctx.form_key()
    )
    if not answer.ok:
        if answer.status == 404:
            raise ApiFailure(answer)
        return ctx.redirect(f"/payments/{intent['id']}", f"Not refunded: {answer.message}")
    made = answer.body
    return ctx.redirect(
        f"/payments/{intent['id']}",
        f"Refund {made['id']} of {money(made['amount'], made['currency'])}: {made['status']}.",
    )


async def _act(ctx: Page, intent_id: str, action: str, done: str) -> Response:
    if not _INTENT_ID.match(intent_id):
        return not_found(ctx)
    answer = await ctx.api.call(
        "POST", f"/payments/payment_intents/{intent_id}/{action}", json={},
        idempotency_key=ctx.form_key(),
    )  # fmt: skip
    if answer.status == 404:
        raise ApiFailure(answer)
    if not answer.ok:
        return ctx.redirect(f"/payments/{intent_id}", f"Not {done}: {answer.message}")
    return ctx.redirect(f"/payments/{intent_id}", f"Payment {done}: {answer.body['status']}.")


@page(TENANT_ADMINS)
async def capture(request: Request, ctx: Page) -> Response:
    return await _act(ctx, request.path_params["intent_id"], "capture", "captured")


@page(TENANT_ADMINS)
async def cancel(request: Request, ctx: Page) -> Response:
    return await _act(ctx, request.path_params["intent_id"], "cancel", "canceled")


routes = [
    Route("/payments", list_payments, methods=["GET"]),
    Route("/payments/test", test_payment, methods=["POST"]),
    Route("/payments/{intent_id}", payment, methods=["GET"]),
    Route("/payments/{intent_id}/refund", refund, methods=["POST"]),
    Route("/payments/{intent_id}/capture", capture, methods=["POST"]),
    Route("/payments/{intent_id}/cancel", cancel, methods=["POST"]),
]
