"""GET /payments/ledger_outbox: the postings owed to the ledger (platform admins)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.payments.schemas import LedgerOutboxSummary
from services.payments.service import ledger_outbox
from services.payments.state import payments_state
from shared.identity import identity_of
from shared.openapi import documented
from shared.responses import json_response


@documented(response=LedgerOutboxSummary, errors={403: "Not a platform admin (`role_required`)"})
async def outbox_summary(request: Request) -> JSONResponse:
    """How many postings wait for the ledger, and how many it refused (platform admins).

    Across every tenant and mode. `failed` postings are never sent again: an operator
    settles them (the same count as the `micro_ledger_postings_failed` gauge).
    """
    found = await ledger_outbox.summary(payments_state(request).pool, identity_of(request))
    return json_response(found.model_dump())


routes = [Route("/payments/ledger_outbox", outbox_summary, methods=["GET"])]
