"""The simulator's own book: what it charged, refunded and paid out, per tenant and mode.

Written by the simulator as it answers (`Simulator(journal=...)`), inside the change's one
transaction (the simulator is in-process), and read back when a tenant reconciles against
`provider=simulator`. It is never filled from Micro's own tables: it is the second witness
that a reconciliation compares them with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.db import Connection
from shared.rows import row


@dataclass(frozen=True, slots=True)
class JournalRow:
    kind: str
    reference: str
    charge: str | None
    amount: int
    currency: str
    status: str
    created_at: datetime


class SimulatorJournal:
    """One tenant's and mode's page of the book, on the change's connection."""

    def __init__(self, conn: Connection, *, tenant_id: str, livemode: bool) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.livemode = livemode

    async def record(
        self, kind: str, reference: str, *, amount: int, currency: str, status: str,
        charge: str | None = None,
    ) -> None:  # fmt: skip
        # A reference answered twice (a replayed confirm) keeps one entry, its latest word.
        await self.conn.execute(
            "INSERT INTO simulator_journal (tenant_id, livemode, kind, reference, amount, "
            "currency, status, charge) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (kind, reference) DO UPDATE SET amount = EXCLUDED.amount, "
            "currency = EXCLUDED.currency, status = EXCLUDED.status, updated_at = now()",
            self.tenant_id,
            self.livemode,
            kind,
            reference,
            amount,
            currency,
            status,
            charge,
        )

    async def between(self, start: datetime, end: datetime) -> list[JournalRow]:
        records = await self.conn.fetch(
            "SELECT kind, reference, charge, amount, currency, status, created_at "
            "FROM simulator_journal WHERE tenant_id = $1 AND livemode = $2 "
            "AND created_at >= $3 AND created_at < $4 ORDER BY created_at, reference",
            self.tenant_id,
            self.livemode,
            start,
            end,
        )
        return [row(JournalRow, r) for r in records]


async def settle_charge(conn: Connection, reference: str, *, succeeded: bool) -> None:
    """The simulated customer answered the simulator's authentication page: the charge it
    held pending is now taken or refused."""
    await conn.execute(
        "UPDATE simulator_journal SET status = $2, updated_at = now() "
        "WHERE kind = 'charge' AND reference = $1",
        reference,
        "succeeded" if succeeded else "failed",
    )
