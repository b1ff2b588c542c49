"""The ledger and payments services as the wallet calls them: directly (never through the
gateway), as the wallet acting in the tenant and mode of the operation, through the process's
internal client (`shared.internal_client`).

Answers the wallet must interpret (a 402, a refused post) come back as `Refused`; an upstream
that does not answer, or answers 5xx, raises `Unavailable` after the client's retries, and
the operation is left for the recovery job (every call is idempotent by reference or
Idempotency-Key). No call is ever made inside a database transaction: the client refuses.
"""

from __future__ import annotations

from typing import Any

from shared.internal_client import Refused, Scope, Upstream
from shared.ledger_contract import (
    Account,
    Posting,
    open_account,
    wallet_account,
    withdrawals_account,
)
from shared.ledger_contract import wallet_code as wallet_code  # where tests found it


class _Api:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def _call(self, method: str, path: str, scope: Scope, **options: Any) -> dict[str, Any]:
        return (await self.upstream.call(method, path, scope, **options)).body


class Ledger(_Api):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__(upstream)
        # (scope, currency) whose withdrawals account this process has opened already.
        self._withdrawals_ready: set[tuple[Scope, str]] = set()

    async def open_wallet_account(
        self, scope: Scope, *, wallet_id: str, currency: str, owner: str
    ) -> dict[str, Any]:
        """The wallet's liability account, no overdraft; the existing one on a retry."""
        return await self._open(scope, wallet_account(wallet_id, currency=currency, owner=owner))

    async def ensure_withdrawals_account(self, scope: Scope, currency: str) -> None:
        if (scope, currency) in self._withdrawals_ready:
            return
        await self._open(scope, withdrawals_account(currency))
        self._withdrawals_ready.add((scope, currency))

    async def _open(self, scope: Scope, account: Account) -> dict[str, Any]:
        """The account, created now or found by its code."""
        created = await open_account(self.upstream, scope, account)
        return created if created is not None else await self.account(scope, account.code)

    async def account(self, scope: Scope, account: str) -> dict[str, Any]:
        return await self._call("GET", f"/ledger/accounts/{account}", scope)

    async def post(self, scope: Scope, posting: Posting) -> dict[str, Any]:
        """Post (or replay, by reference) a posting. Refused(402) without the funds."""
        return await self._call("POST", "/ledger/transactions", scope, body=posting.body())

    async def post_pending(self, scope: Scope, transaction_id: str) -> dict[str, Any]:
        """Post a hold in full; the posting made earlier when it was posted already."""
        try:
            body = await self._call(
                "POST", f"/ledger/transactions/{transaction_id}/post", scope, body={}
            )
        except Refused as refused:
            if refused.reason_code != "transaction_archived":
                raise
            pending = await self.transaction(scope, transaction_id)
            return await self.transaction(scope, pending["posted_by"])
        return body

    async def void_pending(self, scope: Scope, transaction_id: str) -> None:
        """Release a hold; done already (voided, or lapsed) is done."""
        try:
            await self.upstream.call(
                "POST", f"/ledger/transactions/{transaction_id}/void", scope, body={}
            )
        except Refused as refused:
            if refused.reason_code not in ("transaction_voided", "transaction_expired"):
                raise

    async def transaction(self, scope: Scope, transaction_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/ledger/transactions/{transaction_id}", scope)

    async def by_reference(self, scope: Scope, reference_id: str) -> dict[str, Any] | None:
        body = await self._call(
            "GET", "/ledger/transactions", scope, params={"reference_id": reference_id}
        )
        found: list[dict[str, Any]] = body.get("data") or []
        return found[0] if found else None


class Payments(_Api):
    async def create_intent(
        self, scope: Scope, intent: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        return await self._call(
            "POST",
            "/payments/payment_intents",
            scope,
            body=intent,
            idempotency_key=idempotency_key,
        )

    async def intent(self, scope: Scope, intent_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/payments/payment_intents/{intent_id}", scope)

    async def create_payout(
        self, scope: Scope, payout: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        return await self._call(
            "POST", "/payments/payouts", scope, body=payout, idempotency_key=idempotency_key
        )

    async def find_payout(
        self, scope: Scope, *, wallet_id: str, operation_id: str, attempt: int = 1,
        pages: int = 5,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The wallet's payout made for an operation's `attempt`, among its newest ones."""
        params = {"wallet_id": wallet_id, "limit": "100"}
        for _ in range(pages):
            body = await self._call("GET", "/payments/payouts", scope, params=params)
            found: list[dict[str, Any]] = body.get("data") or []
            for payout in found:
                metadata = payout.get("metadata") or {}
                if metadata.get("wallet_operation") == operation_id and (
                    payout_attempt(payout) == attempt
                ):
                    return payout
            if not body.get("has_more") or not found:
                return None
            params["starting_after"] = found[-1]["id"]
        return None

    async def payout(self, scope: Scope, payout_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/payments/payouts/{payout_id}", scope)

    async def refund(self, scope: Scope, refund_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/payments/refunds/{refund_id}", scope)


def payout_attempt(payout: dict[str, Any]) -> int | None:
    """Which of a withdrawal's payout attempts a payout was made for (payouts made before
    withdrawals retried carry none: the first); None for an answer with no metadata."""
    metadata = payout.get("metadata")
    if metadata is None:
        return None
    value = str(metadata.get("wallet_attempt") or "1")
    return int(value) if value.isdigit() else None
