"""Settlement reconciliation routes: run one, list them, read one, its lines, as CSV."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.payments.schemas_settlement import (
    LineFilters,
    Reconciliation,
    ReconciliationLine,
    ReconciliationRequest,
)
from services.payments.service import settlement
from services.payments.state import payments_state
from shared.body import parse, validate
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import ListParams, list_params, list_response
from shared.responses import json_response


class LineListParams(ListParams, LineFilters):
    """The lines' query: paging and the kind filter."""


@documented(
    request=ReconciliationRequest,
    response=Reconciliation,
    tags=["payments"],
    example={"provider": "paystack", "from": "2026-12-01", "to": "2026-12-31"},
    links={
        "retrieve": Link(
            "get_reconciliation",
            "Read this report again, with its counts",
            parameters={"reconciliation_id": "$response.body#/id"},
        ),
        "lines": Link(
            "list_reconciliation_lines",
            "Page through this report's lines",
            parameters={"reconciliation_id": "$response.body#/id"},
        ),
        "download": Link(
            "download_reconciliation_lines",
            "Download this report's lines as CSV",
            parameters={"reconciliation_id": "$response.body#/id"},
        ),
    },
)
async def create_reconciliation(request: Request) -> JSONResponse:
    """Reconcile a provider's settlements for a period with Micro's records and the ledger.

    Fetches the provider's transactions, refunds and transfers for the period (or reads the
    settlement file sent as `csv`) and answers the finished report: `status` completed with
    its counts per kind (MATCHED, MISMATCHED, MISSING_IN_MICRO, MISSING_AT_PROVIDER), or
    failed with the reason the provider or the ledger could not be read. At most 93 days.
    """
    payments = payments_state(request)
    body = await parse(request, ReconciliationRequest)
    context = settlement.Context(payments.pool, payments.providers, payments.ledger.ledger)
    shown = await settlement.run(context, identity_of(request), body)
    return json_response(shown.model_dump())


@documented(response=Reconciliation, listing=True, tags=["payments"])
async def list_reconciliations(request: Request) -> JSONResponse:
    """List reconciliations, newest first.

    Each with its counts per kind.
    """
    found, has_more = await settlement.list_reconciliations(
        payments_state(request).pool, identity_of(request), params=list_params(request)
    )
    return list_response(request, found, has_more=has_more)


@documented(response=Reconciliation, tags=["payments"])
async def get_reconciliation(request: Request) -> JSONResponse:
    """Retrieve a reconciliation with its counts per kind.

    Its lines are at `/lines` (and `/lines.csv`).
    """
    shown = await settlement.get_reconciliation(
        payments_state(request).pool,
        identity_of(request),
        request.path_params["reconciliation_id"],
    )
    return json_response(shown.model_dump())


@documented(
    response=ReconciliationLine,
    listing=True,
    query=LineListParams,
    tags=["payments"],
    operation_id="list_reconciliation_lines",
)
async def list_lines(request: Request) -> JSONResponse:
    """List a reconciliation's lines in the order found (filter: kind).

    Filter: `kind` (MATCHED, MISMATCHED, MISSING_IN_MICRO, MISSING_AT_PROVIDER).
    """
    params = list_params(request)
    filters = validate(LineFilters, dict(request.query_params))
    found, has_more = await settlement.list_lines(
        payments_state(request).pool,
        identity_of(request),
        request.path_params["reconciliation_id"],
        params=params,
        kind=filters.kind,
    )
    return list_response(request, found, has_more=has_more)


@documented(
    query=LineFilters,
    produces="text/csv",
    tags=["payments"],
    operation_id="download_reconciliation_lines",
    summary="Download a reconciliation's lines as CSV (filter: kind).",
    description="One header line, then one line per finding, with both sides' values.",
)
async def lines_csv(request: Request) -> Response:
    filters = validate(LineFilters, dict(request.query_params))
    reconciliation_id = request.path_params["reconciliation_id"]
    text = await settlement.lines_csv(
        payments_state(request).pool, identity_of(request), reconciliation_id, kind=filters.kind
    )
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{reconciliation_id}.csv"'},
    )


routes = [
    Route("/payments/reconciliations", create_reconciliation, methods=["POST"]),
    Route("/payments/reconciliations", list_reconciliations, methods=["GET"]),
    Route("/payments/reconciliations/{reconciliation_id}", get_reconciliation, methods=["GET"]),
    Route("/payments/reconciliations/{reconciliation_id}/lines", list_lines, methods=["GET"]),
    Route("/payments/reconciliations/{reconciliation_id}/lines.csv", lines_csv, methods=["GET"]),
]
