"""`micro trigger EVENT`: make the real API calls, with the CLI's test key, that emit EVENT.

Nothing is faked: each trigger creates real test-mode objects through the gateway, so the
event travels the whole path (outbox, Redis, `micro listen`, webhook endpoints) as a real
integration's would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from cli.client import ApiError, Gateway, cli_errors, fail
from cli.options import ApiBaseOption, ProfileOption, active_profile

AMOUNT = 2000
CURRENCY = "usd"
DESCRIPTION = "Created by micro trigger"
INTENTS = "/payments/payment_intents"
# The simulator's test bank accounts (services/payments/providers/simulator.py).
PAYING_ACCOUNT = "0123456789"
FAILING_ACCOUNT = "0000000000"
# How long a wallet trigger follows a deposit still settling before it gives up.
DEPOSIT_WAIT_SECONDS = 30


@dataclass(frozen=True)
class Trigger:
    summary: str
    run: Callable[[Gateway], list[dict[str, Any]]]


def _intent(gateway: Gateway, **fields: Any) -> dict[str, Any]:
    body = {"amount": AMOUNT, "currency": CURRENCY, "description": DESCRIPTION, **fields}
    created: dict[str, Any] = gateway.post(INTENTS, json=body)
    return created


def _confirm(gateway: Gateway, intent: dict[str, Any], method: str) -> dict[str, Any]:
    try:
        confirmed: dict[str, Any] = gateway.post(
            f"{INTENTS}/{intent['id']}/confirm", json={"payment_method": method}
        )
    except ApiError as exc:
        # A decline is an error answer, but the intent changed (last_payment_error is set).
        if exc.type != "card_error":
            raise
        declined: dict[str, Any] = gateway.get(f"{INTENTS}/{intent['id']}")
        return declined
    return confirmed


def _created(gateway: Gateway) -> list[dict[str, Any]]:
    return [_intent(gateway)]


def _succeeded(gateway: Gateway) -> list[dict[str, Any]]:
    return [_confirm(gateway, _intent(gateway), "pm_card_visa")]


def _failed(gateway: Gateway) -> list[dict[str, Any]]:
    return [_confirm(gateway, _intent(gateway), "pm_card_chargeDeclined")]


def _requires_action(gateway: Gateway) -> list[dict[str, Any]]:
    return [_confirm(gateway, _intent(gateway), "pm_card_authenticationRequired")]


def _canceled(gateway: Gateway) -> list[dict[str, Any]]:
    intent = _intent(gateway)
    canceled: dict[str, Any] = gateway.post(
        f"{INTENTS}/{intent['id']}/cancel", json={"cancellation_reason": "requested_by_customer"}
    )
    return [canceled]


def _capturable(gateway: Gateway) -> list[dict[str, Any]]:
    return [_confirm(gateway, _intent(gateway, capture_method="manual"), "pm_card_visa")]


def _refunded(gateway: Gateway) -> list[dict[str, Any]]:
    intent = _confirm(gateway, _intent(gateway), "pm_card_visa")
    refund: dict[str, Any] = gateway.post(
        "/payments/refunds", json={"payment_intent": intent["id"]}
    )
    return [intent, refund]


def _payout(account_number: str) -> Callable[[Gateway], list[dict[str, Any]]]:
    def run(gateway: Gateway) -> list[dict[str, Any]]:
        payout: dict[str, Any] = gateway.post(
            "/payments/payouts",
            json={
                "amount": AMOUNT,
                "currency": CURRENCY,
                "description": DESCRIPTION,
                "destination": {
                    "account_number": account_number,
                    "bank_code": "058",
                    "account_name": "Micro Test",
                },
            },
        )
        return [payout]

    return run


def _wallet(gateway: Gateway) -> dict[str, Any]:
    wallet: dict[str, Any] = gateway.post(
        "/wallet", json={"currency": CURRENCY, "owner": "micro-trigger"}
    )
    return wallet


def _funded_wallet(gateway: Gateway) -> list[dict[str, Any]]:
    """A wallet with AMOUNT in it: a card deposit, followed until the ledger has it."""
    wallet = _wallet(gateway)
    deposit: dict[str, Any] = gateway.post(
        "/wallet/deposit",
        json={"wallet_id": wallet["id"], "amount": AMOUNT, "description": DESCRIPTION},
    )
    deadline = time.monotonic() + DEPOSIT_WAIT_SECONDS
    while deposit["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        deposit = gateway.get(f"/wallet/operations/{deposit['id']}")
    if deposit["status"] != "succeeded":
        raise ApiError(0, f"The deposit {deposit['id']} is {deposit['status']}, not succeeded.")
    return [wallet, deposit]


def _wallet_created(gateway: Gateway) -> list[dict[str, Any]]:
    return [_wallet(gateway)]


def _transfer(gateway: Gateway) -> list[dict[str, Any]]:
    made = _funded_wallet(gateway)
    receiver = _wallet(gateway)
    transfer: dict[str, Any] = gateway.post(
        "/wallet/transfer",
        json={
            "from_wallet_id": made[0]["id"],
            "to_wallet_id": receiver["id"],
            "amount": AMOUNT // 2,
            "description": DESCRIPTION,
        },
    )
    return [*made, receiver, transfer]


def _withdrawal(gateway: Gateway) -> list[dict[str, Any]]:
    made = _funded_wallet(gateway)
    withdrawal: dict[str, Any] = gateway.post(
        "/wallet/withdraw",
        json={
            "wallet_id": made[0]["id"],
            "amount": AMOUNT // 2,
            "description": DESCRIPTION,
            "destination": {"account_number": PAYING_ACCOUNT, "bank_code": "058"},
        },
    )
    return [*made, withdrawal]


TRIGGERS: dict[str, Trigger] = {
    "payment_intent.created": Trigger("creates a payment intent", _created),
    "payment_intent.succeeded": Trigger(
        "creates and confirms a payment intent with pm_card_visa", _succeeded
    ),
    "payment_intent.payment_failed": Trigger(
        "confirms a payment intent with pm_card_chargeDeclined (declined)", _failed
    ),
    "payment_intent.requires_action": Trigger(
        "confirms with pm_card_authenticationRequired (3-D Secure pending)", _requires_action
    ),
    "payment_intent.canceled": Trigger("creates and cancels a payment intent", _canceled),
    "payment_intent.amount_capturable_updated": Trigger(
        "confirms a manual-capture payment intent (requires_capture)", _capturable
    ),
    "refund.created": Trigger("confirms a payment intent, then refunds it in full", _refunded),
    "payout.paid": Trigger(
        "pays out to a simulator bank account that accepts it", _payout(PAYING_ACCOUNT)
    ),
    "payout.failed": Trigger(
        f"pays out to the simulator's closed account {FAILING_ACCOUNT}", _payout(FAILING_ACCOUNT)
    ),
    "wallet.created": Trigger("creates a USD wallet", _wallet_created),
    "wallet.deposit.succeeded": Trigger(
        "creates a wallet and deposits into it with pm_card_visa", _funded_wallet
    ),
    "wallet.transfer.completed": Trigger(
        "funds a wallet, then transfers half of it to a new wallet", _transfer
    ),
    "wallet.withdrawal.succeeded": Trigger(
        "funds a wallet, then withdraws half of it to a simulator bank account", _withdrawal
    ),
}


def describe(created: dict[str, Any]) -> str:
    status = created.get("status")
    error = created.get("last_payment_error") or created.get("failure_message")
    if isinstance(error, dict):
        error = error.get("message")
    detail = f"{status}: {error}" if error else status
    if created.get("object") == "wallet.operation":
        detail = f"{created.get('type')}, {detail}"
    return f"Created {created.get('object', 'object')} {created.get('id')} ({detail})"


def trigger(
    event: Annotated[
        str | None, typer.Argument(help="Event type to trigger; see --list.", show_default=False)
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="Show the events it can trigger.")] = False,
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """Make the real test-mode API calls that emit EVENT (e.g. payment_intent.succeeded)."""
    if list_ or event is None:
        width = max(len(name) for name in TRIGGERS)
        for name, each in TRIGGERS.items():
            typer.echo(f"{name:<{width}}  {each.summary}")
        if event is None and not list_:
            raise typer.Exit(2)
        return
    chosen = TRIGGERS.get(event)
    if chosen is None:
        raise fail(f"Cannot trigger {event!r}; `micro trigger --list` shows what can be.")
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        if profile.livemode:
            raise fail("`micro trigger` makes test objects; this profile holds a live key.")
        with Gateway(profile) as gateway:
            made = chosen.run(gateway)
    for created in made:
        typer.echo(describe(created))
    typer.echo(f"Triggered {event}")
