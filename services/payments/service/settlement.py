"""Settlement reconciliation: what a provider says it settled over a period, compared with
what Micro recorded (intents, refunds, payouts) and with the ledger's postings.

A run is synchronous and bounded: the period is at most `MAX_DAYS` days and a provider's
lists at most `listing.MAX_PAGES` pages, so the request answers with the finished report
(`status` completed, or failed with its reason when the provider or the ledger could not be
read). It never holds a transaction across a call:

1. the run is recorded `pending` (committed), after the request was checked;
2. the provider's lists are fetched with no connection held (the simulator's own book is
   read in a transaction of its own: it is in-process), or the uploaded file is read;
3. Micro's side is read in one short transaction; the ledger is asked, with none open,
   whether each settled object has its posting;
4. the lines are written and the run completed in a last transaction, only if it is still
   pending, with its `reconciliation.completed` event.

Matching: a charge by our attempt's reference (`payment_attempts`, one row per attempt at a
provider, so an intent that failed over is compared at each provider it tried), a
transfer by the payout id, a refund by the provider's refund id when Micro records it
(`refunds.provider_refund_id`), else by the charge's reference and the amount. The lines:

- MATCHED: both sides agree (amount, currency, status; and the ledger has the posting of
  an object Micro calls succeeded);
- MISMATCHED: they disagree; `fields` says in what (`amount`, `currency`, `status`,
  `ledger`), and the line shows both sides' values;
- MISSING_IN_MICRO: the provider settled money Micro has no record of;
- MISSING_AT_PROVIDER: Micro says money moved, the provider has no record of it.

Records on which no money moved on either side (an abandoned checkout, a payout refused
at once) are not reported missing. The provider's lists are read a day wider than the
period on both sides, so an object made near a boundary still finds its other half; only
what falls inside the period is reported missing. The simulator's book (written by the
simulator as it charges, authenticates, refunds and pays out) stands for its lists.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from services.payments.providers.base import (
    Provider,
    Settled,
    SettledKind,
    SettledStatus,
    intent_of,
)
from services.payments.providers.listing import when
from services.payments.providers.simulator import Simulator
from services.payments.repository import reconciliations as repo
from services.payments.repository.reconciliations import (
    AttemptSide,
    LineRow,
    PayoutSide,
    ReconciliationRow,
    RefundSide,
)
from services.payments.repository.simulator_journal import SimulatorJournal
from services.payments.schemas_settlement import (
    Reconciliation,
    ReconciliationLine,
    ReconciliationRequest,
)
from services.payments.service import events
from services.payments.service.provider_accounts import ProviderNotConfiguredError, ProviderSource
from shared.access import Operation, allows
from shared.db import Connection, Pool, transaction
from shared.errors import InvalidRequestError, MicroError, NotFoundError, PermissionDeniedError
from shared.identity import Identity
from shared.ids import new_id
from shared.internal_client import Scope, Upstream
from shared.pagination import ListParams, page

MAX_DAYS = 93
# How much wider than the period the provider's lists are read.
MARGIN = timedelta(days=1)
MAX_CSV_ROWS = 10_000
# Ledger look-ups in flight at once.
_LEDGER_CONCURRENCY = 8
# Every refund the simulator books names its charge: all three kinds are compared.
_SIMULATOR_KINDS: frozenset[SettledKind] = frozenset({"charge", "refund", "transfer"})

Kind = Literal["MATCHED", "MISMATCHED", "MISSING_IN_MICRO", "MISSING_AT_PROVIDER"]


class ReconciliationNotFoundError(NotFoundError):
    def __init__(self, reconciliation_id: str) -> None:
        super().__init__(
            f"No such reconciliation: {reconciliation_id!r}.",
            code="resource_missing",
            param="id",
        )


class CsvInvalidError(InvalidRequestError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="csv_invalid", param="csv")


# -- the period -----------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def moment(value: str | int, *, param: str, end: bool) -> datetime:
    """A date (its midnight UTC; as an end, the day after: the whole day is included), an
    ISO 8601 timestamp (naive is UTC) or unix seconds."""
    if isinstance(value, int):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise _bad_moment(param) from None
    if _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _bad_moment(param) from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    parsed = when(value) if "T" in value or " " in value else None
    if parsed is None:
        raise _bad_moment(param)
    return parsed


def _bad_moment(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid {param}: a date (2026-12-01), an ISO 8601 timestamp or unix seconds.",
        code="parameter_invalid",
        param=param,
    )


def period(request: ReconciliationRequest) -> tuple[datetime, datetime]:
    start = moment(request.start, param="from", end=False)
    end = moment(request.end, param="to", end=True)
    if end <= start:
        raise InvalidRequestError(
            "The period is empty: `to` must come after `from`.", code="parameter_invalid",
            param="to",
        )  # fmt: skip
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidRequestError(
            f"A reconciliation covers at most {MAX_DAYS} days: split the period.",
            code="parameter_invalid",
            param="to",
        )
    return start, end


# -- an uploaded settlement file ------------------------------------------------------------

CSV_COLUMNS = ("type", "reference", "provider_id", "amount", "currency", "status", "created")
_REQUIRED = frozenset(CSV_COLUMNS) - {"created", "provider_id"}
_TYPES: dict[str, SettledKind] = {"charge": "charge", "refund": "refund", "transfer": "transfer"}
_STATUSES: dict[str, SettledStatus] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "pending": "pending",
}
_AMOUNT = re.compile(r"^[0-9]{1,15}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def read_csv(text: str) -> list[Settled]:
    """The settlement file's lines: a header naming at least type, reference, amount,
    currency and status (provider_id and created optional; other columns ignored)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in reader.fieldnames or []]
        if not header:
            raise CsvInvalidError("The settlement file is empty: it needs a header line.")
        missing = sorted(_REQUIRED - set(header))
        if missing:
            raise CsvInvalidError(
                f"The settlement file's header lacks {', '.join(missing)} (the columns: "
                f"{','.join(CSV_COLUMNS)})."
            )
        reader.fieldnames = header
        found: list[Settled] = []
        for number, line in enumerate(reader, start=2):
            if len(found) >= MAX_CSV_ROWS:
                raise CsvInvalidError(
                    f"The settlement file has more than {MAX_CSV_ROWS} lines: split it."
                )
            found.append(_csv_line(line, number))
    except csv.Error as exc:
        raise CsvInvalidError(f"The settlement file is not valid CSV: {exc}.") from None
    return found


def _csv_line(line: dict[str, Any], number: int) -> Settled:
    if None in line:
        raise CsvInvalidError(f"Line {number} has more fields than the header.")

    def value(name: str) -> str:
        raw = line.get(name)
        return raw.strip() if isinstance(raw, str) else ""

    kind = _TYPES.get(value("type").lower())
    if kind is None:
        raise CsvInvalidError(f"Line {number}: type must be charge, refund or transfer.")
    reference, provider_id = value("reference") or None, value("provider_id") or None
    if reference is None and (kind != "refund" or provider_id is None):
        raise CsvInvalidError(f"Line {number}: reference is required.")
    if not _AMOUNT.match(value("amount")):
        raise CsvInvalidError(
            f"Line {number}: amount must be a whole number of minor units (e.g. 5000)."
        )
    if not _CURRENCY.match(value("currency")):
        raise CsvInvalidError(f"Line {number}: currency must be a three-letter code.")
    status = _STATUSES.get(value("status").lower())
    if status is None:
        raise CsvInvalidError(f"Line {number}: status must be succeeded, failed or pending.")
    created = None
    if value("created"):
        try:
            created = moment(value("created"), param="created", end=False)
        except InvalidRequestError:
            raise CsvInvalidError(
                f"Line {number}: created must be a date or an ISO 8601 timestamp."
            ) from None
    return Settled(
        kind, reference, provider_id, int(value("amount")), value("currency").lower(), status,
        created,
    )  # fmt: skip


# -- Micro's side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    """One of Micro's objects as the provider should list it."""

    object_type: SettledKind
    reference: str  # what the provider echoes (attempt reference, payout id, charge ref)
    micro_id: str
    amount: int
    currency: str
    status: SettledStatus
    shown_status: str  # Micro's own word, shown on the line
    in_period: bool
    # The ledger reference that must be posted (an object Micro calls settled).
    ledger_reference: str | None = None
    provider_refund_id: str | None = None


@dataclass(slots=True)
class MicroSide:
    charges: dict[str, Recorded] = field(default_factory=dict)
    refunds: list[Recorded] = field(default_factory=list)
    transfers: dict[str, Recorded] = field(default_factory=dict)


_ATTEMPT_STATUS: dict[str, SettledStatus] = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
}
_INTENT_PENDING = frozenset({"processing", "requires_action"})
_INTENT_SETTLED = frozenset({"succeeded", "requires_capture"})


def _charge(attempt: AttemptSide, *, start: datetime, end: datetime) -> Recorded:
    """An attempt as the provider should list it. The latest attempt's outcome is the
    intent's (its status is what Micro acts on: an intent called succeeded owes the ledger
    its posting); an earlier one's is its own row's."""
    status: SettledStatus
    if attempt.latest:
        status = (
            "succeeded" if attempt.intent_status in _INTENT_SETTLED
            else "pending" if attempt.intent_status in _INTENT_PENDING
            else "failed"
        )  # fmt: skip
    else:
        status = _ATTEMPT_STATUS.get(attempt.status, "failed")
    settled = attempt.latest and attempt.intent_status == "succeeded"
    return Recorded(
        "charge", attempt.provider_reference, attempt.intent_id, attempt.amount,
        attempt.currency, status, attempt.intent_status if attempt.latest else attempt.status,
        start <= attempt.created_at < end,
        ledger_reference=attempt.intent_id if settled else None,
    )  # fmt: skip


def _refund(refund: RefundSide, *, start: datetime, end: datetime) -> Recorded:
    status: SettledStatus = (
        "succeeded" if refund.status == "succeeded" else "failed" if refund.status == "failed"
        else "pending"
    )  # fmt: skip
    return Recorded(
        "refund", refund.payment_intent_id, refund.id, refund.amount, refund.currency, status,
        refund.status, start <= refund.created_at < end,
        ledger_reference=refund.id if refund.status == "succeeded" else None,
        provider_refund_id=refund.provider_refund_id,
    )  # fmt: skip


def _payout(payout: PayoutSide, *, start: datetime, end: datetime) -> Recorded:
    status: SettledStatus = (
        "succeeded" if payout.status == "paid" else "failed" if payout.status == "failed"
        else "pending"
    )  # fmt: skip
    # A wallet's payout is posted by the wallet service, not by payments.
    posted = payout.status == "paid" and payout.wallet_id is None
    return Recorded(
        "transfer", payout.id, payout.id, payout.amount, payout.currency, status, payout.status,
        start <= payout.created_at < end, ledger_reference=payout.id if posted else None,
    )  # fmt: skip


async def read_micro(
    conn: Connection, *, tenant_id: str, livemode: bool, provider: str, start: datetime,
    end: datetime, named: Sequence[Settled], kinds: frozenset[SettledKind],
) -> MicroSide:  # fmt: skip
    """Micro's objects of the period, and those the provider's lines name from outside it."""
    references = sorted({s.reference for s in named if s.reference and s.kind == "charge"})
    intent_ids = sorted(
        {intent_of(s.reference) for s in named if s.reference and s.kind != "transfer"}
    )
    payout_ids = sorted({s.reference for s in named if s.reference and s.kind == "transfer"})
    scope: dict[str, Any] = {
        "tenant_id": tenant_id, "livemode": livemode, "provider": provider, "start": start,
        "end": end,
    }  # fmt: skip
    side = MicroSide()
    for attempt in await repo.attempts_of(conn, **scope, references=references):
        side.charges[attempt.provider_reference] = _charge(attempt, start=start, end=end)
    if "refund" in kinds:
        side.refunds = [
            _refund(r, start=start, end=end)
            for r in await repo.refunds_of(conn, **scope, intent_ids=intent_ids)
        ]
    if "transfer" in kinds:
        for payout in await repo.payouts_of(conn, **scope, ids=payout_ids):
            side.transfers[payout.id] = _payout(payout, start=start, end=end)
    return side


# -- matching -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    object_type: SettledKind
    provider: Settled | None
    micro: Recorded | None


def pair(
    records: Iterable[Settled], micro: MicroSide, *, start: datetime, end: datetime
) -> list[Pair]:
    """Each provider line with the Micro object it is about (or none), then Micro's settled
    objects the provider did not list."""
    pairs: list[Pair] = []
    used: set[tuple[str, str]] = set()  # (object_type, micro reference or id)

    def inside(settled: Settled) -> bool:
        return settled.created is None or start <= settled.created < end

    def unknown(settled: Settled) -> None:
        if settled.status == "succeeded" and inside(settled):
            pairs.append(Pair(settled.kind, settled, None))

    by_refund_id = {r.provider_refund_id: r for r in micro.refunds if r.provider_refund_id}
    for settled in records:
        if settled.kind == "refund":
            found = by_refund_id.get(settled.provider_id or "")
            if found is None and settled.reference:
                candidates = [
                    r for r in micro.refunds
                    if r.reference == intent_of(settled.reference)
                    and ("refund", r.micro_id) not in used and r.amount == settled.amount
                ]  # fmt: skip
                # The same status first: two refunds of one amount, one failed, one not.
                candidates.sort(key=lambda r: r.status != settled.status)
                found = candidates[0] if candidates else None
            if found is None or ("refund", found.micro_id) in used:
                unknown(settled)
                continue
            used.add(("refund", found.micro_id))
            pairs.append(Pair("refund", settled, found))
            continue
        book = micro.charges if settled.kind == "charge" else micro.transfers
        recorded = book.get(settled.reference or "")
        if recorded is None or (settled.kind, recorded.reference) in used:
            # A second line for one reference is money taken twice: never matched.
            unknown(settled)
            continue
        used.add((settled.kind, recorded.reference))
        pairs.append(Pair(settled.kind, settled, recorded))
    for recorded in [*micro.charges.values(), *micro.refunds, *micro.transfers.values()]:
        key = recorded.micro_id if recorded.object_type == "refund" else recorded.reference
        if (recorded.object_type, key) in used:
            continue
        if recorded.in_period and recorded.status == "succeeded":
            pairs.append(Pair(recorded.object_type, None, recorded))
    return pairs


def to_post(pairs: Iterable[Pair]) -> list[str]:
    """The ledger references to look up: those of settled objects both sides know."""
    return sorted(
        {
            p.micro.ledger_reference
            for p in pairs
            if p.provider and p.micro and p.micro.ledger_reference
        }
    )


def judge(pairs: Iterable[Pair], posted: set[str]) -> list[tuple[Kind, Pair, list[str]]]:
    found: list[tuple[Kind, Pair, list[str]]] = []
    for each in pairs:
        theirs, ours = each.provider, each.micro
        if ours is None:
            found.append(("MISSING_IN_MICRO", each, []))
            continue
        if theirs is None:
            found.append(("MISSING_AT_PROVIDER", each, []))
            continue
        fields = [
            name
            for name, differs in (
                ("amount", theirs.amount != ours.amount),
                ("currency", theirs.currency != ours.currency),
                ("status", theirs.status != ours.status),
                (
                    "ledger",
                    ours.ledger_reference is not None and ours.ledger_reference not in posted,
                ),
            )
            if differs
        ]
        found.append(("MISMATCHED" if fields else "MATCHED", each, fields))
    return found


def lines_of(
    reconciliation_id: str, judged: Sequence[tuple[Kind, Pair, list[str]]]
) -> list[LineRow]:
    rows = []
    for seq, (kind, each, fields) in enumerate(judged, start=1):
        theirs, ours = each.provider, each.micro
        reference = (ours.reference if ours else None) or (theirs.reference if theirs else None)
        if ours is not None and ours.object_type == "refund":
            reference = ours.micro_id
        rows.append(
            LineRow(
                reconciliation_id, seq, kind, each.object_type,
                reference or (theirs.provider_id if theirs else None) or "",
                ours.micro_id if ours else None, theirs.provider_id if theirs else None,
                ",".join(fields) or None,
                theirs.amount if theirs else None, ours.amount if ours else None,
                theirs.currency if theirs else None, ours.currency if ours else None,
                theirs.status if theirs else None, ours.shown_status if ours else None,
            )
        )  # fmt: skip
    return rows


# -- the run --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What a run needs of the service (`PaymentsState`'s parts)."""

    pool: Pool
    providers: ProviderSource
    ledger: Upstream


async def posted_references(
    ledger: Upstream, *, tenant_id: str, livemode: bool, references: Sequence[str]
) -> set[str]:
    """Which of `references` the ledger has a transaction for (asked with no transaction
    open, a few at a time)."""
    scope = Scope(tenant_id, livemode)
    gate = asyncio.Semaphore(_LEDGER_CONCURRENCY)

    async def has(reference: str) -> bool:
        async with gate:
            answer = await ledger.call(
                "GET", "/ledger/transactions", scope,
                params={"reference_id": reference, "limit": "1"},
            )  # fmt: skip
        data = answer.body.get("data")
        return isinstance(data, list) and bool(data)

    found = await asyncio.gather(*(has(r) for r in references))
    return {r for r, yes in zip(references, found, strict=True) if yes}


async def run(
    context: Context, identity: Identity, request: ReconciliationRequest
) -> Reconciliation:
    tenant_id = _tenant(identity)
    livemode = identity.livemode
    start, end = period(request)
    uploaded = read_csv(request.csv) if request.csv is not None else None
    if livemode and request.provider == "simulator":
        raise ProviderNotConfiguredError(
            "The simulator exists in test mode only: there is nothing of it to reconcile in "
            "live mode."
        )
    source = None
    if uploaded is None and request.provider != "simulator":
        source = await _hosted(
            context, tenant_id=tenant_id, livemode=livemode, provider=request.provider
        )
    reconciliation_id = new_id("rcn")
    async with transaction(context.pool) as conn:
        await repo.insert_reconciliation(
            conn, reconciliation_id=reconciliation_id, tenant_id=tenant_id, livemode=livemode,
            provider=request.provider, source="csv" if uploaded is not None else "api",
            period_start=start, period_end=end,
        )  # fmt: skip
    kinds: frozenset[SettledKind] = (
        _SIMULATOR_KINDS if request.provider == "simulator" and uploaded is None
        else frozenset({"charge", "refund", "transfer"})
    )  # fmt: skip
    try:
        if uploaded is not None:
            records = uploaded
        elif source is not None:
            records = await source.list_settled(start=start - MARGIN, end=end + MARGIN)
        else:
            async with transaction(context.pool) as conn:
                journal = SimulatorJournal(conn, tenant_id=tenant_id, livemode=livemode)
                records = await Simulator(journal).list_settled(
                    start=start - MARGIN, end=end + MARGIN
                )
        records = [r for r in records if r.kind in kinds]
        async with transaction(context.pool) as conn:
            micro = await read_micro(
                conn, tenant_id=tenant_id, livemode=livemode, provider=request.provider,
                start=start, end=end, named=records, kinds=kinds,
            )  # fmt: skip
        pairs = pair(records, micro, start=start, end=end)
        posted = await posted_references(
            context.ledger, tenant_id=tenant_id, livemode=livemode, references=to_post(pairs)
        )
    except MicroError as exc:
        return await _fail(context.pool, reconciliation_id, exc.message)
    lines = lines_of(reconciliation_id, judge(pairs, posted))
    async with transaction(context.pool) as conn:
        await repo.insert_lines(conn, lines)
        done = await repo.finish(conn, reconciliation_id, status="completed")
        if done is None:
            raise ReconciliationNotFoundError(reconciliation_id)  # finished by someone else
        shown = Reconciliation.from_row(done, _count(lines))
        await events.emit(
            conn, "reconciliation.completed", shown, tenant_id=tenant_id, livemode=livemode
        )
    return shown


async def _hosted(context: Context, *, tenant_id: str, livemode: bool, provider: str) -> Provider:
    async with transaction(context.pool) as conn:
        account = await context.providers.tenant(
            conn, tenant_id=tenant_id, livemode=livemode, provider=provider
        )
    account = account or context.providers.platform(provider, livemode=livemode)
    if account is None:
        mode = "live" if livemode else "test"
        raise ProviderNotConfiguredError(
            f"No {mode}-mode {provider} account is configured for this tenant or the "
            f"platform: add one with PUT /payments/providers/{provider}, or send the "
            "settlement file as `csv`."
        )
    built: Provider = context.providers.build(account, provider)
    return built


async def _fail(pool: Pool, reconciliation_id: str, message: str) -> Reconciliation:
    async with transaction(pool) as conn:
        failed = await repo.finish(
            conn, reconciliation_id, status="failed", failure_message=message
        )
    if failed is None:
        raise ReconciliationNotFoundError(reconciliation_id)
    return Reconciliation.from_row(failed, {})


def _count(lines: Iterable[LineRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.kind] = counts.get(line.kind, 0) + 1
    return counts


def _tenant(identity: Identity) -> str:
    """Reconciling reads what a provider account settled: the business of the tenant's
    admins and API keys, as its provider accounts are (`Operation.MANAGE_PROVIDERS`)."""
    if not identity.tenant_id or not allows(identity, Operation.MANAGE_PROVIDERS):
        raise PermissionDeniedError(
            "Only the tenant's admins and API keys reconcile its providers' settlements."
        )
    return identity.tenant_id


# -- reading reports ------------------------------------------------------------------------


async def _owned(conn: Connection, identity: Identity, reconciliation_id: str) -> ReconciliationRow:
    found = await repo.get_reconciliation(
        conn, tenant_id=_tenant(identity), livemode=identity.livemode,
        reconciliation_id=reconciliation_id,
    )  # fmt: skip
    if found is None:
        raise ReconciliationNotFoundError(reconciliation_id)
    return found


async def get_reconciliation(
    pool: Pool, identity: Identity, reconciliation_id: str
) -> Reconciliation:
    async with transaction(pool) as conn:
        found = await _owned(conn, identity, reconciliation_id)
        counts = await repo.counts(conn, [found.id])
    return Reconciliation.from_row(found, counts.get(found.id, {}))


async def list_reconciliations(
    pool: Pool, identity: Identity, *, params: ListParams
) -> tuple[list[Reconciliation], bool]:
    async with transaction(pool) as conn:
        rows = await repo.list_reconciliations(
            conn, tenant_id=_tenant(identity), livemode=identity.livemode, params=params
        )
        shown, has_more = page(rows, params)
        counts = await repo.counts(conn, [r.id for r in shown])
    return [Reconciliation.from_row(r, counts.get(r.id, {})) for r in shown], has_more


_LINE_ID = re.compile(r"^line_([0-9]{1,9})$")


def _seq(value: str | None, param: str) -> int | None:
    if value is None:
        return None
    matched = _LINE_ID.match(value)
    if matched is None:
        raise InvalidRequestError(
            f"Invalid {param}: a line id (line_1).", code="parameter_invalid", param=param
        )
    return int(matched.group(1))


async def list_lines(
    pool: Pool, identity: Identity, reconciliation_id: str, *, params: ListParams,
    kind: str | None,
) -> tuple[list[ReconciliationLine], bool]:  # fmt: skip
    """A report's lines in the order found (`starting_after` walks on, `ending_before`
    back)."""
    after = _seq(params.starting_after, "starting_after")
    before = _seq(params.ending_before, "ending_before")
    async with transaction(pool) as conn:
        await _owned(conn, identity, reconciliation_id)
        rows = await repo.lines(
            conn, reconciliation_id, kind=kind, after=after, before=before, limit=params.fetch
        )
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if before is not None:
        rows.reverse()
    return [ReconciliationLine.from_row(r) for r in rows], has_more


LINE_CSV_COLUMNS = (
    "kind", "object_type", "reference", "micro_id", "provider_id", "fields",
    "provider_amount", "micro_amount", "provider_currency", "micro_currency",
    "provider_status", "micro_status",
)  # fmt: skip


async def lines_csv(
    pool: Pool, identity: Identity, reconciliation_id: str, *, kind: str | None
) -> str:
    """The report's lines as CSV (one header line, then one line per finding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LINE_CSV_COLUMNS)
    async with transaction(pool) as conn:
        await _owned(conn, identity, reconciliation_id)
        after: int | None = None
        while True:
            rows = await repo.lines(
                conn, reconciliation_id, kind=kind, after=after, before=None, limit=1000
            )
            for line in rows:
                writer.writerow([_cell(getattr(line, c)) for c in LINE_CSV_COLUMNS])
            if len(rows) < 1000:
                break
            after = rows[-1].seq
    return out.getvalue()


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula (a provider's reference may be
    anything) is quoted with a leading apostrophe."""
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text
