"""Which provider account an intent or payout goes through, and its secrets.

A tenant may store its own account per provider and mode (secret parts Fernet-encrypted at
rest with the service's `credentials_key`); otherwise the platform's default account from
settings is used. The account chosen is recorded on the object ('tenant' or 'platform') so
that later webhooks and re-verification use the same one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import aiohttp
import asyncpg

from services.payments import repository
from services.payments.providers.base import Provider
from services.payments.providers.flutterwave import Flutterwave
from services.payments.providers.http import ProviderClient
from services.payments.providers.paystack import Paystack
from services.payments.providers.simulator import Simulator
from services.payments.settings import PaymentsSettings
from shared.cipher import Cipher
from shared.db import Connection
from shared.errors import InvalidRequestError
from shared.state import AppState

HOSTED = ("paystack", "flutterwave")
Owner = Literal["platform", "tenant"]


@dataclass(frozen=True, slots=True)
class Account:
    """One provider account's secrets, decrypted in memory only."""

    provider: str
    owner: Owner
    secret_key: str
    webhook_secret: str | None
    livemode: bool | None = None  # a tenant's account is for one mode


class ProviderSource:
    """Builds the provider client for an account: one per call, sharing one HTTP pool."""

    def __init__(self, settings: PaymentsSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http
        self.cipher = Cipher(
            settings.credentials_key,
            what="provider credentials",
            setting="credentials_key",
            code="credentials_unreadable",
        )

    def build(self, account: Account | None, provider: str) -> Provider:
        if provider == "simulator" or account is None:
            return Simulator()
        base = (
            self.settings.paystack_base_url
            if provider == "paystack"
            else self.settings.flutterwave_base_url
        )
        client = ProviderClient(
            self.http,
            base_url=base,
            headers={"Authorization": f"Bearer {account.secret_key}"},
            timeout=self.settings.provider_timeout,
            name=provider.capitalize(),
        )
        return Paystack(client) if provider == "paystack" else Flutterwave(client)

    def platform(self, provider: str) -> Account | None:
        if provider == "paystack" and self.settings.paystack_secret_key:
            # Paystack signs its webhooks with the secret key itself.
            key = self.settings.paystack_secret_key
            return Account(provider, "platform", key, key)
        if provider == "flutterwave" and self.settings.flutterwave_secret_key:
            return Account(
                provider,
                "platform",
                self.settings.flutterwave_secret_key,
                self.settings.flutterwave_secret_hash or None,
            )
        return None

    async def tenant(
        self, conn: Connection, *, tenant_id: str, livemode: bool, provider: str
    ) -> Account | None:
        row = await repository.get_credentials(
            conn, tenant_id=tenant_id, livemode=livemode, provider=provider
        )
        return self._account(row) if row is not None else None

    async def tenant_accounts(
        self, conn: Connection, *, tenant_id: str, provider: str
    ) -> list[Account]:
        rows = await repository.tenant_credentials(conn, tenant_id=tenant_id, provider=provider)
        return [self._account(row) for row in rows]

    def _account(self, row: asyncpg.Record) -> Account:
        secret = self.cipher.decrypt(row["secret_key"])
        hook = row["webhook_secret"]
        return Account(
            row["provider"],
            "tenant",
            secret,
            self.cipher.decrypt(hook) if hook is not None else None,
            livemode=row["livemode"],
        )

    async def choose(
        self, conn: Connection, *, tenant_id: str, livemode: bool, provider: str
    ) -> tuple[Provider, Owner]:
        """The account a new intent or payout uses: the tenant's own, else the platform's."""
        if provider == "simulator":
            return Simulator(), "platform"
        account = await self.tenant(conn, tenant_id=tenant_id, livemode=livemode, provider=provider)
        account = account or self.platform(provider)
        if account is None:
            raise InvalidRequestError(
                f"No {provider} account is configured: add one with PUT "
                f"/payments/providers/{provider}.",
                code="provider_not_configured",
                param="provider",
            )
        return self.build(account, provider), account.owner

    async def of(
        self, conn: Connection, *, tenant_id: str, livemode: bool, provider: str, owner: str
    ) -> Provider | None:
        """The provider client for an existing object; None when its account is gone."""
        if provider == "simulator":
            return Simulator()
        account = (
            await self.tenant(conn, tenant_id=tenant_id, livemode=livemode, provider=provider)
            if owner == "tenant"
            else self.platform(provider)
        )
        return self.build(account, provider) if account is not None else None


PROVIDERS_KEY = "providers"


@asynccontextmanager
async def provider_source(state: AppState) -> AsyncIterator[None]:
    """The lifespan hook: one HTTP pool for every provider call of the process."""
    settings = state.settings
    assert isinstance(settings, PaymentsSettings)
    async with aiohttp.ClientSession() as http:
        state.extras[PROVIDERS_KEY] = ProviderSource(settings, http)
        yield


def providers_of(state: AppState) -> ProviderSource:
    source = state.extras[PROVIDERS_KEY]
    assert isinstance(source, ProviderSource)
    return source
