"""Carries the outbox to the ledger until the ledger acknowledges each posting.

A row is posted with its reference (the intent id), so a retry after a crash, a timeout or
a lost answer can never post twice: the ledger replays the original instead. The accounts
a posting names are created on first use (by code, which is idempotent too).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg

from services.payments import repository
from services.payments.service.intents import balance_code, clearing_code
from services.payments.settings import PaymentsSettings
from shared.aio import stop, wait_event
from shared.db import Connection, Pool, transaction
from shared.errors import UpstreamError
from shared.identity import Identity, mint
from shared.state import AppState

log = logging.getLogger("micro.payments.ledger_relay")

RELAY_KEY = "ledger_relay"
_MAX_DELAY = 300.0


class LedgerUnavailable(Exception):
    pass


class LedgerRelay:
    def __init__(self, pool: Pool, http: aiohttp.ClientSession, settings: PaymentsSettings) -> None:
        self.pool = pool
        self.http = http
        self.settings = settings
        self._wake = asyncio.Event()
        self._accounts_ready: set[tuple[str, bool, str]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await wait_event(self._wake, self.settings.relay_interval)
            self._wake.clear()
            try:
                while await self.relay_one():
                    pass
            except (OSError, asyncpg.PostgresError):  # the database is away: next round
                log.warning("ledger relay round failed", exc_info=True)

    async def relay_one(self) -> bool:
        """Post the next due row; False when none is due or the ledger refused it."""
        async with transaction(self.pool) as conn:
            row = await repository.next_due(conn)
            if row is None:
                return False
            return await self._post_row(conn, row, delay=_MAX_DELAY)

    async def deliver(self, reference_id: str, *, wait: float) -> bool:
        """Post one reference's row now, from the request that owes it, waiting at most
        `wait` seconds; True once the ledger holds it. When the ledger cannot be reached
        this gives up at once: the background relay keeps trying, and nothing waits on it."""
        try:
            async with asyncio.timeout(wait):
                while True:
                    async with transaction(self.pool) as conn:
                        row = await repository.try_lock_outbox(conn, reference_id)
                        if row is True:
                            return True
                        if isinstance(row, asyncpg.Record):
                            return await self._post_row(conn, row, delay=0.5)
                    # Another relay holds the row right now: it will be posted shortly.
                    await asyncio.sleep(0.02)
        except TimeoutError:
            return False

    async def _post_row(self, conn: Connection, row: asyncpg.Record, *, delay: float) -> bool:
        """Post a locked row and mark it; on failure, put it back for a later attempt (after
        an exponential backoff capped at `delay`)."""
        try:
            await self._post(row["tenant_id"], row["livemode"], json.loads(row["body"]))
        except (LedgerUnavailable, aiohttp.ClientError, TimeoutError) as exc:
            retry_in = min(delay, 0.5 * 2 ** row["attempts"])
            await repository.mark_failed(conn, row["id"], error=str(exc), delay=retry_in)
            log.warning(
                "ledger posting failed; will retry",
                extra={"reference_id": row["reference_id"], "retry_in": retry_in},
            )
            return False
        await repository.mark_posted(conn, row["id"])
        return True

    async def get_account(
        self, *, tenant_id: str, livemode: bool, code: str
    ) -> dict[str, Any] | None:
        """A ledger account by id or code, as this tenant and mode see it; None if absent."""
        identity = Identity(
            principal="payments", principal_type="service", tenant_id=tenant_id, livemode=livemode
        )
        headers = {"X-Micro-Identity": mint(identity, self.settings.internal_secret)}
        timeout = aiohttp.ClientTimeout(total=self.settings.ledger_timeout)
        try:
            async with self.http.get(
                f"{self.settings.ledger_url}/ledger/accounts/{quote(code, safe='')}",
                headers=headers,
                timeout=timeout,
            ) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise UpstreamError(f"The ledger answered {response.status}.")
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError):
            raise UpstreamError("The ledger cannot be reached.", status=503) from None
        return body if isinstance(body, dict) else None

    async def _post(self, tenant_id: str, livemode: bool, body: dict[str, Any]) -> None:
        identity = Identity(
            principal="payments", principal_type="service", tenant_id=tenant_id, livemode=livemode
        )
        headers = {"X-Micro-Identity": mint(identity, self.settings.internal_secret)}
        # The currency is in payments' own account codes; a wallet's code (wallet.<id>) has none.
        currency = next(
            entry["account_id"].rsplit(".", 1)[-1]
            for entry in body["entries"]
            if entry["account_id"].startswith("payments.")
        )
        await self._ensure_accounts(tenant_id, livemode, currency, headers)
        status, answer = await self._call("POST", "/ledger/transactions", body, headers)
        if status not in (200, 201):
            raise LedgerUnavailable(f"ledger answered {status}: {answer}")

    async def _ensure_accounts(
        self, tenant_id: str, livemode: bool, currency: str, headers: dict[str, str]
    ) -> None:
        key = (tenant_id, livemode, currency)
        if key in self._accounts_ready:
            return
        for code, kind, name in (
            (clearing_code(currency), "asset", f"Payments clearing ({currency})"),
            (balance_code(currency), "liability", f"Tenant balance ({currency})"),
        ):
            account = {"name": name, "type": kind, "currency": currency, "code": code}
            status, answer = await self._call("POST", "/ledger/accounts", account, headers)
            if status != 201 and not (status == 409 and "code_taken" in answer):
                raise LedgerUnavailable(f"ledger answered {status} creating {code}: {answer}")
        self._accounts_ready.add(key)

    async def _call(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=self.settings.ledger_timeout)
        async with self.http.request(
            method, f"{self.settings.ledger_url}{path}", json=body, headers=headers, timeout=timeout
        ) as response:
            return response.status, await response.text()


@asynccontextmanager
async def ledger_relay(state: AppState) -> AsyncIterator[None]:
    settings = state.settings
    assert isinstance(settings, PaymentsSettings)
    async with aiohttp.ClientSession() as http:
        relay = LedgerRelay(state.db, http, settings)
        state.extras[RELAY_KEY] = relay
        task = asyncio.create_task(relay.run())
        try:
            yield
        finally:
            await stop(task)


def relay_of(state: AppState) -> LedgerRelay:
    relay = state.extras[RELAY_KEY]
    assert isinstance(relay, LedgerRelay)
    return relay
