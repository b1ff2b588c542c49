"""Settlement reconciliations: the runs, their lines, and what a run reads of Micro's own
records (intents, refunds, payouts of one provider, tenant and mode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import datetime

from shared.db import Connection
from shared.pagination import ListParams
from shared.rows import row
from shared.scoped import ScopedTable


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    id: str
    tenant_id: str
    livemode: bool
    provider: str
    source: str
    period_start: datetime
    period_end: datetime
    status: str
    failure_message: str | None
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class LineRow:
    """One finding; the column order is the table's (written with `astuple`)."""

    reconciliation_id: str
    seq: int
    kind: str
    object_type: str
    reference: str
    micro_id: str | None
    provider_id: str | None
    fields: str | None
    provider_amount: int | None
    micro_amount: int | None
    provider_currency: str | None
    micro_currency: str | None
    provider_status: str | None
    micro_status: str | None


_COLUMNS = (
    "id, tenant_id, livemode, provider, source, period_start, period_end, status, "
    "failure_message, created_at, completed_at"
)
_RUNS = ScopedTable("reconciliations", _COLUMNS)
_LINE_COLUMNS = (
    "reconciliation_id, seq, kind, object_type, reference, micro_id, provider_id, fields, "
    "provider_amount, micro_amount, provider_currency, micro_currency, provider_status, "
    "micro_status"
)


async def insert_reconciliation(
    conn: Connection, *, reconciliation_id: str, tenant_id: str, livemode: bool, provider: str,
    source: str, period_start: datetime, period_end: datetime,
) -> ReconciliationRow:  # fmt: skip
    record = await conn.fetchrow(
        "INSERT INTO reconciliations (id, tenant_id, livemode, provider, source, period_start, "
        f"period_end, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING {_COLUMNS}",
        reconciliation_id,
        tenant_id,
        livemode,
        provider,
        source,
        period_start,
        period_end,
    )
    assert record is not None  # INSERT ... RETURNING answers its row
    return row(ReconciliationRow, record)


async def finish(
    conn: Connection, reconciliation_id: str, *, status: str, failure_message: str | None = None
) -> ReconciliationRow | None:
    """Completes (or fails) a run still pending; None when it was not (already finished)."""
    record = await conn.fetchrow(
        "UPDATE reconciliations SET status = $2, failure_message = $3, completed_at = now() "
        f"WHERE id = $1 AND status = 'pending' RETURNING {_COLUMNS}",
        reconciliation_id,
        status,
        failure_message,
    )
    return None if record is None else row(ReconciliationRow, record)


async def insert_lines(conn: Connection, lines: Sequence[LineRow]) -> None:
    if lines:
        await conn.copy_records_to_table(
            "reconciliation_lines",
            records=[astuple(line) for line in lines],
            columns=[c.strip() for c in _LINE_COLUMNS.split(",")],
        )


async def get_reconciliation(
    conn: Connection, *, tenant_id: str, livemode: bool, reconciliation_id: str
) -> ReconciliationRow | None:
    record = await _RUNS.get(conn, tenant_id=tenant_id, livemode=livemode, row_id=reconciliation_id)
    return None if record is None else row(ReconciliationRow, record)


async def list_reconciliations(
    conn: Connection, *, tenant_id: str, livemode: bool, params: ListParams
) -> list[ReconciliationRow]:
    records = await _RUNS.page(conn, tenant_id=tenant_id, livemode=livemode, params=params)
    return [row(ReconciliationRow, r) for r in records]


async def counts(conn: Connection, reconciliation_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Lines per kind, per run."""
    records = await conn.fetch(
        "SELECT reconciliation_id, kind, count(*) AS n FROM reconciliation_lines "
        "WHERE reconciliation_id = ANY($1::text[]) GROUP BY reconciliation_id, kind",
        list(reconciliation_ids),
    )
    found: dict[str, dict[str, int]] = {}
    for record in records:
        found.setdefault(record["reconciliation_id"], {})[record["kind"]] = int(record["n"])
    return found


async def lines(
    conn: Connection, reconciliation_id: str, *, kind: str | None, after: int | None,
    before: int | None, limit: int,
) -> list[LineRow]:  # fmt: skip
    """Lines in the order found (by seq), walking forward from `after` or back from
    `before`; `limit` None-free (the CSV asks for all in pages)."""
    order, op, cursor = ("DESC", "<", before) if before is not None else ("ASC", ">", after)
    records = await conn.fetch(
        f"SELECT {_LINE_COLUMNS} FROM reconciliation_lines WHERE reconciliation_id = $1 "
        f"AND ($2::text IS NULL OR kind = $2) AND ($3::int IS NULL OR seq {op} $3) "
        f"ORDER BY seq {order} LIMIT $4",
        reconciliation_id,
        kind,
        cursor,
        limit,
    )
    return [row(LineRow, r) for r in records]


# -- Micro's side of a period ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptSide:
    """One attempt at the provider (`payment_attempts`), with its intent as it stands."""

    intent_id: str
    number: int
    provider_reference: str
    status: str  # the attempt's: pending, requires_action, succeeded, failed, canceled
    created_at: datetime
    amount: int
    currency: str
    intent_status: str
    # The intent's latest attempt: its outcome is the intent's own.
    latest: bool


@dataclass(frozen=True, slots=True)
class RefundSide:
    id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: str
    # The provider's own refund id, where the refunds table records it (issue #16's
    # `provider_refund_id`); None otherwise.
    provider_refund_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PayoutSide:
    id: str
    amount: int
    currency: str
    status: str
    wallet_id: str | None
    created_at: datetime


_SCOPE = "tenant_id = $1 AND livemode = $2 AND provider = $3"
# Either the period (created in [$4, $5)) or the ids a provider named ($6).
_WHICH = "((created_at >= $4 AND created_at < $5) OR id = ANY($6::text[]))"


async def attempts_of(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str, start: datetime,
    end: datetime, references: Sequence[str],
) -> list[AttemptSide]:  # fmt: skip
    """The attempts made at `provider` in the period (an intent that failed over has its
    earlier attempts at another), and those whose references the provider named."""
    records = await conn.fetch(
        "SELECT a.intent_id, a.number, a.provider_reference, a.status, a.created_at, i.amount, "
        "i.currency, i.status AS intent_status, a.number = i.attempts AS latest "
        "FROM payment_attempts a JOIN payment_intents i ON i.id = a.intent_id "
        "WHERE a.tenant_id = $1 AND a.livemode = $2 AND a.provider = $3 AND "
        "((a.created_at >= $4 AND a.created_at < $5) OR a.provider_reference = ANY($6::text[])) "
        "ORDER BY a.intent_id, a.number",
        tenant_id, livemode, provider, start, end, list(references),
    )  # fmt: skip
    return [row(AttemptSide, r) for r in records]


async def refunds_of(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str, start: datetime,
    end: datetime, intent_ids: Sequence[str],
) -> list[RefundSide]:  # fmt: skip
    """Refunds through the provider made in the period, and every refund of the intents
    named."""
    records = await conn.fetch(
        "SELECT r.id, r.payment_intent_id, r.amount, r.currency, r.status, "
        "r.provider_refund_id, r.created_at FROM refunds r "
        "WHERE r.tenant_id = $1 AND r.livemode = $2 AND r.provider = $3 AND "
        "((r.created_at >= $4 AND r.created_at < $5) OR r.payment_intent_id = ANY($6::text[])) "
        "ORDER BY r.id",
        tenant_id, livemode, provider, start, end, list(intent_ids),
    )  # fmt: skip
    return [row(RefundSide, r) for r in records]


async def payouts_of(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str, start: datetime,
    end: datetime, ids: Sequence[str],
) -> list[PayoutSide]:  # fmt: skip
    records = await conn.fetch(
        "SELECT id, amount, currency, status, wallet_id, created_at FROM payouts "
        f"WHERE {_SCOPE} AND {_WHICH} ORDER BY id",
        tenant_id, livemode, provider, start, end, list(ids),
    )  # fmt: skip
    return [row(PayoutSide, r) for r in records]
