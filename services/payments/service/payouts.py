"""Payouts: money from a tenant's balance to a bank account, through a provider.

pending -> paid | failed. A paid payout owes the ledger its posting (the tenant's balance
goes down, the clearing account with it), through the same outbox as payments.
"""

from __future__ import annotations

from services.payments import repository
from services.payments.providers.base import Provider
from services.payments.schemas import Payout, PayoutRequest
from services.payments.service.intents import balance_code, clearing_code
from shared.db import Connection
from shared.errors import NotFoundError
from shared.identity import Identity
from shared.ids import new_id
from shared.pagination import ListParams, page


async def create_payout(
    conn: Connection, identity: Identity, request: PayoutRequest, provider: Provider
) -> tuple[Payout, bool]:
    """(the payout, whether it owes the ledger a posting now)."""
    payout_id = new_id("po")
    outcome = await provider.transfer(
        payout_id=payout_id,
        amount=request.amount,
        currency=request.currency,
        account_number=request.destination.account_number,
        bank_code=request.destination.bank_code,
    )
    row = await repository.insert_payout(
        conn,
        id=payout_id,
        tenant_id=identity.tenant_scope,
        livemode=identity.livemode,
        amount=request.amount,
        currency=request.currency,
        status=outcome.kind,
        provider=request.provider,
        destination=request.destination.model_dump(),
        description=request.description,
        metadata=request.metadata,
        failure_code=outcome.failure_code,
        failure_message=outcome.failure_message,
    )
    if outcome.kind == "paid":
        currency = request.currency
        await repository.insert_outbox(
            conn,
            outbox_id=new_id("obx"),
            tenant_id=identity.tenant_scope,
            livemode=identity.livemode,
            reference_id=payout_id,
            body={
                "reference_id": payout_id,
                "description": f"Payout {payout_id}",
                "metadata": {"payout": payout_id},
                "entries": [
                    {"account_id": balance_code(currency), "amount": request.amount,
                     "direction": "debit"},
                    {"account_id": clearing_code(currency), "amount": request.amount,
                     "direction": "credit"},
                ],
            },
        )  # fmt: skip
    return Payout.from_row(row), outcome.kind == "paid"


async def list_payouts(
    conn: Connection, identity: Identity, *, params: ListParams
) -> tuple[list[Payout], bool]:
    rows = await repository.list_payouts(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, params=params
    )
    shown, has_more = page(rows, params)
    return [Payout.from_row(row) for row in shown], has_more


async def get_payout(conn: Connection, identity: Identity, payout_id: str) -> Payout:
    row = await repository.get_payout(
        conn, tenant_id=identity.tenant_scope, livemode=identity.livemode, payout_id=payout_id
    )
    if row is None:
        raise NotFoundError(f"No such payout: {payout_id!r}.", param="id")
    return Payout.from_row(row)
