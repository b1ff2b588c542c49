"""Request and response models of settlement reconciliation (`/payments/reconciliations`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from services.payments.repository.reconciliations import LineRow, ReconciliationRow
from services.payments.schemas import ProviderName
from shared.timeutil import unix

LineKind = Literal["MATCHED", "MISMATCHED", "MISSING_IN_MICRO", "MISSING_AT_PROVIDER"]
KINDS: tuple[LineKind, ...] = ("MATCHED", "MISMATCHED", "MISSING_IN_MICRO", "MISSING_AT_PROVIDER")


def _moment(value: Any) -> str | int:
    # One field of two types: checked here so that a refusal names `from`/`to` alone.
    if isinstance(value, str) and 1 <= len(value) <= 40:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError("a date (2026-12-01), an ISO 8601 timestamp or unix seconds")


# A date (`2026-12-01`, the whole day), an ISO 8601 timestamp, or unix seconds.
Moment = Annotated[
    Any,
    AfterValidator(_moment),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 40},
                {"type": "integer", "minimum": 0},
            ]
        }
    ),
]
# About 1 300 lines of a settlement file (split a longer period): however it is encoded, a
# text of this length fits the gateway's and the service's 1 MiB body limit, so a longer one
# is a 400 naming `csv`, never a 413. A form encodes a 4-byte character as 12 bytes
# (`%F0%9F...`), JSON escapes one as 6 at most; room beside it for the other fields.
MAX_CSV_CHARS = 80_000


class ReconciliationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    provider: ProviderName = Field(examples=["paystack"])
    start: Moment = Field(
        alias="from",
        description="Start of the period: a date (its midnight UTC), an ISO 8601 timestamp "
        "or unix seconds.",
        examples=["2026-12-01"],
    )
    end: Moment = Field(
        alias="to",
        description="End of the period: a date (that whole day included), an ISO 8601 "
        "timestamp or unix seconds (excluded). At most 93 days after `from`.",
        examples=["2026-12-31"],
    )
    csv: Annotated[str, Field(min_length=1, max_length=MAX_CSV_CHARS)] | None = Field(
        default=None,
        description="The provider's settlement file instead of its API: a header line "
        "`type,reference,provider_id,amount,currency,status,created`, then one line per "
        "charge, refund or transfer (amount in minor units; status succeeded, failed or "
        "pending); at most 80 000 characters.",
    )


class Counts(BaseModel):
    matched: int = 0
    mismatched: int = 0
    missing_in_micro: int = 0
    missing_at_provider: int = 0


class Reconciliation(BaseModel):
    id: str = Field(examples=["rcn_0c4b1f2a9e"])
    object: Literal["reconciliation"] = "reconciliation"
    livemode: bool
    provider: str
    source: Literal["api", "csv"]
    period_start: int
    period_end: int
    status: Literal["pending", "completed", "failed"]
    failure_message: str | None
    counts: Counts
    created: int
    completed_at: int | None

    @classmethod
    def from_row(cls, run: ReconciliationRow, counts: dict[str, int]) -> Reconciliation:
        return cls.model_validate(
            {
                "id": run.id,
                "livemode": run.livemode,
                "provider": run.provider,
                "source": run.source,
                "period_start": unix(run.period_start),
                "period_end": unix(run.period_end),
                "status": run.status,
                "failure_message": run.failure_message,
                "counts": {kind.lower(): counts.get(kind, 0) for kind in KINDS},
                "created": unix(run.created_at),
                "completed_at": unix(run.completed_at) if run.completed_at else None,
            }
        )


class Side(BaseModel):
    amount: int | None
    currency: str | None
    status: str | None


class ReconciliationLine(BaseModel):
    id: str = Field(examples=["line_1"])
    object: Literal["reconciliation_line"] = "reconciliation_line"
    kind: LineKind
    object_type: Literal["charge", "refund", "transfer"]
    reference: str
    micro_id: str | None
    provider_id: str | None
    # For MISMATCHED: which of amount, currency, status, ledger disagree.
    fields: list[str]
    provider: Side
    micro: Side

    @classmethod
    def from_row(cls, line: LineRow) -> ReconciliationLine:
        return cls.model_validate(
            {
                "id": f"line_{line.seq}",
                "kind": line.kind,
                "object_type": line.object_type,
                "reference": line.reference,
                "micro_id": line.micro_id,
                "provider_id": line.provider_id,
                "fields": line.fields.split(",") if line.fields else [],
                "provider": {
                    "amount": line.provider_amount,
                    "currency": line.provider_currency,
                    "status": line.provider_status,
                },
                "micro": {
                    "amount": line.micro_amount,
                    "currency": line.micro_currency,
                    "status": line.micro_status,
                },
            }
        )


class LineFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: LineKind | None = None
