"""What payments reads from the ledger: a wallet's account (its currency, its balance),
asked before the transaction that needs it (no network call while one is open)."""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

from shared.internal_client import Refused, Scope, Upstream


class LedgerAccounts(Protocol):
    async def get_account(
        self, *, tenant_id: str, livemode: bool, code: str
    ) -> dict[str, Any] | None: ...


class LedgerReader:
    def __init__(self, ledger: Upstream) -> None:
        self.ledger = ledger

    async def get_account(
        self, *, tenant_id: str, livemode: bool, code: str
    ) -> dict[str, Any] | None:
        """A ledger account by id or code, as this tenant and mode see it; None if absent."""
        try:
            answer = await self.ledger.call(
                "GET", f"/ledger/accounts/{quote(code, safe='')}", Scope(tenant_id, livemode)
            )
        except Refused as refused:
            if refused.upstream_status == 404:
                return None
            raise
        return answer.body
