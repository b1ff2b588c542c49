"""The ledger and payments services as the wallet calls them: directly (never through the
gateway), with an internal identity of the wallet's tenant and mode, over one pooled aiohttp
session opened in the lifespan.

Answers the wallet must interpret (a 402, a refused post) come back as `Refused`; an upstream
that does not answer, or answers 5xx, raises `UpstreamUnavailableError`, and the operation
is left for the recovery job (every call is idempotent by reference or Idempotency-Key).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.wallet.errors import UpstreamUnavailableError
from services.wallet.settings import WalletSettings
from shared.context import current_request_id
from shared.errors import UpstreamError
from shared.identity import Identity, TokenCache
from shared.state import AppState

CLIENTS_KEY = "wallet.clients"


@dataclass(frozen=True, slots=True)
class Scope:
    """The tenant and mode a call acts in: always the wallet's own."""

    tenant_id: str
    livemode: bool


class Refused(UpstreamError):
    """A 4xx answer: the upstream understood and said no. The wallet interprets the ones it
    expects; any other reaches the client as a 502 rather than a bare 500."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error") or {}
        self.upstream_status = status
        self.answer = body
        upstream_code: str = error.get("code") or "unknown"
        super().__init__(
            f"An upstream service refused the call ({status} {upstream_code}): "
            f"{error.get('message') or 'no message'}",
            code="upstream_refused",
        )
        # What the upstream said, for the wallet's own decisions.
        self.reason_code = upstream_code
        self.reason: str = error.get("message") or f"answered {status}"


class Upstream:
    def __init__(
        self, http: aiohttp.ClientSession, *, name: str, base_url: str, secret: str, timeout: float
    ) -> None:
        self.http = http
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.tokens = TokenCache(secret)
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(
        self,
        method: str,
        path: str,
        scope: Scope,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of a 2xx answer; Refused for a 4xx."""
        identity = Identity(
            principal="wallet",
            principal_type="service",
            tenant_id=scope.tenant_id,
            livemode=scope.livemode,
        )
        headers = {"X-Micro-Identity": self.tokens.get(identity)}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if request_id := current_request_id():
            headers["X-Request-Id"] = request_id
        try:
            async with self.http.request(
                method,
                self.base_url + path,
                json=body,
                params=params,
                headers=headers,
                timeout=self.timeout,
            ) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailableError(self.name, str(exc) or type(exc).__name__) from None
        try:
            answer = json.loads(raw) if raw else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if status >= 500 or (status == 409 and _code(answer) == "idempotency_key_in_use"):
            raise UpstreamUnavailableError(self.name, f"answered {status} {_code(answer)}")
        if status >= 400:
            raise Refused(status, answer)
        return status, answer


def _code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return error.get("code") if isinstance(error, dict) else None


def wallet_code(wallet_id: str) -> str:
    """The ledger code of a wallet's account (payments credits it for a wallet's deposit)."""
    return f"wallet.{wallet_id}"


def withdrawals_code(currency: str) -> str:
    """Where withdrawn money goes in the ledger: paid out to banks, per currency."""
    return f"wallet.withdrawals.{currency}"


class Ledger:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self._clearing_ready: set[tuple[str, bool, str]] = set()

    async def open_wallet_account(
        self, scope: Scope, *, wallet_id: str, currency: str, owner: str
    ) -> dict[str, Any]:
        """The wallet's liability account, no overdraft; the existing one on a retry."""
        return await self._open(
            scope,
            {
                "name": f"Wallet {wallet_id}",
                "type": "liability",
                "currency": currency,
                "no_overdraft": True,
                "code": wallet_code(wallet_id),
                "metadata": {"wallet": wallet_id, "owner": owner},
            },
        )

    async def ensure_withdrawals_account(self, scope: Scope, currency: str) -> None:
        key = (scope.tenant_id, scope.livemode, currency)
        if key in self._clearing_ready:
            return
        await self._open(
            scope,
            {
                "name": f"Wallet withdrawals paid out ({currency})",
                "type": "liability",
                "currency": currency,
                "code": withdrawals_code(currency),
            },
        )
        self._clearing_ready.add(key)

    async def _open(self, scope: Scope, account: dict[str, Any]) -> dict[str, Any]:
        try:
            _, body = await self.upstream.call("POST", "/ledger/accounts", scope, body=account)
        except Refused as refused:
            if refused.reason_code != "code_taken":
                raise
            return await self.account(scope, account["code"])
        return body

    async def account(self, scope: Scope, account: str) -> dict[str, Any]:
        _, body = await self.upstream.call("GET", f"/ledger/accounts/{account}", scope)
        return body

    async def post(self, scope: Scope, transaction: dict[str, Any]) -> dict[str, Any]:
        """Post (or replay, by reference) a transaction. Refused(402) without the funds."""
        _, body = await self.upstream.call("POST", "/ledger/transactions", scope, body=transaction)
        return body

    async def post_pending(self, scope: Scope, transaction_id: str) -> dict[str, Any]:
        """Post a hold in full; the posting made earlier when it was posted already."""
        try:
            _, body = await self.upstream.call(
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
        _, body = await self.upstream.call("GET", f"/ledger/transactions/{transaction_id}", scope)
        return body

    async def by_reference(self, scope: Scope, reference_id: str) -> dict[str, Any] | None:
        _, body = await self.upstream.call(
            "GET", "/ledger/transactions", scope, params={"reference_id": reference_id}
        )
        found: list[dict[str, Any]] = body.get("data") or []
        return found[0] if found else None


class Payments:
    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def create_intent(
        self, scope: Scope, intent: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        _, body = await self.upstream.call(
            "POST",
            "/payments/payment_intents",
            scope,
            body=intent,
            idempotency_key=idempotency_key,
        )
        return body

    async def intent(self, scope: Scope, intent_id: str) -> dict[str, Any]:
        _, body = await self.upstream.call("GET", f"/payments/payment_intents/{intent_id}", scope)
        return body

    async def create_payout(
        self, scope: Scope, payout: dict[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        _, body = await self.upstream.call(
            "POST", "/payments/payouts", scope, body=payout, idempotency_key=idempotency_key
        )
        return body

    async def find_payout(
        self, scope: Scope, *, wallet_id: str, operation_id: str, pages: int = 5
    ) -> dict[str, Any] | None:
        """The wallet's payout made for an operation, among its newest ones."""
        params = {"wallet_id": wallet_id, "limit": "100"}
        for _ in range(pages):
            _, body = await self.upstream.call("GET", "/payments/payouts", scope, params=params)
            found: list[dict[str, Any]] = body.get("data") or []
            for payout in found:
                if (payout.get("metadata") or {}).get("wallet_operation") == operation_id:
                    return payout
            if not body.get("has_more") or not found:
                return None
            params["starting_after"] = found[-1]["id"]
        return None

    async def payout(self, scope: Scope, payout_id: str) -> dict[str, Any]:
        _, body = await self.upstream.call("GET", f"/payments/payouts/{payout_id}", scope)
        return body


@dataclass(frozen=True, slots=True)
class Clients:
    ledger: Ledger
    payments: Payments


@asynccontextmanager
async def upstream_clients(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, WalletSettings)
    # Enough connections for a burst of concurrent transfers, bounded so a slow ledger
    # makes requests queue here rather than pile up there.
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:

        def upstream(name: str, url: str) -> Upstream:
            return Upstream(
                http,
                name=name,
                base_url=url,
                secret=settings.internal_secret,
                timeout=settings.upstream_timeout,
            )

        state.extras[CLIENTS_KEY] = Clients(
            ledger=Ledger(upstream("ledger", settings.ledger_url)),
            payments=Payments(upstream("payments", settings.payments_url)),
        )
        yield


def clients_of(state: AppState) -> Clients:
    clients = state.extras[CLIENTS_KEY]
    assert isinstance(clients, Clients)
    return clients
