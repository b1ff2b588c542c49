from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.ledger.schemas.transactions import (
    BatchRequest,
    PostRequest,
    ReverseRequest,
    Transaction,
    TransactionFilters,
    TransactionRequest,
)
from services.ledger.service import posting, reading, settlement, verify
from services.ledger.service.posting import ItemResult
from services.ledger.state import ledger_state
from shared.body import parse, parse_model, validate
from shared.identity import identity_of
from shared.openapi import Link, documented
from shared.pagination import list_response
from shared.responses import json_response


class BatchItem(BaseModel):
    status: str = Field(examples=["posted"], description="`posted`, `pending` or `failed`.")
    transaction_id: str | None = Field(examples=["txn_1NfB3kQ8Zc2rXh4T"])
    error: dict[str, Any] | None = Field(
        default=None, description="Why this item failed, in the shared error shape."
    )


class BatchResult(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchItem]
    has_more: Literal[False] = False


class Discrepancy(BaseModel):
    kind: str = Field(examples=["balance_after"])
    account_id: str
    model_config = {"extra": "allow"}


class VerifyReport(BaseModel):
    object: Literal["ledger.verification"] = "ledger.verification"
    ok: bool = Field(description="True when every balance equals the sum of its entries.")
    accounts: int
    transactions: int
    entries: int
    discrepancies: list[Discrepancy]


@documented(
    request=TransactionRequest,
    response=Transaction,
    status=201,
    # The seed document's body: accounts named by their `code` (created first), a debit
    # written as a negative amount.
    example={
        "reference_id": "pay_987",
        "description": "Payment for Service",
        "entries": [
            {"account_id": "acc_revenue", "amount": 100, "direction": "credit"},
            {"account_id": "acc_assets", "amount": -100, "direction": "debit"},
        ],
    },
    errors={
        402: "An account with `no_overdraft` would go below zero (`insufficient_funds`)",
        409: "This `reference_id` was used for a different transaction",
    },
    replay_status=200,
    links={
        "post": Link(
            "post_pending",
            "Post this transaction when it is pending",
            parameters={"transaction_id": "$response.body#/id"},
        ),
        "void": Link(
            "void_pending",
            "Void this transaction when it is pending",
            parameters={"transaction_id": "$response.body#/id"},
        ),
        "reverse": Link(
            "reverse",
            "Reverse this transaction once posted",
            parameters={"transaction_id": "$response.body#/id"},
        ),
    },
)
async def create_transaction(request: Request) -> JSONResponse:
    """Record a balanced double-entry transaction (replaying a reference returns it).

    Entries must balance per currency (debits equal credits). Name accounts by `acc_` id or
    by `code`: a fresh tenant has no accounts, so create `acc_revenue` and `acc_assets`
    (`POST /ledger/accounts` with `code`) before the seed's example. A debit may be written
    as a negative amount. `pending: true` holds the amounts until posted or voided. Sending
    the same `reference_id` again returns the first transaction.
    """
    body = await parse(request, TransactionRequest)
    recorded = await posting.create_transaction(ledger_state(request), identity_of(request), body)
    if recorded.replayed:
        return json_response(
            recorded.transaction.model_dump(), headers={"Idempotent-Replayed": "true"}
        )
    return json_response(recorded.transaction.model_dump(), status=201)


@documented(
    request=BatchRequest,
    response=BatchResult,
    example={
        "transactions": [
            {
                "reference_id": "order_1001",
                "entries": [
                    {"account_id": "acc_revenue", "amount": 100, "direction": "credit"},
                    {"account_id": "acc_assets", "amount": 100, "direction": "debit"},
                ],
            }
        ]
    },
)
async def create_batch(request: Request) -> JSONResponse:
    """Up to 1,000 transactions in one database transaction; one result per item.

    Each item is a transaction body; `linked: true` makes an item succeed or fail with the
    next. The answer has one result per item, in order.
    """
    body = await parse(request, BatchRequest)
    results = await posting.post_batch(
        ledger_state(request), identity_of(request), body.transactions
    )
    return json_response(
        {"object": "list", "data": [_item(result) for result in results], "has_more": False}
    )


def _item(result: ItemResult) -> dict[str, Any]:
    item: dict[str, Any] = {"status": result.status, "transaction_id": result.transaction_id}
    if result.error is not None:
        item["error"] = result.error.body(None)["error"]
    return item


@documented(response=Transaction, listing=True, query=TransactionFilters)
async def list_transactions(request: Request) -> JSONResponse:
    """List transactions (filters: account_id, reference_id, created[gte], created[lte]).

    Filters: `account_id`, `reference_id`, `created[gte]`, `created[lte]`.
    """
    params = validate(TransactionFilters, dict(request.query_params))
    found, has_more = await reading.list_transactions(
        ledger_state(request), identity_of(request), params=params
    )
    return list_response(request, found, has_more=has_more)


@documented(response=Transaction)
async def get_transaction(request: Request) -> JSONResponse:
    """Retrieve a transaction with its entries and status.

    With its entries and status (`posted`, `pending`, `voided`, `expired`).
    """
    found = await reading.get_transaction(
        ledger_state(request), identity_of(request), request.path_params["transaction_id"]
    )
    return json_response(found.model_dump())


@documented(request=PostRequest, response=Transaction, body_required=False, example={})
async def post_pending(request: Request) -> JSONResponse:
    """Post a pending transaction, in full or (two entries) in part.

    Without a body the whole hold is posted; with `amount`, a two-entry transaction posts
    that much and releases the rest.
    """
    ledger = ledger_state(request)
    body = await parse_model(request, PostRequest, ledger.settings.max_body_bytes)
    posted = await settlement.post_pending(
        ledger, identity_of(request), request.path_params["transaction_id"], body
    )
    return json_response(posted.model_dump())


@documented(response=Transaction)
async def void_pending(request: Request) -> JSONResponse:
    """Void a pending transaction: its holds are released.

    The held amounts are released; nothing is posted.
    """
    voided = await settlement.void_pending(
        ledger_state(request), identity_of(request), request.path_params["transaction_id"]
    )
    return json_response(voided.model_dump())


@documented(
    request=ReverseRequest,
    response=Transaction,
    status=201,
    body_required=False,
    example={},
    errors={409: "The transaction was already reversed"},
)
async def reverse(request: Request) -> JSONResponse:
    """Reverse a posted transaction with a new, opposite one (at most once).

    The original stays; the reversal carries opposite entries and points back to it.
    """
    ledger = ledger_state(request)
    body = await parse_model(request, ReverseRequest, ledger.settings.max_body_bytes)
    reversal = await settlement.reverse(
        ledger, identity_of(request), request.path_params["transaction_id"], body
    )
    return json_response(reversal.model_dump(), status=201)


@documented(response=VerifyReport)
async def verify_ledger(request: Request) -> JSONResponse:
    """Recompute every balance from its entries and report disagreements (platform admins).

    Platform admins only; read-only. A healthy ledger answers `ok: true` and no
    discrepancies.
    """
    verify.require_platform_admin(identity_of(request))
    report = await verify.verify_ledger(ledger_state(request).pool)
    return json_response(report)


routes = [
    Route("/ledger/transactions", create_transaction, methods=["POST"]),
    Route("/ledger/transactions", list_transactions, methods=["GET"]),
    Route("/ledger/transactions/batch", create_batch, methods=["POST"]),
    Route("/ledger/transactions/{transaction_id}", get_transaction, methods=["GET"]),
    Route("/ledger/transactions/{transaction_id}/post", post_pending, methods=["POST"]),
    Route("/ledger/transactions/{transaction_id}/void", void_pending, methods=["POST"]),
    Route("/ledger/transactions/{transaction_id}/reverse", reverse, methods=["POST"]),
    Route("/ledger/verify", verify_ledger, methods=["GET"]),
]
