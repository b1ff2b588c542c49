"""What payments opens once per process: one typed object, reached with `payments_state`.

Built by `open_payments_state` in the app's lifespan (once the pool is open), in this order:
the HTTP pool every provider call shares, the internal client to the ledger, the relay that
carries the outbox to it and the reader of wallets' accounts, then the reconciliation job;
closed in the reverse order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from starlette.requests import HTTPConnection

from services.payments.service.ledger_reader import LedgerReader
from services.payments.service.ledger_relay import LedgerRelay
from services.payments.service.provider_accounts import ProviderSource
from services.payments.service.reconcile import reconcile_forever
from services.payments.settings import PaymentsSettings
from shared.aio import stop
from shared.db import Pool
from shared.internal_client import open_internal_client
from shared.state import AppState, service_state


@dataclass(frozen=True, slots=True)
class PaymentsState:
    settings: PaymentsSettings
    # The app's one pool: every change in steps takes a connection of its own from it.
    pool: Pool
    providers: ProviderSource
    # Carries the outbox to the ledger (the postings payments owes it).
    relay: LedgerRelay
    # Reads wallets' ledger accounts.
    ledger: LedgerReader

    @property
    def public_url(self) -> str:
        """Where clients reach the gateway, without a trailing slash."""
        return self.settings.public_url.rstrip("/")


def payments_state(conn: HTTPConnection | AppState) -> PaymentsState:
    return service_state(conn, PaymentsState)


@asynccontextmanager
async def open_payments_state(
    settings: PaymentsSettings, state: AppState
) -> AsyncIterator[PaymentsState]:
    async with aiohttp.ClientSession() as http, open_internal_client(settings) as client:
        providers = ProviderSource(settings, http)
        ledger = client.upstream("ledger", settings.ledger_url)
        relay = LedgerRelay(state.db, ledger, settings)
        payments = PaymentsState(settings, state.db, providers, relay, LedgerReader(ledger))
        await relay.count_failed()
        relaying = asyncio.create_task(relay.run())
        try:
            reconciling = asyncio.create_task(reconcile_forever(payments))
            try:
                yield payments
            finally:
                await stop(reconciling)
        finally:
            await stop(relaying)
